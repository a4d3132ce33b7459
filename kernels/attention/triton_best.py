"""Attention forward in Triton, best track: written as Triton's own best attention kernel
(its tutorial 06-fused-attention on Hopper) is, plus flash-decoding for decode steps.

Techniques:
- TMA: q, k, v and o go through device-side tensor descriptors (tl.make_tensor_descriptor),
  one per (batch, head), over that head's (S, D) rows as they lie in memory, so the hardware
  zero-fills ragged rows and padded head-dim columns; O is staged in shared memory and leaves
  by a TMA store clipped at Sq and D. (Device-side descriptors, as the tutorial uses on Hopper
  with warp specialization, whose partitioner resizes their blocks.) A layout TMA cannot take
  (a stride that is not a multiple of 16 bytes: D = 59, 111, ... in 16-bit) falls back to
  masked pointer loads and stores in the same kernel (TMA=False).
- Softmax in base 2 with the scale folded in: p = exp2(s · scale·log2(e) - m), one FMA and
  one exp2 per score; the row max is taken on the raw scores and scaled once per row.
- Causal stage split, as the tutorial's STAGE 1 / STAGE 2: the key tiles every row of the
  block sees run without a mask; only the tiles on the diagonal (and a ragged last tile) are
  masked; tiles above the diagonal are never visited.
- Warp specialization (tl.range(warp_specialize=True)): Triton's Hopper partitioner splits the
  key loop into a TMA producer warpgroup and two 64-row consumer warpgroups (384 threads,
  registers rebalanced with setmaxnreg) whose softmax and MMAs interleave. Triton 3.6 and 3.9
  apply it only to a kernel whose key loop is its one loop: the non-causal prefill with Skv a
  multiple of block_N (the tutorial's Hopper case); the causal two-stage kernel and the decode
  kernel fail to partition (PassManager error) and run software-pipelined without it
  (launch_options).
- Decode steps (spec.shape_class: Sq <= 8): flash-decoding. The G query heads of one kv head
  and their Sq queries are packed into the rows of one tile (K and V are read once per kv
  head), the keys are split into spec.decode_splits chunks, each program writes a partial
  output and its base-2 lse into the harness's workspace, and a combine kernel merges them.
Head dims: padded to the next power of two (spec.padded_head_dim); the tiles shrink for the
largest ones (spec.fit). Sizes are run-time arguments (one compile serves every shape with
the same head dim and flags), as Triton's kernels take them.

SASS on sm_90a: TMA load, TMA store, warp specialization, setmaxnreg, HGMMA 64x64, no spills.

SASS on sm_90a at decode: 2 kernels, TMA load, no spills. Not: warp specialization.
"""
import torch
import triton
import triton.language as tl

from kernels import descriptor_scratch, dtypes
from kernels.attention import spec
from kernels.attention.spec import CONFIGS, default_scale  # noqa: F401  (the config list both DSLs share)


LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = tl.constexpr(0.6931471805599453)  # ln(2): the base-2 log-sum-exp back to natural log
DTYPE_NAME = {t: name for name, t in dtypes.TORCH.items()}  # torch dtype -> the spec's name
WARP_SPECIALIZE = True  # Triton's automatic warp specialization where it applies (launch_options)


# finding: findings/triton_hopper_ws_host_descriptor_128_rows.py
@triton.jit
def head_source(base, S, stride_s, stride_d, D: tl.constexpr, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr,
                TMA: tl.constexpr):
    """What tiles of one head's (S, D) rows are read from: a device-side TMA descriptor over
    them ((ROWS, HEAD_DIM) blocks; the hardware zero-fills past S and D and clips stores), or
    the base pointer itself."""
    if TMA:
        return tl.make_tensor_descriptor(base, [S, D], [stride_s, 1], [ROWS, HEAD_DIM])
    else:
        return base


@triton.jit
def load_tile(src, stride_s, stride_d, s0, S, D: tl.constexpr, ROWS: tl.constexpr, HEAD_DIM: tl.constexpr,
              TMA: tl.constexpr):
    """Rows s0 .. s0 + ROWS of one head, (ROWS, HEAD_DIM), zeros past S and past D: one TMA
    load of its descriptor, or a masked pointer load."""
    if TMA:
        return src.load([s0, 0])
    else:
        rows = s0 + tl.arange(0, ROWS)
        cols = tl.arange(0, HEAD_DIM)
        ptrs = src + rows[:, None].to(tl.int64) * stride_s + cols[None, :] * stride_d
        return tl.load(ptrs, mask=(rows[:, None] < S) & (cols[None, :] < D), other=0.0)


@triton.jit
def attend(acc, l_i, m_i, q, q_pos, k_src, v_src, stride_ks, stride_kd, stride_vs, stride_vd,
           lo, hi, Skv, causal_offset, qk_scale,
           D: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr,
           MASK: tl.constexpr, TMA: tl.constexpr, WARP_SPEC: tl.constexpr):
    """Online softmax over the keys lo .. hi of one kv head (k_src, v_src: head_source), a
    multiple of BLOCK_N apart except the last tile when MASK. q_pos: each row's query index.
    MASK: apply the mask (key < Skv and, if CAUSAL, key <= q_pos + causal_offset); the
    unmasked stage has none. The running max m_i is in scaled base-2 units:
    p = exp2(s · qk_scale - m), one FMA per score."""
    offs_n = tl.arange(0, BLOCK_N)
    for start_n in tl.range(lo, hi, BLOCK_N, warp_specialize=WARP_SPEC):
        k_tile = load_tile(k_src, stride_ks, stride_kd, start_n, Skv, D, BLOCK_N, HEAD_DIM, TMA)
        s = tl.dot(q, k_tile.T)
        if MASK:
            keys = start_n + offs_n
            keep = keys[None, :] < Skv
            if CAUSAL:
                keep = keep & (keys[None, :] <= q_pos[:, None] + causal_offset)
            s = tl.where(keep, s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1) * qk_scale)
            # A row that has seen no key yet (causal, Sq > Skv) keeps m = -inf: subtract 0, so its
            # weights are exp2(-inf) = 0 rather than NaN (flash-attention's Check_inf).
            m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
        else:
            m_new = tl.maximum(m_i, tl.max(s, 1) * qk_scale)
            m_use = m_new
        p = tl.math.exp2(s * qk_scale - m_use[:, None])
        alpha = tl.math.exp2(m_i - m_use)  # rescales what was summed under the old max
        acc = acc * alpha[:, None]
        v_tile = load_tile(v_src, stride_vs, stride_vd, start_n, Skv, D, BLOCK_N, HEAD_DIM, TMA)
        acc = tl.dot(p.to(v_tile.dtype), v_tile, acc)
        l_i = l_i * alpha + tl.sum(p, 1)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def attention_kernel(
    # q (B, Hq, Sq, D), k and v (B, Hkv, Skv, D), o (B, Hq, Sq, D), lse (B, Hq, Sq)
    q_ptr, k_ptr, v_ptr, o_ptr, lse_ptr,
    qk_scale,  # softmax scale times log2(e), > 0
    stride_qb, stride_qh, stride_qs, stride_qd,
    stride_kb, stride_kh, stride_ks, stride_kd,
    stride_vb, stride_vh, stride_vs, stride_vd,
    stride_ob, stride_oh, stride_os, stride_od,
    stride_lb, stride_lh, stride_ls,
    Hq, Sq, Skv, GROUP,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
    CAUSAL: tl.constexpr, MASKED: tl.constexpr, TMA: tl.constexpr, WARP_SPEC: tl.constexpr,
):
    """o[i] = Σ_j p_ij v_j with p_ij = exp(s_ij - lse_i), s_ij = scale · q_i·k_j (j visible to i),
    lse_i = log Σ_j exp(s_ij); visible: j < Skv and, if CAUSAL, j <= i + Skv - Sq. A row that
    sees no key gets o = 0, lse = +inf."""
    start_m = tl.program_id(0)
    b = tl.program_id(1) // Hq
    h = tl.program_id(1) % Hq
    hkv = h // GROUP
    q_src = head_source(q_ptr + b.to(tl.int64) * stride_qb + h.to(tl.int64) * stride_qh, Sq, stride_qs, stride_qd,
                        D, BLOCK_M, HEAD_DIM, TMA)
    k_src = head_source(k_ptr + b.to(tl.int64) * stride_kb + hkv.to(tl.int64) * stride_kh, Skv, stride_ks, stride_kd,
                        D, BLOCK_N, HEAD_DIM, TMA)
    v_src = head_source(v_ptr + b.to(tl.int64) * stride_vb + hkv.to(tl.int64) * stride_vh, Skv, stride_vs, stride_vd,
                        D, BLOCK_N, HEAD_DIM, TMA)
    m0 = start_m * BLOCK_M
    offs_m = m0 + tl.arange(0, BLOCK_M)
    q_tile = load_tile(q_src, stride_qs, stride_qd, m0, Sq, D, BLOCK_M, HEAD_DIM, TMA)
    m_i = tl.full((BLOCK_M,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)

    # Stage 1, no mask: whole key tiles that the block's first row (hence every row) sees.
    # Stage 2, masked: the rest up to the last key its last row sees (the diagonal tiles and
    # a ragged last tile). Tiles above the diagonal are never loaded.
    causal_offset = Skv - Sq
    whole = Skv // BLOCK_N * BLOCK_N
    if CAUSAL:
        first_row_sees = tl.maximum(0, m0 + causal_offset + 1)
        unmasked = tl.minimum(whole, first_row_sees // BLOCK_N * BLOCK_N)
        hi = tl.minimum(Skv, m0 + BLOCK_M + causal_offset)
    else:
        unmasked = whole
        hi = Skv
    acc, l_i, m_i = attend(acc, l_i, m_i, q_tile, offs_m, k_src, v_src, stride_ks, stride_kd, stride_vs, stride_vd,
                           0, unmasked, Skv, causal_offset, qk_scale,
                           D, BLOCK_N, HEAD_DIM, CAUSAL, False, TMA, WARP_SPEC)
    if MASKED:  # causal, or a ragged last key tile
        acc, l_i, m_i = attend(acc, l_i, m_i, q_tile, offs_m, k_src, v_src, stride_ks, stride_kd, stride_vs,
                               stride_vd, unmasked, hi, Skv, causal_offset, qk_scale,
                               D, BLOCK_N, HEAD_DIM, CAUSAL, True, TMA, False)

    # A row that saw no key has l = 0: o = 0 and lse = +inf, as flash-attention 2 writes.
    seen = l_i > 0.0
    out = (acc * tl.where(seen, 1.0 / l_i, 0.0)[:, None]).to(q_tile.dtype)
    o_base = o_ptr + b.to(tl.int64) * stride_ob + h.to(tl.int64) * stride_oh
    if TMA:  # staged in shared memory, one TMA store, clipped at Sq and D by the descriptor
        o_desc = head_source(o_base, Sq, stride_os, stride_od, D, BLOCK_M, HEAD_DIM, TMA)
        o_desc.store([m0, 0], out)
    else:
        offs_d = tl.arange(0, HEAD_DIM)
        o_ptrs = o_base + offs_m[:, None].to(tl.int64) * stride_os + offs_d[None, :] * stride_od
        tl.store(o_ptrs, out, mask=(offs_m[:, None] < Sq) & (offs_d[None, :] < D))
    lse_ptrs = lse_ptr + b.to(tl.int64) * stride_lb + h * stride_lh + offs_m * stride_ls
    tl.store(lse_ptrs, tl.where(seen, (m_i + tl.math.log2(l_i)) * LN2, float("inf")), mask=offs_m < Sq)


@triton.jit
def attention_decode_kernel(
    # q (B, Hq, Sq, D), k and v (B, Hkv, Skv, D); the partials o_part (B, Hkv, splits, G·Sq, D)
    # and lse_part (B, Hkv, splits, G·Sq), fp32
    q_ptr, k_ptr, v_ptr, o_part_ptr, lse_part_ptr,
    qk_scale,
    stride_qb, stride_qh, stride_qs, stride_qd,
    stride_kb, stride_kh, stride_ks, stride_kd,
    stride_vb, stride_vh, stride_vs, stride_vd,
    stride_pb, stride_ph, stride_ps, stride_pr, stride_pd,
    stride_lb, stride_lh, stride_ls, stride_lr,
    Hkv, Sq, Skv, GROUP, chunk,
    D: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr,
    CAUSAL: tl.constexpr, MASKED: tl.constexpr, TMA: tl.constexpr, WARP_SPEC: tl.constexpr,
):
    """Split `split` of a decode step for BLOCK_R packed rows r = g·Sq + i of kv head hkv
    (query head hkv·G + g, query i): the online softmax over keys split·chunk .. +chunk,
    written normalized (o_part = Σ p v / Σ p) with lse_part = log2 Σ exp2(scaled scores);
    a row that sees none of these keys gets o_part = 0, lse_part = -inf."""
    split = tl.program_id(0)
    rows = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
    b = tl.program_id(2) // Hkv
    hkv = tl.program_id(2) % Hkv
    in_rows = rows < GROUP * Sq
    q_pos = rows % Sq  # each row's query index; its query head is hkv·G + rows // Sq
    offs_d = tl.arange(0, HEAD_DIM)
    q_ptrs = (q_ptr + b.to(tl.int64) * stride_qb + (hkv * GROUP + rows // Sq)[:, None].to(tl.int64) * stride_qh
              + q_pos[:, None] * stride_qs + offs_d[None, :] * stride_qd)
    q_tile = tl.load(q_ptrs, mask=in_rows[:, None] & (offs_d[None, :] < D), other=0.0)
    k_src = head_source(k_ptr + b.to(tl.int64) * stride_kb + hkv.to(tl.int64) * stride_kh, Skv, stride_ks, stride_kd,
                        D, BLOCK_N, HEAD_DIM, TMA)
    v_src = head_source(v_ptr + b.to(tl.int64) * stride_vb + hkv.to(tl.int64) * stride_vh, Skv, stride_vs, stride_vd,
                        D, BLOCK_N, HEAD_DIM, TMA)
    m_i = tl.full((BLOCK_R,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_R,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_R, HEAD_DIM), dtype=tl.float32)

    lo = split * chunk
    hi = tl.minimum(Skv, lo + chunk)
    causal_offset = Skv - Sq
    # Unmasked: whole tiles of keys every row sees (causal: keys <= Skv - Sq, query 0's last).
    seen_by_all = hi
    if CAUSAL:
        seen_by_all = tl.minimum(hi, causal_offset + 1)
    unmasked = lo + tl.maximum(0, seen_by_all - lo) // BLOCK_N * BLOCK_N
    acc, l_i, m_i = attend(acc, l_i, m_i, q_tile, q_pos, k_src, v_src, stride_ks, stride_kd, stride_vs, stride_vd,
                           lo, unmasked, Skv, causal_offset, qk_scale,
                           D, BLOCK_N, HEAD_DIM, CAUSAL, False, TMA, WARP_SPEC)
    if MASKED:  # causal, or a ragged last key tile
        acc, l_i, m_i = attend(acc, l_i, m_i, q_tile, q_pos, k_src, v_src, stride_ks, stride_kd, stride_vs,
                               stride_vd, unmasked, hi, Skv, causal_offset, qk_scale,
                               D, BLOCK_N, HEAD_DIM, CAUSAL, True, TMA, False)

    seen = l_i > 0.0
    part = acc * tl.where(seen, 1.0 / l_i, 0.0)[:, None]
    base = b.to(tl.int64) * stride_pb + hkv * stride_ph + split * stride_ps
    tl.store(o_part_ptr + base + rows[:, None] * stride_pr + offs_d[None, :] * stride_pd, part,
             mask=in_rows[:, None] & (offs_d[None, :] < D))
    lse_base = b.to(tl.int64) * stride_lb + hkv * stride_lh + split * stride_ls
    tl.store(lse_part_ptr + lse_base + rows * stride_lr, tl.where(seen, m_i + tl.math.log2(l_i), float("-inf")),
             mask=in_rows)


@triton.jit
def attention_combine_kernel(
    o_part_ptr, lse_part_ptr, o_ptr, lse_ptr,
    stride_pb, stride_ph, stride_ps, stride_pr, stride_pd,
    stride_lb, stride_lh, stride_ls, stride_lr,
    stride_ob, stride_oh, stride_os, stride_od,
    stride_b, stride_h, stride_s,
    Hq, Sq, GROUP, SPLITS,
    D: tl.constexpr, HEAD_DIM: tl.constexpr, SPLITS_POW2: tl.constexpr,
):
    """One output row (b, h, i) from its splits: lse = log2 Σ_s exp2(lse_s) (base 2), then
    o = Σ_s exp2(lse_s - lse) · o_s and the natural-log lse; a row no split saw gets o = 0
    and lse = +inf, as flash-attention 2's combine writes."""
    row = tl.program_id(0)
    b = row // (Hq * Sq)
    h = row // Sq % Hq
    i = row % Sq
    hkv = h // GROUP
    r = (h % GROUP) * Sq + i
    lse_row = lse_part_ptr + b.to(tl.int64) * stride_lb + hkv * stride_lh + r * stride_lr
    splits = tl.arange(0, SPLITS_POW2)
    lse_s = tl.load(lse_row + splits * stride_ls, mask=splits < SPLITS, other=float("-inf"))
    top = tl.max(lse_s, 0)
    top = tl.where(top == float("-inf"), 0.0, top)  # no split saw a key: every weight is 0
    total = tl.sum(tl.math.exp2(lse_s - top), 0)
    lse2 = top + tl.math.log2(total)
    offs_d = tl.arange(0, HEAD_DIM)
    o_row = o_part_ptr + b.to(tl.int64) * stride_pb + hkv * stride_ph + r * stride_pr + offs_d * stride_pd
    acc = tl.zeros((HEAD_DIM,), dtype=tl.float32)
    for s in range(0, SPLITS):
        weight = tl.math.exp2(tl.load(lse_row + s * stride_ls) - lse2)
        acc += weight * tl.load(o_row + s * stride_ps, mask=offs_d < D, other=0.0)
    out_ptrs = o_ptr + b.to(tl.int64) * stride_ob + h * stride_oh + i * stride_os + offs_d * stride_od
    tl.store(out_ptrs, acc.to(o_ptr.dtype.element_ty), mask=offs_d < D)
    tl.store(lse_ptr + b.to(tl.int64) * stride_b + h * stride_h + i * stride_s,
             tl.where(total > 0.0, lse2 * LN2, float("inf")))


def tma_ready(t):
    """Can a TMA descriptor cover t's heads: innermost stride 1, the other strides and the base
    16-byte aligned (a 16-bit D = 59 row is not)."""
    size = t.element_size()
    return t.stride(-1) == 1 and t.data_ptr() % 16 == 0 and all(s * size % 16 == 0 for s in t.stride()[:-1])


# finding: findings/triton_hopper_ws_ignored_8_warps.py
def launch_options(c, tma, single_loop, element_size):
    """The constexprs and launch options that choose the code path. Warp specialization when
    the loads go by TMA and the key loop is the kernel's only loop and only load site besides
    q's (single_loop: a prefill without a masked stage, i.e. not causal and Skv a multiple of
    block_N): Triton's Hopper partitioner (3.6 and 3.9) fails on a kernel with a second key
    loop or with pointer loads beside it (the decode's packed-row gather of q) and leaves a
    loop with a branch in it alone. It then takes num_warps = 4 and makes one 4-warp consumer
    group per 64 query rows (block_M / 64 = threads / 128 for every best-track config, spec
    checks threads = 2 · block_M) plus a producer warpgroup; otherwise threads / 32 warps
    compute and Triton software-pipelines the TMA loads num_stages deep. 16-bit inputs only:
    with fp32 (TF32) the partitioned kernel hits an assertion in Triton's WGMMA lowering."""
    ws = WARP_SPECIALIZE and tma and single_loop and element_size == 2
    return dict(TMA=tma, WARP_SPEC=ws, num_warps=4 if ws else c["threads"] // 32, num_stages=c["num_stages"])


def workspace(shape, dtype, config, device):
    """The split-KV partials of a decode step (spec.decode_workspace); none otherwise."""
    return spec.decode_workspace(shape, dtype, config, device)


def attention(q, k, v, o, lse, causal, block_M, block_N, num_stages, threads, sm_scale=None,
              o_partial=None, lse_partial=None):
    """o, lse = attention(q, k, v) into the preallocated o and lse, with one shared config.
    sm_scale (> 0) defaults to 1/sqrt(D). A decode step (spec.shape_class) runs split-KV
    into o_partial and lse_partial (the workspace) and combines them."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    assert k.shape == v.shape == (B, Hkv, Skv, D) and Hq % Hkv == 0, "k, v must be (B, Hkv, Skv, D), Hkv | Hq"
    assert o.shape == q.shape and lse.shape == (B, Hq, Sq), "o must be (B, Hq, Sq, D), lse (B, Hq, Sq)"
    assert q.dtype == k.dtype == v.dtype == o.dtype, "q, k, v and o must share one dtype"
    scale = default_scale(D) if sm_scale is None else sm_scale
    assert scale > 0, "the row max is taken before scaling: the scale must be positive"
    if q.is_cuda:
        triton.set_allocator(descriptor_scratch)
    config = dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads)
    shape = dict(B=B, Hq=Hq, Hkv=Hkv, Sq=Sq, Skv=Skv, D=D, causal=int(causal))
    if spec.shape_class(shape) == "decode":
        c = spec.decode_config(config, DTYPE_NAME[q.dtype], D)
        decode(q, k, v, o, lse, o_partial, lse_partial, bool(causal), scale, c)
    else:
        prefill(q, k, v, o, lse, bool(causal), scale, spec.fit(config, DTYPE_NAME[q.dtype], D))
    return o, lse


def prefill(q, k, v, o, lse, causal, scale, c):
    B, Hq, Sq, D = q.shape
    tma = all(tma_ready(t) for t in (q, k, v, o))
    masked = causal or k.shape[2] % c["block_N"] != 0  # a masked stage: the diagonal, a ragged last tile
    grid = (triton.cdiv(Sq, c["block_M"]), B * Hq)
    attention_kernel[grid](
        q, k, v, o, lse, scale * LOG2E,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(), *lse.stride(),
        Hq, Sq, k.shape[2], Hq // k.shape[1],
        D=D, BLOCK_M=c["block_M"], BLOCK_N=c["block_N"], HEAD_DIM=spec.padded_head_dim(D), CAUSAL=causal,
        MASKED=masked, **launch_options(c, tma, not masked, q.element_size()),
    )


def decode(q, k, v, o, lse, o_partial, lse_partial, causal, scale, c):
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    assert o_partial is not None and lse_partial is not None, "a decode step needs the workspace (spec.decode_workspace)"
    splits, rows = o_partial.shape[2], o_partial.shape[3]
    assert rows == Hq // Hkv * Sq and lse_partial.shape == o_partial.shape[:4], "workspace of another shape"
    head_dim = spec.padded_head_dim(D)
    tma = tma_ready(k) and tma_ready(v)
    grid = (splits, triton.cdiv(rows, spec.DECODE_ROWS), B * Hkv)
    attention_decode_kernel[grid](
        q, k, v, o_partial, lse_partial, scale * LOG2E,
        *q.stride(), *k.stride(), *v.stride(), *o_partial.stride(), *lse_partial.stride(),
        Hkv, Sq, Skv, Hq // Hkv, spec.decode_chunk(Skv, c["block_N"], splits),
        D=D, BLOCK_R=spec.DECODE_ROWS, BLOCK_N=c["block_N"], HEAD_DIM=head_dim, CAUSAL=causal,
        MASKED=causal or Skv % c["block_N"] != 0, **launch_options(c, tma, False, q.element_size()),
    )
    attention_combine_kernel[(B * Hq * Sq,)](
        o_partial, lse_partial, o, lse,
        *o_partial.stride(), *lse_partial.stride(), *o.stride(), *lse.stride(),
        Hq, Sq, Hq // Hkv, splits,
        D=D, HEAD_DIM=head_dim, SPLITS_POW2=triton.next_power_of_2(splits), num_warps=spec.COMBINE_THREADS // 32,
    )
