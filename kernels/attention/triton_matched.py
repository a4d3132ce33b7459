"""Attention forward in Triton, FlashAttention-2 style: tiles over keys, online softmax.

The same algorithm as kernels/attention/tilelang_matched.py. Each program owns block_M query rows
of one (batch, query head): it keeps them in registers and walks the keys of that head's
kv head (h // G) in block_N steps through a num_stages-deep pipeline, holding a running
row max m, row sum l and output accumulator in fp32. Scores are kept in base 2
(scale · log2(e) folded in once) so each exponential is one exp2.
Causal tiles that lie wholly above the diagonal are never visited: the key loop stops at
the last key the block's last row may see. Plain masked loads, so any Sq, Skv >= 1 work.
"""
import triton
import triton.language as tl

from kernels.attention.spec import CONFIGS, default_scale  # noqa: F401  (the config list both DSLs share)

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = tl.constexpr(0.6931471805599453)  # ln(2): the base-2 log-sum-exp back to natural log


@triton.jit
def attention_kernel(
    # pointers to q (B, Hq, Sq, D), k and v (B, Hkv, Skv, D), o (B, Hq, Sq, D), lse (B, Hq, Sq)
    q_ptr, k_ptr, v_ptr, o_ptr, lse_ptr,
    # problem size: Hq = GROUP · Hkv; any Sq, Skv >= 1
    Hq, Sq, Skv, GROUP,
    # softmax scale times log2(e)
    qk_scale,
    # strides, in elements
    stride_qb, stride_qh, stride_qs, stride_qd,
    stride_kb, stride_kh, stride_ks, stride_kd,
    stride_vb, stride_vh, stride_vs, stride_vd,
    stride_ob, stride_oh, stride_os, stride_od,
    stride_lb, stride_lh, stride_ls,
    # tile sizes and the mask
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr,
):
    """o[i] = Σ_j p_ij v_j with p_ij = exp(s_ij - lse_i), s_ij = scale · q_i·k_j (j visible to i),
    lse_i = log Σ_j exp(s_ij); visible: j < Skv and, if CAUSAL, j <= i + Skv - Sq."""
    start_m = tl.program_id(0)
    b = tl.program_id(1) // Hq
    h = tl.program_id(1) % Hq
    hkv = h // GROUP
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    q_ptrs = q_ptr + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd
    kt_ptrs = k_ptr + b * stride_kb + hkv * stride_kh + offs_n[None, :] * stride_ks + offs_d[:, None] * stride_kd
    v_ptrs = v_ptr + b * stride_vb + hkv * stride_vh + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd

    # Rows past Sq load zeros and are never stored.
    q = tl.load(q_ptrs, mask=offs_m[:, None] < Sq, other=0.0)
    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)

    # Causal: the block's last row sees keys up to (start_m + 1) · BLOCK_M - 1 + Skv - Sq.
    hi = Skv
    if CAUSAL:
        hi = tl.minimum(Skv, (start_m + 1) * BLOCK_M + Skv - Sq)
    for start_n in range(0, hi, BLOCK_N):
        keys = start_n + offs_n
        kt = tl.load(kt_ptrs + start_n * stride_ks, mask=keys[None, :] < Skv, other=0.0)
        # Masked scores start at -inf, so the dot leaves them -inf and exp2 makes them 0.
        # Every row sees key 0 (validate() keeps Sq <= Skv when causal), so m_i turns
        # finite at the first tile and exp2(-inf - m) is never NaN.
        keep = keys[None, :] < Skv
        if CAUSAL:
            keep = keep & (keys[None, :] <= offs_m[:, None] + (Skv - Sq))
        masked = tl.broadcast_to(tl.where(keep, 0.0, float("-inf")), (BLOCK_M, BLOCK_N))
        s = tl.dot(q, kt, masked) * qk_scale
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.math.exp2(m_i - m_new)  # rescales what was summed under the old max
        p = tl.math.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptrs + start_n * stride_vs, mask=keys[:, None] < Skv, other=0.0)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
        m_i = m_new

    o_ptrs = o_ptr + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_os + offs_d[None, :] * stride_od
    tl.store(o_ptrs, (acc / l_i[:, None]).to(o_ptr.dtype.element_ty), mask=offs_m[:, None] < Sq)
    lse_ptrs = lse_ptr + b * stride_lb + h * stride_lh + offs_m * stride_ls
    tl.store(lse_ptrs, (m_i + tl.math.log2(l_i)) * LN2, mask=offs_m < Sq)


def attention(q, k, v, o, lse, causal, block_M, block_N, num_stages, threads, sm_scale=None):
    """o, lse = attention(q, k, v) into the preallocated o and lse, with one shared config.
    sm_scale defaults to 1/sqrt(D)."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    assert k.shape == v.shape == (B, Hkv, Skv, D) and Hq % Hkv == 0, "k, v must be (B, Hkv, Skv, D), Hkv | Hq"
    assert o.shape == q.shape and lse.shape == (B, Hq, Sq), "o must be (B, Hq, Sq, D), lse (B, Hq, Sq)"
    assert q.dtype == k.dtype == v.dtype == o.dtype, "q, k, v and o must share one dtype"
    scale = default_scale(D) if sm_scale is None else sm_scale
    grid = (triton.cdiv(Sq, block_M), B * Hq)
    attention_kernel[grid](
        q, k, v, o, lse, Hq, Sq, Skv, Hq // Hkv, scale * LOG2E,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(), *lse.stride(),
        BLOCK_M=block_M, BLOCK_N=block_N, HEAD_DIM=D, CAUSAL=bool(causal),
        num_warps=threads // 32, num_stages=num_stages,
    )
    return o, lse
