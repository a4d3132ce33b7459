"""Attention forward in TileLang, matched track: FlashAttention-2, the same code path as
kernels/attention/triton_matched.py.

Techniques: each block owns block_M query rows of one (batch, query head): Q stays in shared
memory while the keys of that head's kv head (h // G) stream through a num_stages-deep
pipeline (T.Pipelined) in block_N steps; the running row max, row sum and output accumulator
are fp32 fragments. Scores are kept in base 2 (scale · log2(e) folded in once) so each
exponential is one exp2. Causal tiles that lie wholly above the diagonal are never visited:
the loop's trip count stops at the last key the block's last row may see.
Matched with Triton's code path: PASS_CONFIGS turn TMA lowering and warp specialization off
(T.copy becomes cp.async, all threads compute, as Triton's pipelined loads), fast math on
(exp2, log2 and the division approximate, as Triton's), the same thread count, and the O
tile leaves through shared memory (Triton's coalescing layout conversion does the same).
Sizes: the shape is part of the kernel (TileLang specializes on it; the Triton kernel takes
it as constexprs). The head dim is padded to the next power of two (spec.padded_head_dim):
T.copy zero-fills the padded columns and ragged rows and clips the stores.

SASS on sm_90a: cp.async, HGMMA 64x64. Not: TMA load, warp specialization.
"""
import tilelang.language as T

from kernels import dtypes
from kernels.attention.spec import CONFIGS, default_scale, fit, padded_head_dim  # noqa: F401  (the config list both DSLs share)

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = 0.6931471805599453  # ln(2): converts the base-2 log-sum-exp back to natural log
# cp.async loads and no producer warpgroup, as Triton's matched kernel; approximate exp2, log2
# and division, as Triton emits them (nvcc --use_fast_math). Loops unrolled explicitly: with a
# trip count that depends on the block (causal), TileLang 0.1.15 leaves the cp.async
# pipeline's epilogue loop rolled and its CUDA codegen then fails on the non-constant
# cp.async.wait_group count ("Downcast from tirx.Sub to ir.IntImm").
# finding: findings/tilelang_pipelined_dynamic_trip_count.py
PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True, "tl.enable_fast_math": True,
                "tl.UnrollLoop": {"explicit_unroll": True}}
DTYPE_NAME = {t: name for name, t in dtypes.TILELANG.items()}  # "float16" -> "fp16"


def attention_kernel(B, Hq, Hkv, Sq, Skv, D, causal, dtype, block_M, block_N, num_stages, threads, sm_scale=None):
    """Return the prim_func (q, k, v) -> (o, lse) for one shape, dtype ("float16", ...) and config:
    o[i] = Σ_j p_ij v_j with p_ij = exp(s_ij - lse_i), s_ij = scale · q_i·k_j (j visible to i),
    lse_i = log Σ_j exp(s_ij); visible: j < Skv and, if causal, j <= i + Skv - Sq. A row that
    sees no key gets o = 0, lse = +inf."""
    c = fit(dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads), DTYPE_NAME[dtype], D)
    block_M, block_N = c["block_M"], c["block_N"]
    Dp = padded_head_dim(D)
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
        with T.Kernel(T.ceildiv(Sq, block_M), Hq, B, threads=c["threads"]) as (bx, by, bz):
            Q_shared = T.alloc_shared((block_M, Dp), dtype)
            K_shared = T.alloc_shared((block_N, Dp), dtype)
            V_shared = T.alloc_shared((block_N, Dp), dtype)
            O_shared = T.alloc_shared((block_M, Dp), dtype)
            acc_s = T.alloc_fragment((block_M, block_N), accum)
            acc_s_cast = alloc_p((block_M, block_N), dtype)
            acc_o = T.alloc_fragment((block_M, Dp), accum)
            m_i = T.alloc_fragment((block_M,), accum)
            m_prev = T.alloc_fragment((block_M,), accum)
            m_use = T.alloc_fragment((block_M,), accum)
            alpha = T.alloc_fragment((block_M,), accum)
            l_tile = T.alloc_fragment((block_M,), accum)
            l_i = T.alloc_fragment((block_M,), accum)

            T.copy(Q[bz, by, bx * block_M, 0], Q_shared)
            T.fill(acc_o, 0)
            T.fill(l_i, 0)
            T.fill(m_i, -T.infinity(accum))
            for k in T.Pipelined(key_tiles(bx), num_stages=c["num_stages"]):
                T.copy(K[bz, by // group, k * block_N, 0], K_shared)
                # Masked scores start at -inf, so the gemm leaves them -inf and exp2 makes them 0.
                for i, j in T.Parallel(block_M, block_N):
                    acc_s[i, j] = T.if_then_else(visible(bx * block_M + i, k * block_N + j), 0, -T.infinity(accum))
                T.gemm(Q_shared, K_shared, acc_s, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                online_softmax(acc_s, m_i, m_prev, m_use, alpha, l_tile, l_i, block_M, block_N, qk_scale)
                for i, j in T.Parallel(block_M, Dp):
                    acc_o[i, j] *= alpha[i]  # rescale what was summed under the old max
                T.copy(acc_s, acc_s_cast)
                T.copy(V[bz, by // group, k * block_N, 0], V_shared)
                T.gemm(acc_s_cast, V_shared, acc_o, policy=T.GemmWarpPolicy.FullRow)

            # A row that saw no key has l = 0: o = 0 and lse = +inf, as flash-attention 2 writes.
            for i in T.Parallel(block_M):
                alpha[i] = T.if_then_else(l_i[i] > 0, 1.0 / l_i[i], 0.0)  # reusing alpha as 1 / l
            for i, j in T.Parallel(block_M, Dp):
                O_shared[i, j] = acc_o[i, j] * alpha[i]
            T.copy(O_shared, O[bz, by, bx * block_M, 0])
            for i in T.Parallel(block_M):  # natural-log lse, reusing l_tile
                l_tile[i] = T.if_then_else(l_i[i] > 0, (m_i[i] + T.log2(l_i[i])) * LN2, T.infinity(accum))
            T.copy(l_tile, LSE[bz, by, bx * block_M])

    return attention


@T.macro
def online_softmax(acc_s, m_i, m_prev, m_use, alpha, l_tile, l_i, block_M, block_N, qk_scale):
    """Turn raw scores acc_s into exp2(s·scale - m) under the new running max m_i, and
    update the running sum l_i; alpha = exp2(m_old - m_new) rescales the old state. A row
    that has seen no key yet (causal, Sq > Skv) keeps m = -inf and subtracts m_use = 0
    instead, so its weights are exp2(-inf) = 0, not NaN (flash-attention's Check_inf)."""
    T.copy(m_i, m_prev)
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] *= qk_scale
    T.reduce_max(acc_s, m_i, dim=1, clear=False)  # max(m_prev, max_j s_ij)
    for i in T.Parallel(block_M):
        m_use[i] = T.if_then_else(m_i[i] == -T.infinity("float32"), 0, m_i[i])
    for i in T.Parallel(block_M):
        alpha[i] = T.exp2(m_prev[i] - m_use[i])
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] = T.exp2(acc_s[i, j] - m_use[i])
    T.reduce_sum(acc_s, l_tile, dim=1)
    for i in T.Parallel(block_M):
        l_i[i] = l_i[i] * alpha[i] + l_tile[i]
