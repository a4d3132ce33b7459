"""Attention backward in Triton, matched track: FlashAttention-2's backward, the same code path as kernels/attention_bwd/tilelang_matched.py.

Techniques: three kernels, as FlashAttention-2 runs them. A preprocess writes
delta_i = do_i · o_i (fp32) for block_M rows of one (batch, query head). The dK/dV kernel
gives each program one block_N key tile of one (batch, kv head): its K and V tiles stay on
chip while it walks the G query heads of that kv head and their block_M query tiles,
recomputing p = exp2(scale · log2(e) · q·k - lse · log2(e)) from the forward's lse (one exp2 a
score, 0 where masked or where lse = +inf), and accumulates dv += pᵀ·do and dk += dsᵀ·q in
fp32, ds = p ∘ (do·vᵀ - delta). The grouped-query sum over the G heads is done inside the
program, so dk and dv are written once: no atomics, no second pass. A separate dQ kernel
gives each program one block_M query tile of one (batch, query head) and walks the key tiles,
dq += ds·k. p and ds are rounded to the input dtype before their products (as
FlashAttention-2 does); every accumulator is fp32. Causal tiles that no row can see are never
visited: the dK/dV loop starts at the query tile of the first row that sees the key tile
(j - (Skv - Sq)), the dQ loop stops at the last key the tile's last row sees. Triton pipelines
the plain masked loads num_stages deep (cp.async on Hopper, no TMA, no warp specialization).
Sizes as TileLang takes them: the shape is part of the kernel (Sq, Skv, Hq, G and D are
constexprs). The head dim is padded to the next power of two (spec.padded_head_dim) inside the
kernel: masked loads, masked stores.

SASS on sm_90a: 3 kernels, cp.async, HGMMA, no spills. Not: TMA load, warp specialization.
"""
import triton
import triton.language as tl

from kernels import dtypes
from kernels.attention_bwd.spec import CONFIGS, check_arguments, fit, padded_head_dim, default_scale, workspace  # noqa: F401

DTYPE_NAME = {t: name for name, t in dtypes.TORCH.items()}  # torch dtype -> the spec's name

LOG2E = tl.constexpr(1.4426950408889634)  # log2(e): exp(x) = exp2(x · log2(e))


@triton.jit
def attention_bwd_preprocess_kernel(
    # pointers to o and do (B, Hq, Sq, D), delta (B, Hq, Sq)
    o_ptr, do_ptr, delta_ptr,
    stride_ob: tl.constexpr, stride_oh: tl.constexpr, stride_os: tl.constexpr, stride_od: tl.constexpr,
    stride_dob: tl.constexpr, stride_doh: tl.constexpr, stride_dos: tl.constexpr, stride_dod: tl.constexpr,
    stride_db: tl.constexpr, stride_dh: tl.constexpr, stride_ds: tl.constexpr,
    Hq: tl.constexpr, Sq: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    """delta_i = Σ_d do_i[d] · o_i[d] in fp32: Σ_j p_ij dp_ij without the p row."""
    start_m = tl.program_id(0)
    b = tl.program_id(1) // Hq
    h = tl.program_id(1) % Hq
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    mask = (offs_m[:, None] < Sq) & (offs_d[None, :] < D)
    o = tl.load(o_ptr + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_os + offs_d[None, :] * stride_od,
                mask=mask, other=0.0)
    do = tl.load(do_ptr + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dos + offs_d[None, :] * stride_dod,
                 mask=mask, other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    tl.store(delta_ptr + b * stride_db + h * stride_dh + offs_m * stride_ds, delta, mask=offs_m < Sq)


@triton.jit
def attention_bwd_kernel(
    # pointers to q, do (B, Hq, Sq, D); k, v, dk, dv (B, Hkv, Skv, D); lse, delta (B, Hq, Sq)
    q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr,
    # the softmax scale
    sm_scale,
    # strides, in elements (dk and dv share k's, lse and delta theirs)
    stride_qb: tl.constexpr, stride_qh: tl.constexpr, stride_qs: tl.constexpr, stride_qd: tl.constexpr,
    stride_kb: tl.constexpr, stride_kh: tl.constexpr, stride_ks: tl.constexpr, stride_kd: tl.constexpr,
    stride_vb: tl.constexpr, stride_vh: tl.constexpr, stride_vs: tl.constexpr, stride_vd: tl.constexpr,
    stride_dob: tl.constexpr, stride_doh: tl.constexpr, stride_dos: tl.constexpr, stride_dod: tl.constexpr,
    stride_lb: tl.constexpr, stride_lh: tl.constexpr, stride_ls: tl.constexpr,
    stride_db: tl.constexpr, stride_dh: tl.constexpr, stride_ds: tl.constexpr,
    stride_dkb: tl.constexpr, stride_dkh: tl.constexpr, stride_dks: tl.constexpr, stride_dkd: tl.constexpr,
    stride_dvb: tl.constexpr, stride_dvh: tl.constexpr, stride_dvs: tl.constexpr, stride_dvd: tl.constexpr,
    # the shape (Hq = GROUP · Hkv; any Sq, Skv >= 1; D <= HEAD_DIM, its padded size), tiles, mask
    Hq: tl.constexpr, Sq: tl.constexpr, Skv: tl.constexpr, GROUP: tl.constexpr, D: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr,
):
    """dv_j = Σ_i p_ij do_i and dk_j = scale · Σ_i ds_ij q_i for one key tile, i over the query
    rows of all GROUP query heads of this kv head. Computed transposed (a key per row), so p
    and ds come out as the left operands of their products."""
    qk_scale = sm_scale * LOG2E  # scores in base 2: one exp2 each
    start_n = tl.program_id(0) * BLOCK_N
    b = tl.program_id(1) // (Hq // GROUP)
    hkv = tl.program_id(1) % (Hq // GROUP)
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    in_d = offs_d < D

    # The key tile's K and V, held for the whole walk. Keys past Skv load zeros; their rows of
    # dk and dv are never stored, so they need no mask below.
    kv_mask = (offs_n[:, None] < Skv) & in_d[None, :]
    k = tl.load(k_ptr + b * stride_kb + hkv * stride_kh + offs_n[:, None] * stride_ks + offs_d[None, :] * stride_kd,
                mask=kv_mask, other=0.0)
    v = tl.load(v_ptr + b * stride_vb + hkv * stride_vh + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd,
                mask=kv_mask, other=0.0)
    dk = tl.zeros((BLOCK_N, HEAD_DIM), dtype=tl.float32)
    dv = tl.zeros((BLOCK_N, HEAD_DIM), dtype=tl.float32)

    # Causal: key j is first seen by query j - (Skv - Sq); start at that row's query tile.
    lo = 0
    if CAUSAL:
        lo = tl.maximum(0, start_n - (Skv - Sq)) // BLOCK_M * BLOCK_M
    for g in range(GROUP):
        h = hkv * GROUP + g
        q_ptrs = q_ptr + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd
        do_ptrs = do_ptr + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dos + offs_d[None, :] * stride_dod
        lse_row = lse_ptr + b * stride_lb + h * stride_lh
        delta_row = delta_ptr + b * stride_db + h * stride_dh
        for start_m in range(lo, Sq, BLOCK_M):
            rows = start_m + offs_m
            in_m = rows < Sq
            q = tl.load(q_ptrs + start_m * stride_qs, mask=in_m[:, None] & in_d[None, :], other=0.0)
            # Rows past Sq, and rows that see no key, have lse = +inf: their p is exp2(-inf) = 0.
            lse = tl.load(lse_row + rows * stride_ls, mask=in_m, other=float("inf"))
            do = tl.load(do_ptrs + start_m * stride_dos, mask=in_m[:, None] & in_d[None, :], other=0.0)
            # dsᵀ_ji = pᵀ_ji (v_j·do_i - delta_i): the product starts from -delta
            delta = tl.load(delta_row + rows * stride_ds, mask=in_m, other=0.0)
            dpT = tl.dot(v, tl.trans(do), tl.broadcast_to(-delta[None, :], (BLOCK_N, BLOCK_M)))
            # pᵀ_ji = exp2(qk_scale · (k_j·q_i - lse_i / scale)): the product starts from
            # -lse / scale, or -inf where the mask hides key j from query i (then pᵀ = 0).
            start = tl.broadcast_to(-lse[None, :] / sm_scale, (BLOCK_N, BLOCK_M))
            if CAUSAL:
                start = tl.where(offs_n[:, None] <= rows[None, :] + (Skv - Sq), start, float("-inf"))
            pT = tl.math.exp2(tl.dot(k, tl.trans(q), start) * qk_scale)
            dv += tl.dot(pT.to(do.dtype), do)
            dsT = pT * dpT
            dk += tl.dot(dsT.to(q.dtype), q)

    out_mask = (offs_n[:, None] < Skv) & in_d[None, :]
    tl.store(dk_ptr + b * stride_dkb + hkv * stride_dkh + offs_n[:, None] * stride_dks + offs_d[None, :] * stride_dkd,
             (dk * sm_scale).to(dk_ptr.dtype.element_ty), mask=out_mask)
    tl.store(dv_ptr + b * stride_dvb + hkv * stride_dvh + offs_n[:, None] * stride_dvs + offs_d[None, :] * stride_dvd,
             dv.to(dv_ptr.dtype.element_ty), mask=out_mask)


@triton.jit
def attention_bwd_dq_kernel(
    # pointers to q, do, dq (B, Hq, Sq, D); k, v (B, Hkv, Skv, D); lse, delta (B, Hq, Sq)
    q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr,
    sm_scale,
    stride_qb: tl.constexpr, stride_qh: tl.constexpr, stride_qs: tl.constexpr, stride_qd: tl.constexpr,
    stride_kb: tl.constexpr, stride_kh: tl.constexpr, stride_ks: tl.constexpr, stride_kd: tl.constexpr,
    stride_vb: tl.constexpr, stride_vh: tl.constexpr, stride_vs: tl.constexpr, stride_vd: tl.constexpr,
    stride_dob: tl.constexpr, stride_doh: tl.constexpr, stride_dos: tl.constexpr, stride_dod: tl.constexpr,
    stride_lb: tl.constexpr, stride_lh: tl.constexpr, stride_ls: tl.constexpr,
    stride_db: tl.constexpr, stride_dh: tl.constexpr, stride_ds: tl.constexpr,
    stride_dqb: tl.constexpr, stride_dqh: tl.constexpr, stride_dqs: tl.constexpr, stride_dqd: tl.constexpr,
    Hq: tl.constexpr, Sq: tl.constexpr, Skv: tl.constexpr, GROUP: tl.constexpr, D: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr,
):
    """dq_i = scale · Σ_j ds_ij k_j for one query tile of one (batch, query head), j over the
    keys of its kv head (h // GROUP). A row that sees no key gets dq = 0."""
    qk_scale = sm_scale * LOG2E  # scores in base 2: one exp2 each
    start_m = tl.program_id(0)
    b = tl.program_id(1) // Hq
    h = tl.program_id(1) % Hq
    hkv = h // GROUP
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    in_d = offs_d < D
    in_m = offs_m < Sq

    q = tl.load(q_ptr + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd,
                mask=in_m[:, None] & in_d[None, :], other=0.0)
    do = tl.load(do_ptr + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dos + offs_d[None, :] * stride_dod,
                 mask=in_m[:, None] & in_d[None, :], other=0.0)
    lse = tl.load(lse_ptr + b * stride_lb + h * stride_lh + offs_m * stride_ls, mask=in_m, other=float("inf"))
    delta = tl.load(delta_ptr + b * stride_db + h * stride_dh + offs_m * stride_ds, mask=in_m, other=0.0)
    lse2 = lse * LOG2E  # +inf for a row that sees no key (and rows past Sq): its p is 0
    dq = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)

    k_ptrs = k_ptr + b * stride_kb + hkv * stride_kh + offs_n[:, None] * stride_ks + offs_d[None, :] * stride_kd
    v_ptrs = v_ptr + b * stride_vb + hkv * stride_vh + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd
    # Causal: the tile's last row sees keys up to (start_m + 1) · BLOCK_M - 1 + Skv - Sq.
    hi = Skv
    if CAUSAL:
        hi = tl.minimum(Skv, (start_m + 1) * BLOCK_M + Skv - Sq)
    for start_n in range(0, hi, BLOCK_N):
        keys = start_n + offs_n
        kv_mask = (keys[:, None] < Skv) & in_d[None, :]
        k = tl.load(k_ptrs + start_n * stride_ks, mask=kv_mask, other=0.0)
        v = tl.load(v_ptrs + start_n * stride_vs, mask=kv_mask, other=0.0)
        keep = keys[None, :] < Skv
        if CAUSAL:
            keep = keep & (keys[None, :] <= offs_m[:, None] + (Skv - Sq))
        p = tl.math.exp2(tl.dot(q, tl.trans(k)) * qk_scale - lse2[:, None])
        p = tl.where(keep, p, 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k)

    tl.store(dq_ptr + b * stride_dqb + h * stride_dqh + offs_m[:, None] * stride_dqs + offs_d[None, :] * stride_dqd,
             (dq * sm_scale).to(dq_ptr.dtype.element_ty), mask=in_m[:, None] & in_d[None, :])


def attention_bwd(q, k, v, o, lse, do, dq, dk, dv, delta, causal, block_M, block_N, num_stages, threads,
                  sm_scale=None):
    """dq, dk, dv of attention(q, k, v) for the upstream gradient do, given the forward's o and
    lse, into the preallocated dq, dk, dv; delta (B, Hq, Sq) fp32 is the preprocess's scratch.
    One shared config (shrunk by spec.fit for a head dim whose tiles would not fit) for all
    three kernels. sm_scale defaults to 1/sqrt(D)."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    check_arguments(q, k, v, o, lse, do, dq, dk, dv, delta)
    scale = default_scale(D) if sm_scale is None else sm_scale
    c = fit(dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads), DTYPE_NAME[q.dtype], D)
    BLOCK_M, BLOCK_N, HEAD_DIM = c["block_M"], c["block_N"], padded_head_dim(D)
    launch = dict(num_warps=c["threads"] // 32, num_stages=c["num_stages"])
    shape = dict(Hq=Hq, Sq=Sq, Skv=Skv, GROUP=Hq // Hkv, D=D)

    attention_bwd_preprocess_kernel[(triton.cdiv(Sq, BLOCK_M), B * Hq)](
        o, do, delta, *o.stride(), *do.stride(), *delta.stride(),
        Hq=Hq, Sq=Sq, D=D, BLOCK_M=BLOCK_M, HEAD_DIM=HEAD_DIM, **launch,
    )
    attention_bwd_kernel[(triton.cdiv(Skv, BLOCK_N), B * Hkv)](
        q, k, v, do, lse, delta, dk, dv, scale,
        *q.stride(), *k.stride(), *v.stride(), *do.stride(), *lse.stride(), *delta.stride(),
        *dk.stride(), *dv.stride(),
        **shape, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, HEAD_DIM=HEAD_DIM, CAUSAL=bool(causal), **launch,
    )
    attention_bwd_dq_kernel[(triton.cdiv(Sq, BLOCK_M), B * Hq)](
        q, k, v, do, lse, delta, dq, scale,
        *q.stride(), *k.stride(), *v.stride(), *do.stride(), *lse.stride(), *delta.stride(), *dq.stride(),
        **shape, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, HEAD_DIM=HEAD_DIM, CAUSAL=bool(causal), **launch,
    )
    return dq, dk, dv
