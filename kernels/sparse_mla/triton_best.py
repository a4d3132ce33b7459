"""Sparse MLA forward in Triton, best track: the closest Triton comes to FlashMLA's schedule.

Track: best (README: two tracks). What FlashMLA's sparse prefill (and TileLang's
kernels/sparse_mla/tilelang_best.py) do that Triton 3.6 cannot express on Hopper, and what
`dslbench inspect --op sparse_mla` shows it costs:
- warp specialization: no producer warpgroup gathering the top-k rows while two consumer
  warpgroups compute (Triton's automatic warp specialization is Blackwell-only): all 8 warps
  issue the gathers themselves, as cp.async software-pipelined num_stages deep, and meet at
  CTA-wide barriers (BAR.SYNC) where TileLang's roles wait on mbarriers;
- per-warpgroup register budgets (setmaxnreg): every thread gets the same share, the 254-255
  registers the 64 x 512 fp32 output and the scores need;
- a TMA gather (Blackwell's tensor-descriptor gather): the rows come through cp.async;
- choosing which warpgroup computes what. Written plainly (as the matched track is), Triton
  lays a score MMA that feeds another MMA out with all 8 warps along the 64 heads, so both
  warpgroups compute the whole 64 x block_N tile (72 HGMMA a key block instead of 36) and
  the kernel spills. Here each score MMA sits in an `if` region of its own (conditions that
  always hold): Triton's layout choice no longer sees the chain, splits the tile between
  the two warpgroups (block_N / 2 keys each), and hands P to the P.V MMA through a layout
  conversion in shared memory, the FlashMLA hand-off done by the compiler; the softmax
  statistics are reductions across the two warpgroups. 36 HGMMA a key block, no spills.
- Decode (fewer programs than SMs): each query's top-k slots are cut into splits
  (spec.topk_split); each program writes its normalized partial output and log-sum-exp to
  the workspace and sparse_mla_combine_kernel merges them, as the TileLang kernel does.

Unused slots (-1, or >= Skv) gather a real row (the index clamped into range) whose score is
-inf, so its weight is 0; scores are kept in base 2 (scale * log2(e) folded in once).

SASS on sm_90a: cp.async, HGMMA 64x256, no spills, 1 kernel. Not: TMA load, warp specialization,
setmaxnreg.
"""
import triton
import triton.language as tl

from kernels.sparse_mla.spec import (BLOCK_H, CONFIGS, D_ROPE, D_V, decode_workspace, default_scale,  # noqa: F401  (shared)
                                    topk_split)

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x * log2(e))
LN2 = tl.constexpr(0.6931471805599453)  # ln(2): the base-2 log-sum-exp back to natural log
# Floor of the max an exponent is taken against: keeps exp2(-inf - m) a clean 0 (never
# exp2(NaN)) while no slot so far is valid and the running max is still -inf.
M_FLOOR = tl.constexpr(-1e30)
COMBINE_COLUMNS = 128  # output columns a combine program sums (64 heads x 128: 64 fp32 registers a thread)


@triton.jit
def sparse_mla_kernel(
    # pointers to q (B, Sq, H, 576), kv (B, Skv, 576), indices (B, Sq, topk), and the outputs:
    # o (B, Sq, H, 512) and lse (B, Sq, H), or a split's partials o_part (B, Sq, S, H, 512) and
    # lse_part (B, Sq, S, H), both fp32, addressed with the same strides below
    q_ptr, kv_ptr, idx_ptr, o_ptr, lse_ptr,
    # problem size: any H, Skv, topk >= 1; each program reads CHUNK slots from split * CHUNK
    H, Skv, TOPK, HEAD_TILES,
    # softmax scale times log2(e)
    qk_scale,
    # strides, in elements (o's and lse's of the split axis: 0 without splits)
    stride_qb, stride_qs, stride_qh, stride_qd, stride_kb, stride_ks, stride_kd,
    stride_ib, stride_is, stride_ik, stride_ob, stride_os, stride_osplit, stride_oh, stride_od,
    stride_lb, stride_ls, stride_lsplit, stride_lh,
    # tile sizes and the two parts of the 576 dims
    BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, DV: tl.constexpr, DR: tl.constexpr,
):
    """o[h] = sum_j p_hj kv[idx_j, :512] with p_hj = exp(s_hj - lse_h), s_hj = scale * q_h.kv[idx_j]
    over the valid slots j of this program's chunk (0 <= idx_j < Skv), lse_h = log sum_j
    exp(s_hj); no valid slot: o = 0, lse = -inf."""
    # Query and batch offsets in 64 bits: Sq*H*576 passes 2^31 at 32k tokens and 128 heads.
    i = tl.program_id(0).to(tl.int64)
    heads = (tl.program_id(1) % HEAD_TILES) * BLOCK_H + tl.arange(0, BLOCK_H)
    split = tl.program_id(1) // HEAD_TILES
    b = tl.program_id(2).to(tl.int64)
    offs_v = tl.arange(0, DV)
    offs_r = DV + tl.arange(0, DR)
    offs_n = tl.arange(0, BLOCK_N)
    q_rows = q_ptr + b * stride_qb + i * stride_qs + heads[:, None] * stride_qh
    q = tl.load(q_rows + offs_v[None, :] * stride_qd, mask=heads[:, None] < H, other=0.0)
    q_rope = tl.load(q_rows + offs_r[None, :] * stride_qd, mask=heads[:, None] < H, other=0.0)
    first = split * CHUNK
    end = tl.minimum(first + CHUNK, TOPK)
    idx_ptrs = idx_ptr + b * stride_ib + i * stride_is + offs_n * stride_ik
    kv_rows = kv_ptr + b * stride_kb

    m_i = tl.full((BLOCK_H,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_H,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_H, DV), dtype=tl.float32)
    for start in range(first, end, BLOCK_N):
        slots = start + offs_n
        idx = tl.load(idx_ptrs + start * stride_ik, mask=slots < end, other=-1)
        valid = (idx >= 0) & (idx < Skv)
        # Gathered rows, block_N x 576 in two parts, without a mask (cp.async): an unused slot
        # reads a real row, its index clamped into range, and gets the weight 0.
        row_ptrs = kv_rows + tl.minimum(tl.maximum(idx, 0), Skv - 1)[:, None] * stride_ks
        kv = tl.load(row_ptrs + offs_v[None, :] * stride_kd)
        k_rope = tl.load(row_ptrs + offs_r[None, :] * stride_kd)
        # Unused slots start at -inf, so the dots leave them -inf. Each score MMA in a region
        # of its own (both conditions always hold; distinct, or Triton merges the two ifs):
        # then Triton splits the tile between the warpgroups (module docstring).
        s = tl.broadcast_to(tl.where(valid, 0.0, float("-inf"))[None, :], (BLOCK_H, BLOCK_N))
        if start < end:
            s = tl.dot(q, tl.trans(kv), s)
        if start >= first:
            s = tl.dot(q_rope, tl.trans(k_rope), s)
        s = s * qk_scale
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_use = tl.maximum(m_new, M_FLOOR)
        alpha = tl.math.exp2(m_i - m_use)  # rescales what was summed under the old max
        p = tl.math.exp2(s - m_use[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = tl.dot(p.to(kv.dtype), kv, acc * alpha[:, None])
        m_i = m_new

    l_div = tl.where(l_i > 0, l_i, 1.0)  # a query with no valid slot: acc = 0, o = 0
    o_ptrs = (o_ptr + b * stride_ob + i * stride_os + split * stride_osplit + heads[:, None] * stride_oh
              + offs_v[None, :] * stride_od)
    tl.store(o_ptrs, (acc / l_div[:, None]).to(o_ptr.dtype.element_ty), mask=heads[:, None] < H)
    lse_ptrs = lse_ptr + b * stride_lb + i * stride_ls + split * stride_lsplit + heads * stride_lh
    tl.store(lse_ptrs, (m_i + tl.math.log2(l_i)) * LN2, mask=heads < H)


@triton.jit
def sparse_mla_combine_kernel(
    # the split partials (B, Sq, S, H, 512) and (B, Sq, S, H), fp32; o (B, Sq, H, 512), lse (B, Sq, H)
    o_part_ptr, lse_part_ptr, o_ptr, lse_ptr,
    H, SPLITS,
    stride_pb, stride_ps, stride_psplit, stride_ph, stride_pd, stride_qb, stride_qs, stride_qsplit, stride_qh,
    stride_ob, stride_os, stride_oh, stride_od, stride_lb, stride_ls, stride_lh,
    BLOCK_H: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr, DV: tl.constexpr,
):
    """o = sum_s exp(lse_s - lse) o_s, lse = log sum_s exp(lse_s); all splits empty: o = 0,
    lse = -inf. A program combines BLOCK_D of the DV output columns of BLOCK_H heads."""
    i = tl.program_id(0).to(tl.int64)
    heads = (tl.program_id(1) // (DV // BLOCK_D)) * BLOCK_H + tl.arange(0, BLOCK_H)
    columns = tl.program_id(1) % (DV // BLOCK_D)
    b = tl.program_id(2).to(tl.int64)
    offs_s = tl.arange(0, BLOCK_S)
    offs_v = columns * BLOCK_D + tl.arange(0, BLOCK_D)
    lse_rows = lse_part_ptr + b * stride_qb + i * stride_qs + heads[:, None] * stride_qh
    lse_s = tl.load(lse_rows + offs_s[None, :] * stride_qsplit, mask=(offs_s[None, :] < SPLITS) & (heads[:, None] < H),
                    other=float("-inf"))
    top = tl.maximum(tl.max(lse_s, 1), M_FLOOR)
    weight = tl.exp(lse_s - top[:, None])  # BLOCK_H x BLOCK_S, 0 for empty splits
    total = tl.sum(weight, 1)
    weight = weight / tl.where(total > 0, total, 1.0)[:, None]
    acc = tl.zeros((BLOCK_H, BLOCK_D), dtype=tl.float32)
    part_rows = o_part_ptr + b * stride_pb + i * stride_ps + heads[:, None] * stride_ph + offs_v[None, :] * stride_pd
    for s in range(0, SPLITS):
        w = tl.sum(tl.where(offs_s[None, :] == s, weight, 0.0), 1)  # this split's column
        acc += w[:, None] * tl.load(part_rows + s * stride_psplit, mask=heads[:, None] < H, other=0.0)
    o_ptrs = o_ptr + b * stride_ob + i * stride_os + heads[:, None] * stride_oh + offs_v[None, :] * stride_od
    tl.store(o_ptrs, acc.to(o_ptr.dtype.element_ty), mask=heads[:, None] < H)
    if columns == 0:  # one program of the heads writes their lse
        lse = tl.where(total > 0, top + tl.log(tl.where(total > 0, total, 1.0)), float("-inf"))
        tl.store(lse_ptr + b * stride_lb + i * stride_ls + heads * stride_lh, lse, mask=heads < H)


def workspace(shape, dtype, config, device):
    """Decode's split partials (spec.decode_workspace); none when a query is one split."""
    return decode_workspace(shape, dtype, config, device)


def sparse_mla(q, kv, indices, o, lse, block_N, num_stages, threads, o_partial=None, lse_partial=None, sm_scale=None):
    """o, lse = sparse MLA over `indices` into the preallocated o and lse, with one shared
    config; at decode (spec.topk_split > 1) through the partials o_partial, lse_partial
    (this module's workspace). sm_scale defaults to 1/sqrt(576)."""
    return launch(sparse_mla_kernel, sparse_mla_combine_kernel, q, kv, indices, o, lse, block_N, num_stages, threads,
                  o_partial, lse_partial, sm_scale)


def launch(kernel, combine_kernel, q, kv, indices, o, lse, block_N, num_stages, threads, o_partial=None,
           lse_partial=None, sm_scale=None):
    """The wrapper, with the @triton.jit kernels it launches given (kernels/dsa_step chains
    them under its own module's names for them)."""
    B, Sq, H, Dqk = q.shape
    Skv, topk = kv.shape[1], indices.shape[2]
    assert Dqk == D_V + D_ROPE and kv.shape == (B, Skv, Dqk), "q must be (B, Sq, H, 576), kv (B, Skv, 576)"
    assert indices.shape == (B, Sq, topk) and o.shape == (B, Sq, H, D_V), "shapes do not match"
    assert lse.shape == (B, Sq, H), "shapes do not match"
    assert q.dtype == kv.dtype == o.dtype, "q, kv and o must share one dtype"
    splits, chunk = topk_split(dict(B=B, Sq=Sq, H=H, topk=topk), block_N)
    assert (o_partial is None) == (splits == 1), "the workspace holds the partials of a split top-k"
    scale = (default_scale() if sm_scale is None else sm_scale) * LOG2E
    head_tiles = triton.cdiv(H, BLOCK_H)
    out, out_lse = (o, lse) if splits == 1 else (o_partial, lse_partial)
    o_strides = (o.stride(0), o.stride(1), 0, o.stride(2), o.stride(3)) if splits == 1 else o_partial.stride()
    l_strides = (lse.stride(0), lse.stride(1), 0, lse.stride(2)) if splits == 1 else lse_partial.stride()
    grid = (Sq, head_tiles * splits, B)  # queries along x: no 65535 limit
    kernel[grid](
        q, kv, indices, out, out_lse, H, Skv, topk, head_tiles, scale,
        *q.stride(), *kv.stride(), *indices.stride(), *o_strides, *l_strides,
        BLOCK_H=BLOCK_H, BLOCK_N=block_N, CHUNK=chunk, DV=D_V, DR=D_ROPE,
        num_warps=threads // 32, num_stages=num_stages,
    )
    if splits > 1:
        combine_kernel[(Sq, head_tiles * (D_V // COMBINE_COLUMNS), B)](
            o_partial, lse_partial, o, lse, H, splits,
            *o_partial.stride(), *lse_partial.stride(), *o.stride(), *lse.stride(),
            BLOCK_H=BLOCK_H, BLOCK_S=triton.next_power_of_2(splits), BLOCK_D=COMBINE_COLUMNS, DV=D_V, num_warps=4,
        )
    return o, lse
