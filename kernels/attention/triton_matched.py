"""Attention forward in Triton, matched track: FlashAttention-2, the same code path as
kernels/attention/tilelang_matched.py.

Techniques: each program owns block_M query rows of one (batch, query head), keeps them on
chip and walks the keys of that head's kv head (h // G) in block_N steps; Triton pipelines
the plain masked loads num_stages deep (cp.async on Hopper, no TMA, no warp specialization),
with a running row max m, row sum l and output accumulator in fp32. Scores are kept in base 2
(scale · log2(e) folded in once) so each exponential is one exp2 (approximate, as TileLang's
fast math). Causal tiles that lie wholly above the diagonal are never visited: the key loop
stops at the last key the block's last row may see. The O tile leaves through shared memory
(Triton's coalescing layout conversion; TileLang stages it explicitly).
Sizes as TileLang takes them: the shape is part of the kernel (Sq, Skv, Hq, G and D are
constexprs, so each shape compiles once, as TileLang specializes). The head dim is padded to
the next power of two (spec.padded_head_dim) inside the kernel: masked loads, masked stores.

SASS on sm_90a: cp.async, HGMMA 64x64, no spills. Not: TMA load, warp specialization.
"""
import triton
import triton.language as tl

from kernels import dtypes
from kernels.attention.spec import CONFIGS, default_scale, fit, padded_head_dim  # noqa: F401  (the config list both DSLs share)

DTYPE_NAME = {t: name for name, t in dtypes.TORCH.items()}  # torch dtype -> the spec's name

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = tl.constexpr(0.6931471805599453)  # ln(2): the base-2 log-sum-exp back to natural log


@triton.jit
def attention_kernel(
    # pointers to q (B, Hq, Sq, D), k and v (B, Hkv, Skv, D), o (B, Hq, Sq, D), lse (B, Hq, Sq)
    q_ptr, k_ptr, v_ptr, o_ptr, lse_ptr,
    # softmax scale times log2(e)
    qk_scale,
    # strides, in elements
    stride_qb, stride_qh, stride_qs, stride_qd,
    stride_kb, stride_kh, stride_ks, stride_kd,
    stride_vb, stride_vh, stride_vs, stride_vd,
    stride_ob, stride_oh, stride_os, stride_od,
    stride_lb, stride_lh, stride_ls,
    # the shape (Hq = GROUP · Hkv; any Sq, Skv >= 1; D <= HEAD_DIM, its padded size), tiles, mask
    Hq: tl.constexpr, Sq: tl.constexpr, Skv: tl.constexpr, GROUP: tl.constexpr, D: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr,
):
    """o[i] = Σ_j p_ij v_j with p_ij = exp(s_ij - lse_i), s_ij = scale · q_i·k_j (j visible to i),
    lse_i = log Σ_j exp(s_ij); visible: j < Skv and, if CAUSAL, j <= i + Skv - Sq. A row that
    sees no key gets o = 0, lse = +inf."""
    start_m = tl.program_id(0)
    b = tl.program_id(1) // Hq
    h = tl.program_id(1) % Hq
    hkv = h // GROUP
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    in_d = offs_d < D
    q_ptrs = q_ptr + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd
    kt_ptrs = k_ptr + b * stride_kb + hkv * stride_kh + offs_n[None, :] * stride_ks + offs_d[:, None] * stride_kd
    v_ptrs = v_ptr + b * stride_vb + hkv * stride_vh + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd

    # Rows past Sq and columns past D load zeros; neither is stored.
    q = tl.load(q_ptrs, mask=(offs_m[:, None] < Sq) & in_d[None, :], other=0.0)
    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)

    # Causal: the block's last row sees keys up to (start_m + 1) · BLOCK_M - 1 + Skv - Sq.
    hi = Skv
    if CAUSAL:
        hi = tl.minimum(Skv, (start_m + 1) * BLOCK_M + Skv - Sq)
    for start_n in range(0, hi, BLOCK_N):
        keys = start_n + offs_n
        kt = tl.load(kt_ptrs + start_n * stride_ks, mask=(keys[None, :] < Skv) & in_d[:, None], other=0.0)
        # Masked scores start at -inf, so the dot leaves them -inf and exp2 makes them 0.
        keep = keys[None, :] < Skv
        if CAUSAL:
            keep = keep & (keys[None, :] <= offs_m[:, None] + (Skv - Sq))
        masked = tl.broadcast_to(tl.where(keep, 0.0, float("-inf")), (BLOCK_M, BLOCK_N))
        s = tl.dot(q, kt, masked) * qk_scale
        m_new = tl.maximum(m_i, tl.max(s, 1))
        # A row that has seen no key yet (causal, Sq > Skv) keeps m = -inf: subtract 0 instead,
        # so its weights are exp2(-inf) = 0, not exp2(-inf + inf) = NaN (flash-attention's Check_inf).
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.math.exp2(m_i - m_use)  # rescales what was summed under the old max
        p = tl.math.exp2(s - m_use[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptrs + start_n * stride_vs, mask=(keys[:, None] < Skv) & in_d[None, :], other=0.0)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
        m_i = m_new

    # A row that saw no key has l = 0: o = 0 and lse = +inf, as flash-attention 2 writes.
    seen = l_i > 0.0
    o = acc * tl.where(seen, 1.0 / l_i, 0.0)[:, None]
    o_ptrs = o_ptr + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_os + offs_d[None, :] * stride_od
    tl.store(o_ptrs, o.to(o_ptr.dtype.element_ty), mask=(offs_m[:, None] < Sq) & in_d[None, :])
    lse_ptrs = lse_ptr + b * stride_lb + h * stride_lh + offs_m * stride_ls
    tl.store(lse_ptrs, tl.where(seen, (m_i + tl.math.log2(l_i)) * LN2, float("inf")), mask=offs_m < Sq)


def attention(q, k, v, o, lse, causal, block_M, block_N, num_stages, threads, sm_scale=None):
    """o, lse = attention(q, k, v) into the preallocated o and lse, with one shared config
    (shrunk by spec.fit for a head dim whose tiles would not fit). sm_scale defaults to 1/sqrt(D)."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    assert k.shape == v.shape == (B, Hkv, Skv, D) and Hq % Hkv == 0, "k, v must be (B, Hkv, Skv, D), Hkv | Hq"
    assert o.shape == q.shape and lse.shape == (B, Hq, Sq), "o must be (B, Hq, Sq, D), lse (B, Hq, Sq)"
    assert q.dtype == k.dtype == v.dtype == o.dtype, "q, k, v and o must share one dtype"
    scale = default_scale(D) if sm_scale is None else sm_scale
    c = fit(dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads), DTYPE_NAME[q.dtype], D)
    grid = (triton.cdiv(Sq, c["block_M"]), B * Hq)
    attention_kernel[grid](
        q, k, v, o, lse, scale * LOG2E,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(), *lse.stride(),
        Hq=Hq, Sq=Sq, Skv=Skv, GROUP=Hq // Hkv, D=D,
        BLOCK_M=c["block_M"], BLOCK_N=c["block_N"], HEAD_DIM=padded_head_dim(D), CAUSAL=bool(causal),
        num_warps=c["threads"] // 32, num_stages=c["num_stages"],
    )
    return o, lse
