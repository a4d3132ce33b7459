"""Attention backward in TileLang, matched track: FlashAttention-2's backward, the same code path as
kernels/attention_bwd/triton_matched.py.

Techniques: three kernels, chained by the host function attention_bwd. The preprocess writes
delta_i = do_i · o_i (fp32) for block_M rows of one (batch, query head). The dk/dv kernel owns
block_N keys of one (batch, kv head): its K and V tiles stay in shared memory while the Q and dO
tiles (with their lse and delta) of the kv head's G query heads stream through a
num_stages-deep pipeline (T.Pipelined) in block_M steps, so the grouped-query sum over those
heads happens in the block's fp32 accumulators (no atomics). It works on the transposed tile
(keys x queries): sᵀ = K Qᵀ, pᵀ = exp2(sᵀ · scale · log2(e) - lse · log2(e)), dv += pᵀ dO,
dpᵀ = V dOᵀ, dsᵀ = pᵀ (dpᵀ - delta), dk += dsᵀ Q. The dq kernel owns block_M query rows of one
(batch, query head): Q, dO, lse and delta stay, the K and V tiles stream, dq += ds K. p and ds
are rounded to the input dtype before their products, as FlashAttention-2 does; dk and dq take
the softmax scale once, at the end. Causal: the dk/dv kernel starts at the first query tile that
sees its first key (query j - (Skv - Sq) for key j), the dq kernel stops at the last key its last
row sees; a row that sees no key (lse = +inf) gets p = 0, so it adds nothing and its dq is 0.
Matched with Triton's code path: PASS_CONFIGS turn TMA lowering and warp specialization off
(T.copy becomes cp.async, all threads compute, as Triton's pipelined loads), fast math on
(exp2 approximate, as Triton's), the same thread count; dk, dv and dq leave through shared
memory (the K, V and Q tiles, no longer read), as Triton's coalescing layout conversion does.
Sizes: the shape is part of the kernel. The head dim is padded to the next power of two
(spec.padded_head_dim): T.copy zero-fills the padded columns and ragged rows and clips the
stores. spec.fit sizes both passes' tiles; the dq pass's dS, lse and delta buffers come on top,
so where they would not fit (a large head dim) that pass takes a stage fewer. A P or dS
tile with fewer rows than threads / 2, and every one in fp32 (TF32), goes through shared memory (see
alloc_p; the forward, kernels/attention/tilelang_matched.py, does the same for its P in fp32).

SASS on sm_90a: 3 kernels, cp.async, HGMMA, no spills. Not: TMA load, warp specialization.
"""
import tilelang.language as T

from kernels import SMEM_LIMIT, dtypes
from kernels.attention_bwd.spec import CONFIGS, fit, padded_head_dim, default_scale, workspace  # noqa: F401

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
# As the forward's (kernels/attention/tilelang_matched.py): cp.async loads and no producer
# warpgroup, as Triton's matched kernel; approximate exp2, as Triton emits it. Loops unrolled
# explicitly: with a trip count that depends on the block (causal), TileLang 0.1.15 leaves the
# cp.async pipeline's epilogue loop rolled and its CUDA codegen then fails on the non-constant
# cp.async.wait_group count ("Downcast from tirx.Sub to ir.IntImm").
# finding: findings/tilelang_pipelined_dynamic_trip_count.py
PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True, "tl.enable_fast_math": True,
                "tl.UnrollLoop": {"explicit_unroll": True}}
DTYPE_NAME = {t: name for name, t in dtypes.TILELANG.items()}  # "float16" -> "fp16"
DELTA_COLUMNS = 64  # the preprocess reads o and do in column chunks of this width (registers)


def attention_bwd_kernel(B, Hq, Hkv, Sq, Skv, D, causal, dtype, block_M, block_N, num_stages, threads,
                         sm_scale=None):
    """{"preprocess", "dkdv", "dq": (prim_func, PASS_CONFIGS)} for one shape, dtype ("float16",
    ...) and config. preprocess (o, do) -> delta; dkdv (q, k, v, do, lse, delta) -> (dk, dv);
    dq (q, k, v, do, lse, delta) -> dq; the formulas are kernels/attention_bwd/spec.py's."""
    c = fit(dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads), DTYPE_NAME[dtype], D)
    block_M, block_N, stages = c["block_M"], c["block_N"], c["num_stages"]
    Dp = padded_head_dim(D)
    accum = "float32"
    threads = c["threads"]

    def alloc_p(rows, cols):
        """P or dS, the A operand of the next product: from registers, as in FlashAttention-2,
        where the score accumulator's layout serves. It does not for fp32 (TF32 wants another
        register layout; the forward's P does the same) nor when a tile has fewer rows than
        threads / 2 (16 rows a warp, 64 a warpgroup): the warps then split the columns of the
        score product, and each would need whole rows of the next product's A. Through shared
        memory then (the conversion Triton's compiler makes on its own)."""
        to_shared = dtype == "float32" or rows < threads // 2
        return (T.alloc_shared if to_shared else T.alloc_fragment)((rows, cols), dtype)

    group = Hq // Hkv
    scale = default_scale(D) if sm_scale is None else sm_scale
    qk_scale = scale * LOG2E
    chunk = min(Dp, DELTA_COLUMNS)
    # fit() sizes both passes' tiles; the dq pass's dS, lse and delta come on top of them, so
    # where they would not fit (a large head dim) that pass takes fewer stages.
    size = dtypes.BYTES[DTYPE_NAME[dtype]]

    def dq_smem(n):  # Q, dO, n stages of K and V, dS (at most), lse and delta
        return (2 * block_M + 2 * n * block_N) * Dp * size + block_M * block_N * size + 2 * block_M * 4

    dq_stages = stages
    while dq_stages > 1 and dq_smem(dq_stages) > SMEM_LIMIT:
        dq_stages -= 1

    def visible(i, j):  # may query i see key j (both inside the tensors)
        seen = (i < Sq) & (j < Skv)
        return seen & (j <= i + (Skv - Sq)) if causal else seen

    def first_query_tile(bx):  # causal: the first query that sees key bx · block_N is bx · block_N - (Skv - Sq)
        return T.max(bx * block_N - (Skv - Sq), 0) // block_M if causal else 0

    def key_tiles(bx):  # causal: block bx's last row sees keys up to (bx + 1) · block_M - 1 + Skv - Sq
        if causal:
            return T.max(T.min(T.ceildiv(Skv, block_N), T.ceildiv((bx + 1) * block_M + Skv - Sq, block_N)), 0)
        return T.ceildiv(Skv, block_N)

    @T.prim_func
    def preprocess(
        O: T.Tensor((B, Hq, Sq, D), dtype),
        dO: T.Tensor((B, Hq, Sq, D), dtype),
        Delta: T.Tensor((B, Hq, Sq), accum),
    ):
        with T.Kernel(T.ceildiv(Sq, block_M), Hq, B, threads=threads) as (bx, by, bz):
            o = T.alloc_fragment((block_M, chunk), dtype)
            do = T.alloc_fragment((block_M, chunk), dtype)
            acc = T.alloc_fragment((block_M, chunk), accum)
            delta = T.alloc_fragment((block_M,), accum)
            T.clear(acc)
            for d in T.serial(Dp // chunk):
                T.copy(O[bz, by, bx * block_M, d * chunk], o)
                T.copy(dO[bz, by, bx * block_M, d * chunk], do)
                for i, j in T.Parallel(block_M, chunk):
                    acc[i, j] += T.Cast(accum, o[i, j]) * T.Cast(accum, do[i, j])
            T.reduce_sum(acc, delta, dim=1)
            T.copy(delta, Delta[bz, by, bx * block_M])

    @T.prim_func
    def dkdv(
        Q: T.Tensor((B, Hq, Sq, D), dtype),
        K: T.Tensor((B, Hkv, Skv, D), dtype),
        V: T.Tensor((B, Hkv, Skv, D), dtype),
        dO: T.Tensor((B, Hq, Sq, D), dtype),
        LSE: T.Tensor((B, Hq, Sq), accum),
        Delta: T.Tensor((B, Hq, Sq), accum),
        dK: T.Tensor((B, Hkv, Skv, D), dtype),
        dV: T.Tensor((B, Hkv, Skv, D), dtype),
    ):
        with T.Kernel(T.ceildiv(Skv, block_N), Hkv, B, threads=threads) as (bx, by, bz):
            K_shared = T.alloc_shared((block_N, Dp), dtype)
            V_shared = T.alloc_shared((block_N, Dp), dtype)
            Q_shared = T.alloc_shared((block_M, Dp), dtype)
            dO_shared = T.alloc_shared((block_M, Dp), dtype)
            lse = T.alloc_shared((block_M,), accum)
            delta = T.alloc_shared((block_M,), accum)
            pT = T.alloc_fragment((block_N, block_M), accum)  # scores sᵀ, then pᵀ
            dpT = T.alloc_fragment((block_N, block_M), accum)
            pT_cast = alloc_p(block_N, block_M)
            dsT_cast = alloc_p(block_N, block_M)
            dk = T.alloc_fragment((block_N, Dp), accum)
            dv = T.alloc_fragment((block_N, Dp), accum)

            T.copy(K[bz, by, bx * block_N, 0], K_shared)
            T.copy(V[bz, by, bx * block_N, 0], V_shared)
            T.clear(dk)
            T.clear(dv)
            first = first_query_tile(bx)
            tiles = T.ceildiv(Sq, block_M) - first  # query tiles a head has that see this key tile
            # One step per (query head of this kv head, query tile): G · tiles steps.
            for t in T.Pipelined(group * tiles, num_stages=stages):
                h = by * group + t // tiles
                m0 = (first + t % tiles) * block_M
                T.copy(Q[bz, h, m0, 0], Q_shared)
                T.copy(LSE[bz, h, m0], lse)
                T.clear(pT)
                T.gemm(K_shared, Q_shared, pT, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                for j, i in T.Parallel(block_N, block_M):  # lse = +inf (a row that sees no key): p = 0
                    pT[j, i] = T.if_then_else(visible(m0 + i, bx * block_N + j),
                                              T.exp2(pT[j, i] * qk_scale - lse[i] * LOG2E), 0)
                T.copy(dO[bz, h, m0, 0], dO_shared)
                T.copy(Delta[bz, h, m0], delta)
                T.clear(dpT)
                T.gemm(V_shared, dO_shared, dpT, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                T.copy(pT, pT_cast)
                T.gemm(pT_cast, dO_shared, dv, policy=T.GemmWarpPolicy.FullRow)
                for j, i in T.Parallel(block_N, block_M):
                    dsT_cast[j, i] = pT[j, i] * (dpT[j, i] - delta[i])
                T.gemm(dsT_cast, Q_shared, dk, policy=T.GemmWarpPolicy.FullRow)

            for j, d in T.Parallel(block_N, Dp):  # out through the K and V tiles, no longer read
                K_shared[j, d] = dk[j, d] * scale
                V_shared[j, d] = dv[j, d]
            T.copy(K_shared, dK[bz, by, bx * block_N, 0])
            T.copy(V_shared, dV[bz, by, bx * block_N, 0])

    @T.prim_func
    def dq(
        Q: T.Tensor((B, Hq, Sq, D), dtype),
        K: T.Tensor((B, Hkv, Skv, D), dtype),
        V: T.Tensor((B, Hkv, Skv, D), dtype),
        dO: T.Tensor((B, Hq, Sq, D), dtype),
        LSE: T.Tensor((B, Hq, Sq), accum),
        Delta: T.Tensor((B, Hq, Sq), accum),
        dQ: T.Tensor((B, Hq, Sq, D), dtype),
    ):
        with T.Kernel(T.ceildiv(Sq, block_M), Hq, B, threads=threads) as (bx, by, bz):
            Q_shared = T.alloc_shared((block_M, Dp), dtype)
            dO_shared = T.alloc_shared((block_M, Dp), dtype)
            K_shared = T.alloc_shared((block_N, Dp), dtype)
            V_shared = T.alloc_shared((block_N, Dp), dtype)
            lse = T.alloc_shared((block_M,), accum)
            delta = T.alloc_shared((block_M,), accum)
            p = T.alloc_fragment((block_M, block_N), accum)  # scores s, then p
            dp = T.alloc_fragment((block_M, block_N), accum)
            ds_cast = alloc_p(block_M, block_N)
            acc_dq = T.alloc_fragment((block_M, Dp), accum)

            T.copy(Q[bz, by, bx * block_M, 0], Q_shared)
            T.copy(dO[bz, by, bx * block_M, 0], dO_shared)
            T.copy(LSE[bz, by, bx * block_M], lse)
            T.copy(Delta[bz, by, bx * block_M], delta)
            T.clear(acc_dq)
            for k in T.Pipelined(key_tiles(bx), num_stages=dq_stages):
                T.copy(K[bz, by // group, k * block_N, 0], K_shared)
                T.clear(p)
                T.gemm(Q_shared, K_shared, p, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                for i, j in T.Parallel(block_M, block_N):
                    p[i, j] = T.if_then_else(visible(bx * block_M + i, k * block_N + j),
                                             T.exp2(p[i, j] * qk_scale - lse[i] * LOG2E), 0)
                T.copy(V[bz, by // group, k * block_N, 0], V_shared)
                T.clear(dp)
                T.gemm(dO_shared, V_shared, dp, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                for i, j in T.Parallel(block_M, block_N):
                    ds_cast[i, j] = p[i, j] * (dp[i, j] - delta[i])
                T.gemm(ds_cast, K_shared, acc_dq, policy=T.GemmWarpPolicy.FullRow)

            for i, d in T.Parallel(block_M, Dp):  # out through the Q tile, no longer read
                Q_shared[i, d] = acc_dq[i, d] * scale
            T.copy(Q_shared, dQ[bz, by, bx * block_M, 0])

    return {"preprocess": (preprocess, PASS_CONFIGS), "dkdv": (dkdv, PASS_CONFIGS), "dq": (dq, PASS_CONFIGS)}


def attention_bwd(kernels, q, k, v, o, lse, do, dq, dk, dv, delta):
    """dq, dk, dv with the compiled kernels: delta first, then the dk/dv pass, then the dq pass."""
    kernels["preprocess"](o, do, delta)
    kernels["dkdv"](q, k, v, do, lse, delta, dk, dv)
    kernels["dq"](q, k, v, do, lse, delta, dq)
