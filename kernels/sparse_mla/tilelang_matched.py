"""Sparse MLA forward in TileLang: FlashAttention-style online softmax over gathered key blocks.

Track: matched (README: two tracks): the same source-level algorithm and code path as
kernels/sparse_mla/triton_matched.py (PASS_CONFIGS: cp.async, no TMA, no producer
warpgroup; 256 threads); what each DSL compiles it to is in that file's docstring. Each block
owns one query and a tile of BLOCK_H = 64 heads (the MMA's M dimension; T.copy zero-fills missing heads and clips the
stores): q stays in shared memory while the query's topk indices are walked block_N at a
time through a num_stages-deep pipeline (T.Pipelined). Each step reads block_N indices,
gathers those kv rows (576 wide, in the 512 latent and 64 rotary parts) into shared memory
with asynchronous copies, scores them with two gemms into one accumulator, updates the
running max m, sum l and fp32 output accumulator, and multiplies P by the same gathered
rows' first 512 dims: in MLA the keys are the values. Scores are kept in base 2 (scale ·
log2(e) folded in once) so each exponential is one exp2.

SASS on sm_90a: cp.async, HGMMA 64x256. Not: TMA load, no spills.
"""
import tilelang.language as T

from kernels.sparse_mla.spec import BLOCK_H, CONFIGS, D_QK, D_ROPE, D_V, default_scale  # noqa: F401  (CONFIGS: shared)

# The matched track's code path (README: two tracks): asynchronous copies (cp.async) issued by
# every thread, as Triton's pipeliner does, no TMA and no producer warpgroup; as DeepSeek's
# inference/kernel.py ships its TileLang kernels.
PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True}

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = 0.6931471805599453  # ln(2): converts the base-2 log-sum-exp back to natural log
# Floor of the max an exponent is taken against: keeps exp2(-inf - m) a clean 0 (never
# exp2(NaN)) while no slot so far is valid and the running max is still -inf.
M_FLOOR = -1e30


def sparse_mla_kernel(B, Sq, Skv, H, topk, dtype, block_N, num_stages, threads, sm_scale=None):
    """Return the prim_func (q, kv, indices) -> (o, lse) for one shape, dtype and config:
    o[h] = Σ_j p_hj kv[idx_j, :512] with p_hj = exp(s_hj - lse_h), s_hj = scale · q_h·kv[idx_j]
    over the valid slots j (0 <= idx_j < Skv), lse_h = log Σ_j exp(s_hj); no valid slot:
    o = 0, lse = -inf."""
    accum = "float32"
    qk_scale = (default_scale() if sm_scale is None else sm_scale) * LOG2E
    # Two warpgroups split the 64 x 512 output by columns (FullCol), so each holds only part
    # of a score row: P reaches the second gemm through shared memory.
    policy = T.GemmWarpPolicy.FullCol

    @T.prim_func
    def sparse_mla(
        Q: T.Tensor((B, Sq, H, D_QK), dtype),
        KV: T.Tensor((B, Skv, D_QK), dtype),
        Indices: T.Tensor((B, Sq, topk), "int32"),
        O: T.Tensor((B, Sq, H, D_V), dtype),
        LSE: T.Tensor((B, Sq, H), accum),
    ):
        with T.Kernel(Sq, T.ceildiv(H, BLOCK_H), B, threads=threads) as (bx, by, bz):
            Q_shared = T.alloc_shared((BLOCK_H, D_V), dtype)
            Q_rope_shared = T.alloc_shared((BLOCK_H, D_ROPE), dtype)
            KV_shared = T.alloc_shared((block_N, D_V), dtype)
            K_rope_shared = T.alloc_shared((block_N, D_ROPE), dtype)
            P_shared = T.alloc_shared((BLOCK_H, block_N), dtype)
            acc_s = T.alloc_fragment((BLOCK_H, block_N), accum)
            acc_o = T.alloc_fragment((BLOCK_H, D_V), accum)
            m_i = T.alloc_fragment((BLOCK_H,), accum)
            m_prev = T.alloc_fragment((BLOCK_H,), accum)
            alpha = T.alloc_fragment((BLOCK_H,), accum)
            l_tile = T.alloc_fragment((BLOCK_H,), accum)
            l_i = T.alloc_fragment((BLOCK_H,), accum)

            T.copy(Q[bz, bx, by * BLOCK_H, 0], Q_shared)
            T.copy(Q[bz, bx, by * BLOCK_H, D_V], Q_rope_shared)
            T.fill(acc_o, 0)
            T.fill(l_i, 0)
            T.fill(m_i, -T.infinity(accum))
            for t in T.Pipelined(T.ceildiv(topk, block_N), num_stages=num_stages):
                gather(KV, Indices, KV_shared, K_rope_shared, bz, bx, t, block_N, topk, Skv)
                # Unused slots start at -inf, so the gemms leave them -inf and exp2 makes them 0.
                for h, j in T.Parallel(BLOCK_H, block_N):
                    acc_s[h, j] = T.if_then_else(valid(Indices, bz, bx, t * block_N + j, topk, Skv), 0, -T.infinity(accum))
                T.gemm(Q_shared, KV_shared, acc_s, transpose_B=True, policy=policy)
                T.gemm(Q_rope_shared, K_rope_shared, acc_s, transpose_B=True, policy=policy)
                online_softmax(acc_s, m_i, m_prev, alpha, l_tile, l_i, BLOCK_H, block_N, qk_scale)
                for h, d in T.Parallel(BLOCK_H, D_V):
                    acc_o[h, d] *= alpha[h]  # rescale what was summed under the old max
                T.copy(acc_s, P_shared)
                T.gemm(P_shared, KV_shared, acc_o, policy=policy)

            for h, d in T.Parallel(BLOCK_H, D_V):  # a query with no valid slot: acc_o = 0, o = 0
                acc_o[h, d] /= T.if_then_else(l_i[h] > 0, l_i[h], 1)
            T.copy(acc_o, O[bz, bx, by * BLOCK_H, 0])
            for h in T.Parallel(BLOCK_H):
                l_tile[h] = (m_i[h] + T.log2(l_i[h])) * LN2  # natural-log lse, reusing l_tile
            T.copy(l_tile, LSE[bz, bx, by * BLOCK_H])

    return sparse_mla


# The indices are read straight from global memory where they are used, not staged through
# shared memory: T.Pipelined would copy them asynchronously too, and the gather that takes its
# addresses from them is issued without waiting for that copy (TileLang 0.1.15).
# finding: findings/tilelang_pipelined_gather_no_wait.py
def slot(Indices, bz, bx, j, topk):
    """The index in slot j of the query's row (slots past topk read the last one)."""
    return Indices[bz, bx, T.min(j, topk - 1)]


def valid(Indices, bz, bx, j, topk, Skv):
    """Whether slot j holds a key: j < topk and 0 <= index < Skv."""
    index = slot(Indices, bz, bx, j, topk)
    return (j < topk) & (index >= 0) & (index < Skv)


@T.macro
def gather(KV, Indices, KV_shared, K_rope_shared, bz, bx, t, block_N, topk, Skv):
    """The kv rows of slots t·block_N .. into shared memory, latent and rotary parts. An unused
    slot reads a real row (its index clamped into range) whose weight will be 0: a plain copy,
    which TileLang lowers to asynchronous copies (cp.async) that T.Pipelined overlaps with the
    math; a copy under a condition (zeros for unused slots) would go through registers,
    unpipelined."""
    for j, d in T.Parallel(block_N, D_V):
        row = T.min(T.max(slot(Indices, bz, bx, t * block_N + j, topk), 0), Skv - 1)
        KV_shared[j, d] = KV[bz, row, d]
    for j, d in T.Parallel(block_N, D_ROPE):
        row = T.min(T.max(slot(Indices, bz, bx, t * block_N + j, topk), 0), Skv - 1)
        K_rope_shared[j, d] = KV[bz, row, D_V + d]


@T.macro
def online_softmax(acc_s, m_i, m_prev, alpha, l_tile, l_i, block_M, block_N, qk_scale):
    """Turn raw scores acc_s into exp2(s·scale - m) under the new running max m_i, and
    update the running sum l_i; alpha = exp2(m_old - m_new) rescales the old state. The max
    an exponent is taken against is floored at M_FLOOR, so that while every slot so far is
    unused (m_i still -inf) alpha and the weights are 0, not exp2(NaN)."""
    T.copy(m_i, m_prev)
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] *= qk_scale
    T.reduce_max(acc_s, m_i, dim=1, clear=False)  # max(m_prev, max_j s_ij)
    for i in T.Parallel(block_M):
        alpha[i] = T.exp2(m_prev[i] - T.max(m_i[i], M_FLOOR))
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] = T.exp2(acc_s[i, j] - T.max(m_i[i], M_FLOOR))
    T.reduce_sum(acc_s, l_tile, dim=1)
    for i in T.Parallel(block_M):
        l_i[i] = l_i[i] * alpha[i] + l_tile[i]
