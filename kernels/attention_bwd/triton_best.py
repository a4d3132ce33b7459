"""Attention backward in Triton, best track: written as Triton's own best backward is (its
tutorial 06-fused-attention: _attn_bwd_preprocess, then one _attn_bwd launch).

Techniques:
- Two kernels, as the tutorial runs them: a preprocess writes delta_i = do_i · o_i (fp32),
  then one launch where program n owns key tile n (block_N keys) and query tile n (block_N
  queries) of one (batch, kv head). It first computes dK and dV of its key tile, holding K and
  V while it walks the block_M-row query tiles, then dQ of its query tile, holding Q and dO
  while it walks block_M-key tiles (the tutorial's BLOCK_M1/BLOCK_N1 and BLOCK_M2/BLOCK_N2:
  one config, roles swapped). Every output is written once: no atomics, no second dQ pass.
- Grouped-query heads: the program sums dK and dV over the G query heads of its kv head
  inside the program (dk, dv stay in registers), walking the G heads' query tiles as one flat
  loop of G · tiles steps (a loop over the heads around the walk kept more values live and
  spilled); it then computes dQ for its query tile of each of those G heads, so every program
  does G heads' work of each kind.
- p recomputed from the forward's lse in base 2: p = exp2(s · scale·log2(e) - lse·log2(e)),
  one FMA and one exp2 a score; lse = +inf (a row that sees no key, or a row past Sq) gives
  p = 0, hence dq = 0. p and ds are rounded to the input dtype before their products; dq, dk
  and dv accumulate in fp32 and are scaled once at the end.
- Causal stage split, as the tutorial's MASK=True / MASK=False calls: the query tiles (for
  dK/dV) or key tiles (for dQ) that cross the diagonal run masked; the rest run without a
  mask; tiles above the diagonal are never visited (the diagonal sits Skv - Sq keys right of
  the main one: the mask is aligned to the end of the keys). A ragged last key tile is masked
  in the dQ walk; ragged query rows need no mask (their lse is +inf).
- TMA: q, k, v, do go through device-side tensor descriptors (tl.make_tensor_descriptor) over
  the rows as they lie in memory: a 2-d (S, D) one per (batch, head) and tile shape, and a
  3-d (G, Sq, D) one over the group's query heads for the dK/dV walk; the hardware zero-fills
  ragged rows and padded head-dim columns. dk, dv and dq leave by TMA stores clipped at the
  sequence end and D. Triton software-pipelines the streamed tiles num_stages deep (the lse
  and delta rows beside them by cp.async). A layout TMA cannot take (a stride that is not a
  multiple of 16 bytes: D = 59, 111, ... in 16-bit) falls back to masked pointer loads and
  stores in the same kernels (TMA=False).
- Registers: dS is computed before pᵀ's product is issued (the fp32 dpᵀ dies first); spec.fit
  (best track) halves block_N while dk and dv would need more than 128 registers a thread: the
  4-warp config's 128 keys at head dim 128 would need 256 for them alone (side by side,
  bench/inspect/upstream.py, sm_90a, fp16, head dim 128: the tutorial's _attn_bwd spills 2,484
  bytes at its own 32x128 tiles and 80 at ours, 32x64; this kernel none).
Not done: warp specialization (checked on Triton 3.9, sm_90a, at the inspect shape):
tl.range(warp_specialize=True) on the dK/dV walk partitions a 4-warp kernel whose one loop
that walk is (a producer and two consumer warpgroups, 384 threads), but with the dQ walk's
loops beside it, or with the causal masked stage before it, Triton's NVGPUWarpSpecialization
pass fails (PassManager error), and at 8 warps the flag is ignored; so every walk runs
software-pipelined.
Head dims: padded to the next power of two (spec.padded_head_dim); the tiles shrink for the
largest ones (spec.fit, best track). Sizes are run-time arguments, as Triton's kernels take
them.

SASS on sm_90a: 2 kernels, TMA load, TMA store, cp.async, HGMMA 64x128, no spills. Not: warp specialization.
"""
import triton
import triton.language as tl

from kernels import descriptor_scratch, dtypes
from kernels.attention.triton_best import load_tile, tma_ready  # the forward's: a head's rows by TMA or pointers
from kernels.attention_bwd.spec import CONFIGS, check_arguments, fit, padded_head_dim, default_scale, workspace  # noqa: F401

DTYPE_NAME = {t: name for name, t in dtypes.TORCH.items()}  # torch dtype -> the spec's name
LOG2E = tl.constexpr(1.4426950408889634)  # log2(e): exp(x) = exp2(x · log2(e))
PRE_ROWS = 64  # rows of o and do per preprocess program


@triton.jit
def head_source(base, S, stride_s, D: tl.constexpr, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr, TMA: tl.constexpr):
    """What (ROWS, HEAD_DIM) tiles of one head's (S, D) rows are read from or written to: a
    device-side TMA descriptor (zero-fill past S and D on loads, clipped stores) or the base
    pointer itself."""
    if TMA:
        return tl.make_tensor_descriptor(base, [S, D], [stride_s, 1], [ROWS, HEAD_DIM])
    else:
        return base


@triton.jit
def store_tile(dst, stride_s, stride_d, s0, S, tile, D: tl.constexpr, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr,
               TMA: tl.constexpr):
    """Write a (ROWS, HEAD_DIM) tile to rows s0 .. s0 + ROWS of one head, clipped at S and D."""
    if TMA:
        dst.store([s0, 0], tile)
    else:
        rows = s0 + tl.arange(0, ROWS)
        cols = tl.arange(0, HEAD_DIM)
        ptrs = dst + rows[:, None].to(tl.int64) * stride_s + cols[None, :] * stride_d
        tl.store(ptrs, tile, mask=(rows[:, None] < S) & (cols[None, :] < D))


@triton.jit
def attention_bwd_preprocess_kernel(
    o_ptr, do_ptr, delta_ptr,  # o, do (B, Hq, Sq, D); delta (B, Hq, Sq) fp32
    stride_ob, stride_oh, stride_os, stride_od,
    stride_dob, stride_doh, stride_dos, stride_dod,
    stride_db, stride_dh, stride_ds,
    Hq, Sq,
    D: tl.constexpr, BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr,
):
    """delta_i = Σ_d do_i[d] · o_i[d] in fp32 (= Σ_j p_ij dp_ij), for BLOCK_M rows of one head."""
    b = tl.program_id(1) // Hq
    h = tl.program_id(1) % Hq
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, HEAD_DIM)
    mask = (rows[:, None] < Sq) & (cols[None, :] < D)
    o = tl.load(o_ptr + b.to(tl.int64) * stride_ob + h.to(tl.int64) * stride_oh + rows[:, None] * stride_os
                + cols[None, :] * stride_od, mask=mask, other=0.0)
    do = tl.load(do_ptr + b.to(tl.int64) * stride_dob + h.to(tl.int64) * stride_doh + rows[:, None] * stride_dos
                 + cols[None, :] * stride_dod, mask=mask, other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    tl.store(delta_ptr + b.to(tl.int64) * stride_db + h * stride_dh + rows * stride_ds, delta, mask=rows < Sq)


@triton.jit
def group_source(base, G, S, stride_h, stride_s, D: tl.constexpr, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr,
                 TMA: tl.constexpr):
    """What (ROWS, HEAD_DIM) tiles of G consecutive heads' (S, D) rows are read from: one 3-d
    TMA descriptor over (G, S, D) (zero-fill past S and D within each head), or the pointer."""
    if TMA:
        return tl.make_tensor_descriptor(base, [G, S, D], [stride_h, stride_s, 1], [1, ROWS, HEAD_DIM])
    else:
        return base


@triton.jit
def load_group_tile(src, g, stride_h, stride_s, stride_d, s0, S, D: tl.constexpr, ROWS: tl.constexpr,
                    HEAD_DIM: tl.constexpr, TMA: tl.constexpr):
    """Rows s0 .. s0 + ROWS of head g of a group_source, (ROWS, HEAD_DIM), zeros past S and D."""
    if TMA:
        return src.load([g, s0, 0]).reshape(ROWS, HEAD_DIM)
    else:
        return load_tile(src + g.to(tl.int64) * stride_h, stride_s, stride_d, s0, S, D, ROWS, HEAD_DIM, False)


@triton.jit
def bwd_dkdv(dk, dv, k, v, q_src, do_src, lse_base, delta_base, stride_qh, stride_qs, stride_qd,
             stride_doh, stride_dos, stride_dod, stride_lh, stride_ls, stride_dh, stride_ds,
             lo, steps, GROUP, n0, Sq, causal_offset, qk_scale,
             D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
             MASK: tl.constexpr, TMA: tl.constexpr):
    """dv += pᵀ·do and dk += dsᵀ·q for the key tile n0 .. n0 + BLOCK_N (k, v), over `steps`
    query tiles from row lo of each of the GROUP query heads (q_src, do_src: group_source), as
    one flat loop of GROUP · steps tiles. Computed transposed (a key a row), so pᵀ and dsᵀ are
    the left operands of their products. MASK: hide key j from query i unless
    j <= i + causal_offset. Rows past Sq load lse = +inf: their p is exp2(-inf) = 0, no row mask."""
    offs_n = n0 + tl.arange(0, BLOCK_N)
    for t in range(0, GROUP * steps):
        g = t // steps
        m0 = lo + (t % steps) * BLOCK_M
        rows = m0 + tl.arange(0, BLOCK_M)
        q = load_group_tile(q_src, g, stride_qh, stride_qs, stride_qd, m0, Sq, D, BLOCK_M, HEAD_DIM, TMA)
        lse2 = tl.load(lse_base + g * stride_lh + rows * stride_ls, mask=rows < Sq, other=float("inf")) * LOG2E
        pT = tl.math.exp2(tl.dot(k, tl.trans(q)) * qk_scale - lse2[None, :])
        if MASK:
            pT = tl.where(offs_n[:, None] <= rows[None, :] + causal_offset, pT, 0.0)
        do = load_group_tile(do_src, g, stride_doh, stride_dos, stride_dod, m0, Sq, D, BLOCK_M, HEAD_DIM, TMA)
        delta = tl.load(delta_base + g * stride_dh + rows * stride_ds, mask=rows < Sq, other=0.0)
        dpT = tl.dot(v, tl.trans(do))
        # dsᵀ before the dV product: the fp32 dpᵀ dies here, before pᵀ's product is issued
        dsT = (pT * (dpT - delta[None, :])).to(q.dtype)
        dv += tl.dot(pT.to(do.dtype), do)
        dk += tl.dot(dsT, q)
    return dk, dv


@triton.jit
def bwd_dq(dq, q, do, lse2, delta, k_src, v_src, stride_ks, stride_kd, stride_vs, stride_vd,
           lo, hi, m0, Skv, causal_offset, qk_scale,
           D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
           MASK: tl.constexpr, CAUSAL: tl.constexpr, TMA: tl.constexpr):
    """dq += ds·k over the key tiles lo .. hi (BLOCK_M keys each) of one kv head, for the
    query tile m0 .. m0 + BLOCK_N (q, do, lse2 = lse·log2(e), delta). MASK: keys past Skv and,
    if CAUSAL, key j hidden from query i unless j <= i + causal_offset."""
    rows = m0 + tl.arange(0, BLOCK_N)
    for n0 in range(lo, hi, BLOCK_M):
        k = load_tile(k_src, stride_ks, stride_kd, n0, Skv, D, BLOCK_M, HEAD_DIM, TMA)
        v = load_tile(v_src, stride_vs, stride_vd, n0, Skv, D, BLOCK_M, HEAD_DIM, TMA)
        p = tl.math.exp2(tl.dot(q, tl.trans(k)) * qk_scale - lse2[:, None])
        if MASK:
            keys = n0 + tl.arange(0, BLOCK_M)
            keep = keys[None, :] < Skv
            if CAUSAL:
                keep = keep & (keys[None, :] <= rows[:, None] + causal_offset)
            p = tl.where(keep, p, 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k)
    return dq


@triton.jit
def attention_bwd_kernel(
    # q, do, dq (B, Hq, Sq, D); k, v, dk, dv (B, Hkv, Skv, D); lse, delta (B, Hq, Sq) fp32
    q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr, dk_ptr, dv_ptr,
    sm_scale,
    stride_qb, stride_qh, stride_qs, stride_qd,
    stride_kb, stride_kh, stride_ks, stride_kd,
    stride_vb, stride_vh, stride_vs, stride_vd,
    stride_dob, stride_doh, stride_dos, stride_dod,
    stride_lb, stride_lh, stride_ls,
    stride_db, stride_dh, stride_ds,
    stride_dqb, stride_dqh, stride_dqs, stride_dqd,
    stride_dkb, stride_dkh, stride_dks, stride_dkd,
    stride_dvb, stride_dvh, stride_dvs, stride_dvd,
    Hkv, Sq, Skv, GROUP,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
    CAUSAL: tl.constexpr, TMA: tl.constexpr,
):
    """Program (n, b·Hkv + hkv): dk, dv of keys n·BLOCK_N .. +BLOCK_N of kv head hkv (summed over
    its GROUP query heads), then dq of queries n·BLOCK_N .. +BLOCK_N of each of those heads."""
    qk_scale = sm_scale * LOG2E  # scores in base 2: one FMA and one exp2 each
    pid = tl.program_id(0)
    b = tl.program_id(1) // Hkv
    hkv = tl.program_id(1) % Hkv
    causal_offset = Skv - Sq  # query i sees key j iff j <= i + causal_offset (causal)
    k_base = k_ptr + b.to(tl.int64) * stride_kb + hkv.to(tl.int64) * stride_kh
    v_base = v_ptr + b.to(tl.int64) * stride_vb + hkv.to(tl.int64) * stride_vh

    # ---- dK and dV of key tile n0 .. n0 + BLOCK_N: hold K and V, walk the query tiles ----
    n0 = pid * BLOCK_N
    if n0 < Skv:
        k = load_tile(head_source(k_base, Skv, stride_ks, D, BLOCK_N, HEAD_DIM, TMA), stride_ks, stride_kd,
                      n0, Skv, D, BLOCK_N, HEAD_DIM, TMA)
        v = load_tile(head_source(v_base, Skv, stride_vs, D, BLOCK_N, HEAD_DIM, TMA), stride_vs, stride_vd,
                      n0, Skv, D, BLOCK_N, HEAD_DIM, TMA)
        dk = tl.zeros((BLOCK_N, HEAD_DIM), dtype=tl.float32)
        dv = tl.zeros((BLOCK_N, HEAD_DIM), dtype=tl.float32)
        # Causal: query tiles before the one holding the first row that sees key n0 are skipped;
        # tiles from `mid` on hold only rows that see every key of the tile (no mask).
        lo = 0
        mid = 0
        if CAUSAL:
            lo = tl.minimum(Sq, tl.maximum(0, n0 - causal_offset)) // BLOCK_M * BLOCK_M
            mid = tl.maximum(lo, tl.cdiv(tl.maximum(0, n0 + BLOCK_N - 1 - causal_offset), BLOCK_M) * BLOCK_M)
            mid = tl.minimum(mid, tl.cdiv(Sq, BLOCK_M) * BLOCK_M)
        h0 = hkv * GROUP  # the group's first query head
        q_src = group_source(q_ptr + b.to(tl.int64) * stride_qb + h0.to(tl.int64) * stride_qh, GROUP, Sq,
                             stride_qh, stride_qs, D, BLOCK_M, HEAD_DIM, TMA)
        do_src = group_source(do_ptr + b.to(tl.int64) * stride_dob + h0.to(tl.int64) * stride_doh, GROUP, Sq,
                              stride_doh, stride_dos, D, BLOCK_M, HEAD_DIM, TMA)
        lse_base = lse_ptr + b.to(tl.int64) * stride_lb + h0.to(tl.int64) * stride_lh
        delta_base = delta_ptr + b.to(tl.int64) * stride_db + h0.to(tl.int64) * stride_dh
        if CAUSAL:  # the diagonal tiles, masked
            dk, dv = bwd_dkdv(dk, dv, k, v, q_src, do_src, lse_base, delta_base, stride_qh, stride_qs, stride_qd,
                              stride_doh, stride_dos, stride_dod, stride_lh, stride_ls, stride_dh, stride_ds,
                              lo, (mid - lo) // BLOCK_M, GROUP, n0, Sq, causal_offset, qk_scale,
                              D, BLOCK_M, BLOCK_N, HEAD_DIM, True, TMA)
        dk, dv = bwd_dkdv(dk, dv, k, v, q_src, do_src, lse_base, delta_base, stride_qh, stride_qs, stride_qd,
                          stride_doh, stride_dos, stride_dod, stride_lh, stride_ls, stride_dh, stride_ds,
                          mid, tl.cdiv(Sq - mid, BLOCK_M), GROUP, n0, Sq, causal_offset, qk_scale,
                          D, BLOCK_M, BLOCK_N, HEAD_DIM, False, TMA)
        dk_dst = head_source(dk_ptr + b.to(tl.int64) * stride_dkb + hkv.to(tl.int64) * stride_dkh, Skv, stride_dks,
                             D, BLOCK_N, HEAD_DIM, TMA)
        dv_dst = head_source(dv_ptr + b.to(tl.int64) * stride_dvb + hkv.to(tl.int64) * stride_dvh, Skv, stride_dvs,
                             D, BLOCK_N, HEAD_DIM, TMA)
        store_tile(dk_dst, stride_dks, stride_dkd, n0, Skv, (dk * sm_scale).to(k.dtype), D, BLOCK_N, HEAD_DIM, TMA)
        store_tile(dv_dst, stride_dvs, stride_dvd, n0, Skv, dv.to(v.dtype), D, BLOCK_N, HEAD_DIM, TMA)

    # ---- dQ of query tile m0 .. m0 + BLOCK_N of each query head: hold Q and dO, walk key tiles ----
    m0 = pid * BLOCK_N
    if m0 < Sq:
        k_src = head_source(k_base, Skv, stride_ks, D, BLOCK_M, HEAD_DIM, TMA)
        v_src = head_source(v_base, Skv, stride_vs, D, BLOCK_M, HEAD_DIM, TMA)
        # Stage 1, no mask: whole key tiles the tile's first row (hence every row) sees.
        # Stage 2, masked: the rest, up to the last key its last row sees (the diagonal tiles,
        # a ragged last key tile). Keys above the diagonal are never loaded.
        whole = Skv // BLOCK_M * BLOCK_M
        if CAUSAL:
            unmasked = tl.minimum(whole, tl.maximum(0, m0 + causal_offset + 1) // BLOCK_M * BLOCK_M)
            hi = tl.minimum(Skv, tl.maximum(0, m0 + BLOCK_N + causal_offset))
        else:
            unmasked = whole
            hi = Skv
        rows = m0 + tl.arange(0, BLOCK_N)
        for g in range(GROUP):
            h = hkv * GROUP + g
            q = load_tile(head_source(q_ptr + b.to(tl.int64) * stride_qb + h.to(tl.int64) * stride_qh, Sq,
                                      stride_qs, D, BLOCK_N, HEAD_DIM, TMA), stride_qs, stride_qd,
                          m0, Sq, D, BLOCK_N, HEAD_DIM, TMA)
            do = load_tile(head_source(do_ptr + b.to(tl.int64) * stride_dob + h.to(tl.int64) * stride_doh, Sq,
                                       stride_dos, D, BLOCK_N, HEAD_DIM, TMA), stride_dos, stride_dod,
                           m0, Sq, D, BLOCK_N, HEAD_DIM, TMA)
            # lse = +inf for a row that sees no key (and rows past Sq): p = 0, dq = 0
            lse2 = tl.load(lse_ptr + b.to(tl.int64) * stride_lb + h.to(tl.int64) * stride_lh + rows * stride_ls,
                           mask=rows < Sq, other=float("inf")) * LOG2E
            delta = tl.load(delta_ptr + b.to(tl.int64) * stride_db + h.to(tl.int64) * stride_dh + rows * stride_ds,
                            mask=rows < Sq, other=0.0)
            dq = tl.zeros((BLOCK_N, HEAD_DIM), dtype=tl.float32)
            dq = bwd_dq(dq, q, do, lse2, delta, k_src, v_src, stride_ks, stride_kd, stride_vs, stride_vd,
                        0, unmasked, m0, Skv, causal_offset, qk_scale,
                        D, BLOCK_M, BLOCK_N, HEAD_DIM, False, CAUSAL, TMA)
            dq = bwd_dq(dq, q, do, lse2, delta, k_src, v_src, stride_ks, stride_kd, stride_vs, stride_vd,
                        unmasked, hi, m0, Skv, causal_offset, qk_scale,
                        D, BLOCK_M, BLOCK_N, HEAD_DIM, True, CAUSAL, TMA)
            dq_dst = head_source(dq_ptr + b.to(tl.int64) * stride_dqb + h.to(tl.int64) * stride_dqh, Sq, stride_dqs,
                                 D, BLOCK_N, HEAD_DIM, TMA)
            store_tile(dq_dst, stride_dqs, stride_dqd, m0, Sq, (dq * sm_scale).to(q.dtype), D, BLOCK_N, HEAD_DIM, TMA)


def attention_bwd(q, k, v, o, lse, do, dq, dk, dv, delta, causal, block_M, block_N, num_stages, threads,
                  sm_scale=None):
    """dq, dk, dv of attention(q, k, v) for the upstream gradient do, given the forward's o and
    lse, into the preallocated dq, dk, dv; delta (B, Hq, Sq) fp32 is the preprocess's output.
    One config (shrunk by spec.fit, best track, for a head dim whose tiles would not fit);
    the dQ part takes it with the roles swapped. sm_scale defaults to 1/sqrt(D)."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    check_arguments(q, k, v, o, lse, do, dq, dk, dv, delta)
    scale = default_scale(D) if sm_scale is None else sm_scale
    if q.is_cuda:
        triton.set_allocator(descriptor_scratch)
    HEAD_DIM = padded_head_dim(D)
    c = fit(dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads), DTYPE_NAME[q.dtype], D,
            track="best")
    tma = all(tma_ready(t) for t in (q, k, v, do, dq, dk, dv))

    attention_bwd_preprocess_kernel[(triton.cdiv(Sq, PRE_ROWS), B * Hq)](
        o, do, delta, *o.stride(), *do.stride(), *delta.stride(), Hq, Sq,
        D=D, BLOCK_M=PRE_ROWS, HEAD_DIM=HEAD_DIM, num_warps=4,
    )
    attention_bwd_kernel[(triton.cdiv(max(Sq, Skv), c["block_N"]), B * Hkv)](
        q, k, v, do, lse, delta, dq, dk, dv, scale,
        *q.stride(), *k.stride(), *v.stride(), *do.stride(), *lse.stride(), *delta.stride(),
        *dq.stride(), *dk.stride(), *dv.stride(),
        Hkv, Sq, Skv, Hq // Hkv,
        D=D, BLOCK_M=c["block_M"], BLOCK_N=c["block_N"], HEAD_DIM=HEAD_DIM, CAUSAL=bool(causal), TMA=tma,
        num_warps=c["threads"] // 32, num_stages=c["num_stages"],
    )
    return dq, dk, dv
