"""Attention forward in TileLang, FlashAttention-2 style: tiles over keys, online softmax.

The same algorithm as kernels/attention/triton_matched.py. Each block owns block_M query rows of
one (batch, query head): Q stays in shared memory while the keys of that head's kv head
(h // G) stream through a num_stages-deep pipeline (T.Pipelined) in block_N steps; the
running row max, row sum and output accumulator are fp32 fragments. Scores are kept in
base 2 (scale · log2(e) folded in once) so each exponential is one exp2.
Causal tiles that lie wholly above the diagonal are never visited: the loop's trip count
stops at the last key the block's last row may see. The shape is part of the kernel
(TileLang specializes on it); T.copy zero-fills ragged tiles and clips the stores.
"""
import tilelang.language as T

from kernels.attention.spec import CONFIGS, default_scale  # noqa: F401  (the config list both DSLs share)

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = 0.6931471805599453  # ln(2): converts the base-2 log-sum-exp back to natural log


def attention_kernel(B, Hq, Hkv, Sq, Skv, D, causal, dtype, block_M, block_N, num_stages, threads, sm_scale=None):
    """Return the prim_func (q, k, v) -> (o, lse) for one shape, dtype ("float16", ...) and config:
    o[i] = Σ_j p_ij v_j with p_ij = exp(s_ij - lse_i), s_ij = scale · q_i·k_j (j visible to i),
    lse_i = log Σ_j exp(s_ij); visible: j < Skv and, if causal, j <= i + Skv - Sq."""
    accum = "float32"
    # P (the softmax weights) feeds the second gemm from registers, as in FlashAttention-2.
    # fp32 runs as TF32, whose MMA wants P in a register layout the score accumulator does
    # not have; TileLang cannot shuffle between the two, so P goes through shared memory
    # (the conversion Triton's compiler makes on its own).
    alloc_p = T.alloc_shared if dtype == "float32" else T.alloc_fragment
    group = Hq // Hkv
    qk_scale = (default_scale(D) if sm_scale is None else sm_scale) * LOG2E

    def visible(i, j):  # may query i see key j
        if causal:
            return (j < Skv) & (j <= i + (Skv - Sq))
        return j < Skv

    def key_tiles(bx):  # causal: block bx's last row sees keys up to (bx + 1) · block_M - 1 + Skv - Sq
        if causal:
            return T.min(T.ceildiv(Skv, block_N), T.ceildiv((bx + 1) * block_M + Skv - Sq, block_N))
        return T.ceildiv(Skv, block_N)

    @T.prim_func
    def attention(
        Q: T.Tensor((B, Hq, Sq, D), dtype),
        K: T.Tensor((B, Hkv, Skv, D), dtype),
        V: T.Tensor((B, Hkv, Skv, D), dtype),
        O: T.Tensor((B, Hq, Sq, D), dtype),
        LSE: T.Tensor((B, Hq, Sq), accum),
    ):
        with T.Kernel(T.ceildiv(Sq, block_M), Hq, B, threads=threads) as (bx, by, bz):
            Q_shared = T.alloc_shared((block_M, D), dtype)
            K_shared = T.alloc_shared((block_N, D), dtype)
            V_shared = T.alloc_shared((block_N, D), dtype)
            acc_s = T.alloc_fragment((block_M, block_N), accum)
            acc_s_cast = alloc_p((block_M, block_N), dtype)
            acc_o = T.alloc_fragment((block_M, D), accum)
            m_i = T.alloc_fragment((block_M,), accum)
            m_prev = T.alloc_fragment((block_M,), accum)
            alpha = T.alloc_fragment((block_M,), accum)
            l_tile = T.alloc_fragment((block_M,), accum)
            l_i = T.alloc_fragment((block_M,), accum)

            T.copy(Q[bz, by, bx * block_M, 0], Q_shared)
            T.fill(acc_o, 0)
            T.fill(l_i, 0)
            T.fill(m_i, -T.infinity(accum))
            for k in T.Pipelined(key_tiles(bx), num_stages=num_stages):
                T.copy(K[bz, by // group, k * block_N, 0], K_shared)
                # Masked scores start at -inf, so the gemm leaves them -inf and exp2 makes
                # them 0. Every row sees key 0 (validate() keeps Sq <= Skv when causal), so
                # m_i turns finite at the first tile and exp2(-inf - m) is never NaN.
                for i, j in T.Parallel(block_M, block_N):
                    acc_s[i, j] = T.if_then_else(visible(bx * block_M + i, k * block_N + j), 0, -T.infinity(accum))
                T.gemm(Q_shared, K_shared, acc_s, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                online_softmax(acc_s, m_i, m_prev, alpha, l_tile, l_i, block_M, block_N, qk_scale)
                for i, j in T.Parallel(block_M, D):
                    acc_o[i, j] *= alpha[i]  # rescale what was summed under the old max
                T.copy(acc_s, acc_s_cast)
                T.copy(V[bz, by // group, k * block_N, 0], V_shared)
                T.gemm(acc_s_cast, V_shared, acc_o, policy=T.GemmWarpPolicy.FullRow)

            for i, j in T.Parallel(block_M, D):
                acc_o[i, j] /= l_i[i]
            T.copy(acc_o, O[bz, by, bx * block_M, 0])
            for i in T.Parallel(block_M):
                l_tile[i] = (m_i[i] + T.log2(l_i[i])) * LN2  # natural-log lse, reusing l_tile
            T.copy(l_tile, LSE[bz, by, bx * block_M])

    return attention


@T.macro
def online_softmax(acc_s, m_i, m_prev, alpha, l_tile, l_i, block_M, block_N, qk_scale):
    """Turn raw scores acc_s into exp2(s·scale - m) under the new running max m_i, and
    update the running sum l_i; alpha = exp2(m_old - m_new) rescales the old state."""
    T.copy(m_i, m_prev)
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] *= qk_scale
    T.reduce_max(acc_s, m_i, dim=1, clear=False)  # max(m_prev, max_j s_ij)
    for i in T.Parallel(block_M):
        alpha[i] = T.exp2(m_prev[i] - m_i[i])
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] = T.exp2(acc_s[i, j] - m_i[i])
    T.reduce_sum(acc_s, l_tile, dim=1)
    for i in T.Parallel(block_M):
        l_i[i] = l_i[i] * alpha[i] + l_tile[i]
