"""Sparse MLA forward in Triton: FlashAttention-style online softmax over gathered key blocks.

Track: matched (README: two tracks): the same source-level algorithm and code path as
kernels/sparse_mla/tilelang_matched.py: cp.async gathers software-pipelined num_stages deep,
256 threads (two warpgroups), no warp specialization, the same sizes handling. Each program
owns one query and a tile of BLOCK_H = 64 heads (the MMA's M dimension; fewer heads load as
zeros and are not stored):
q stays on chip while the query's topk indices are walked block_N at a time through a
num_stages-deep pipeline. Each step loads block_N indices, gathers those kv rows (576 wide)
with asynchronous copies, scores them against the 512 latent and the 64 rotary dims (two
dots into one accumulator), updates the running max m, sum l and fp32 output accumulator,
and multiplies P by the same gathered rows' first 512 dims: in MLA the keys are the values.
Scores are kept in base 2 (scale · log2(e) folded in once) so each exponential is one exp2.

What each DSL makes of it on Hopper (`dslbench inspect --op sparse_mla`, sm_90a): Triton gives
both warpgroups the whole 64 x block_N score tile (a dot that feeds another dot gets all 8
warps along its 64 rows), so that P feeds the P·V MMA from registers while each warpgroup
accumulates half of the 512 output columns: per key block each warpgroup runs 72 HGMMA of
64 x block_N/2 for the scores (the tile twice over the two warpgroups) and block_N/16 of
64x256 for P·V; 255 registers and 48-188 bytes of spills under Triton 3.9 (210-255 registers,
no spills, under 3.6).
TileLang splits the score tile between the warpgroups (36 HGMMA of 64 x block_N/2 each) and
passes P through shared memory; its T.Pipelined loop appears in three copies (prologue,
body, epilogue: 108 static HGMMA), 255 registers, 0-8 bytes of spills. The same instruction
shapes in both; the replicated score MMA is Triton's code generation, not the algorithm
(the best track, kernels/sparse_mla/triton_best.py, avoids it).

SASS on sm_90a: cp.async, HGMMA 64x256. Not: TMA load, warp specialization, no spills.
"""
import triton
import triton.language as tl

from kernels.sparse_mla.spec import BLOCK_H, CONFIGS, D_ROPE, D_V, default_scale  # noqa: F401  (CONFIGS: shared)

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = tl.constexpr(0.6931471805599453)  # ln(2): the base-2 log-sum-exp back to natural log
# Floor of the max an exponent is taken against: keeps exp2(-inf - m) a clean 0 (never
# exp2(NaN)) while no slot so far is valid and the running max is still -inf.
M_FLOOR = tl.constexpr(-1e30)


@triton.jit
def sparse_mla_kernel(
    # pointers to q (B, Sq, H, 576), kv (B, Skv, 576), indices (B, Sq, topk), o (B, Sq, H, 512), lse (B, Sq, H)
    q_ptr, kv_ptr, idx_ptr, o_ptr, lse_ptr,
    # problem size: any H, Skv, topk >= 1
    H, Skv, TOPK,
    # softmax scale times log2(e)
    qk_scale,
    # strides, in elements
    stride_qb, stride_qs, stride_qh, stride_qd, stride_kb, stride_ks, stride_kd,
    stride_ib, stride_is, stride_ik, stride_ob, stride_os, stride_oh, stride_od,
    stride_lb, stride_ls, stride_lh,
    # tile sizes and the two parts of the 576 dims
    BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr, DV: tl.constexpr, DR: tl.constexpr,
):
    """o[h] = Σ_j p_hj kv[idx_j, :512] with p_hj = exp(s_hj - lse_h), s_hj = scale · q_h·kv[idx_j]
    over the valid slots j (0 <= idx_j < Skv), lse_h = log Σ_j exp(s_hj); no valid slot:
    o = 0, lse = -inf."""
    # Query and batch offsets in 64 bits: Sq·H·576 passes 2^31 at 32k tokens and 128 heads.
    i = tl.program_id(0).to(tl.int64)
    heads = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    b = tl.program_id(2).to(tl.int64)
    offs_v = tl.arange(0, DV)
    offs_r = DV + tl.arange(0, DR)
    offs_n = tl.arange(0, BLOCK_N)
    q_rows = q_ptr + b * stride_qb + i * stride_qs + heads[:, None] * stride_qh
    q = tl.load(q_rows + offs_v[None, :] * stride_qd, mask=heads[:, None] < H, other=0.0)
    q_rope = tl.load(q_rows + offs_r[None, :] * stride_qd, mask=heads[:, None] < H, other=0.0)
    idx_ptrs = idx_ptr + b * stride_ib + i * stride_is + offs_n * stride_ik
    kv_rows = kv_ptr + b * stride_kb

    m_i = tl.full((BLOCK_H,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_H,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_H, DV), dtype=tl.float32)
    for start in range(0, TOPK, BLOCK_N):
        slots = start + offs_n
        idx = tl.load(idx_ptrs + start * stride_ik, mask=slots < TOPK, other=-1)
        valid = (idx >= 0) & (idx < Skv)
        # Gathered rows, block_N x 576 in two parts. An unused slot reads a real row (its index
        # clamped into range) whose weight will be 0: a load without a mask, which both DSLs
        # turn into asynchronous copies (cp.async) that the pipeline overlaps with the math.
        row_ptrs = kv_rows + tl.minimum(tl.maximum(idx, 0), Skv - 1)[:, None] * stride_ks
        kv = tl.load(row_ptrs + offs_v[None, :] * stride_kd)
        k_rope = tl.load(row_ptrs + offs_r[None, :] * stride_kd)
        # Unused slots start at -inf, so the dots leave them -inf and exp2 makes them 0.
        masked = tl.broadcast_to(tl.where(valid, 0.0, float("-inf"))[None, :], (BLOCK_H, BLOCK_N))
        s = tl.dot(q_rope, tl.trans(k_rope), tl.dot(q, tl.trans(kv), masked)) * qk_scale
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_use = tl.maximum(m_new, M_FLOOR)
        alpha = tl.math.exp2(m_i - m_use)  # rescales what was summed under the old max
        p = tl.math.exp2(s - m_use[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = tl.dot(p.to(kv.dtype), kv, acc * alpha[:, None])
        m_i = m_new

    l_div = tl.where(l_i > 0, l_i, 1.0)  # a query with no valid slot: acc = 0, o = 0
    o_ptrs = o_ptr + b * stride_ob + i * stride_os + heads[:, None] * stride_oh + offs_v[None, :] * stride_od
    tl.store(o_ptrs, (acc / l_div[:, None]).to(o_ptr.dtype.element_ty), mask=heads[:, None] < H)
    lse_ptrs = lse_ptr + b * stride_lb + i * stride_ls + heads * stride_lh
    tl.store(lse_ptrs, (m_i + tl.math.log2(l_i)) * LN2, mask=heads < H)


def sparse_mla(q, kv, indices, o, lse, block_N, num_stages, threads, sm_scale=None):
    """o, lse = sparse MLA over `indices` into the preallocated o and lse, with one shared
    config. sm_scale defaults to 1/sqrt(576)."""
    return launch(sparse_mla_kernel, q, kv, indices, o, lse, block_N, num_stages, threads, sm_scale)


def launch(kernel, q, kv, indices, o, lse, block_N, num_stages, threads, sm_scale=None):
    """The wrapper, with the @triton.jit kernel it launches given (kernels/dsa_step chains it
    under its own module's name for it)."""
    B, Sq, H, Dqk = q.shape
    Skv, topk = kv.shape[1], indices.shape[2]
    assert Dqk == D_V + D_ROPE and kv.shape == (B, Skv, Dqk), "q must be (B, Sq, H, 576), kv (B, Skv, 576)"
    assert indices.shape == (B, Sq, topk) and o.shape == (B, Sq, H, D_V) and lse.shape == (B, Sq, H), "shapes do not match"
    assert q.dtype == kv.dtype == o.dtype, "q, kv and o must share one dtype"
    scale = default_scale() if sm_scale is None else sm_scale
    grid = (Sq, triton.cdiv(H, BLOCK_H), B)  # queries along x: no 65535 limit
    kernel[grid](
        q, kv, indices, o, lse, H, Skv, topk, scale * LOG2E,
        *q.stride(), *kv.stride(), *indices.stride(), *o.stride(), *lse.stride(),
        BLOCK_H=BLOCK_H, BLOCK_N=block_N, DV=D_V, DR=D_ROPE,
        num_warps=threads // 32, num_stages=num_stages,
    )
    return o, lse
