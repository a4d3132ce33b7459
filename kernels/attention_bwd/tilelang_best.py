"""Attention backward in TileLang, best track: written as TileLang's own best backward kernels are
(examples/flash_attention/example_gqa_bwd_tma_reduce.py, its atomic-add variant, the default
there; example_gqa_bwd.py; example_mha_bwd_bhsd.py).

Techniques:
- Three launches, chained by the host function attention_bwd after it zeroes the fp32
  accumulators of the workspace (module workspace()): the preprocess writes
  delta_i = do_i · o_i (fp32); the main kernel, one program per (query head, block_N keys,
  batch), computes dK, dV and every dQ contribution; the postprocess casts the fp32
  accumulators to the input dtype (one T.Kernel for dq and, with grouped-query heads, one for
  dk and dv, in one prim_func, as upstream's flash_bwd_post: 4 kernels at the inspect shape).
- The main kernel keeps its K and V tiles in shared memory and walks the query tiles of its
  head (block_M rows a step) in a T.Pipelined loop: Q, dO, lse and delta stream through
  num_stages buffers by TMA loads (TileLang's Hopper default, not disabled), issued by a
  producer warpgroup TileLang adds (warp specialization; setmaxnreg rebalances the registers).
  It works on the transposed tile (keys x queries), as upstream: sᵀ = K Qᵀ,
  pᵀ = exp2(sᵀ · scale·log2(e) - lse · log2(e)), dpᵀ = V dOᵀ, dv += pᵀ dO, dsᵀ = pᵀ (dpᵀ - delta),
  dk += dsᵀ Q, p and ds rounded to the input dtype before their products; dK and dV stay in
  fp32 registers for the whole walk (P and dS from registers as the A operand).
- dQ by atomics, as upstream: each step's dq goes through a shared fp32 tile into the fp32 dQ
  workspace by one TMA reduce (T.atomic_add(..., use_tma=True): cp.reduce.async.bulk.tensor,
  SASS UTMAREDG). Unlike upstream, dq is computed transposed, dqᵀ = Kᵀ dsᵀ (K and dsᵀ read from
  shared memory, K transposed), into a transposed workspace (head dim x queries): its M is the
  head dim, not block_M, so at block_M = 32 it stays a warpgroup MMA (upstream's
  dq = (dsᵀ)ᵀ K has M = 32 < 64 and falls back to mma.sync, HMMA: checked in SASS here).
  The postprocess transposes it back.
- Grouped-query heads, as upstream's default (use_atomic): every query head's program adds its
  dK and dV tiles into fp32 dK/dV workspaces by TMA reduce too, so the sum over the G query heads
  of a kv head happens in global memory (upstream's split alternative, G copies and a second
  pass, not taken). Without grouping (G = 1) a program owns its dK/dV rows: they leave in the
  input dtype through the K and V tiles (no atomics, no postprocess for them), as
  example_mha_bwd_bhsd writes them.
- The softmax scale is applied once, in the postprocess (dq, and dk with grouping) or at the
  store (dk, G = 1), not to ds; fast math (approximate exp2), as upstream compiles.
- Masking only where a step needs it: causal tiles on the diagonal (the walk starts at the first
  query tile that sees the program's first key, query j - (Skv - Sq) for key j, and only tiles
  whose first query does not see the program's last key mask) and the ragged last key tile;
  elsewhere out-of-range rows and columns are zero-filled by T.copy and contribute nothing. A
  row that sees no key has lse = +inf, so p = 0 and its dq is 0.
- On TileLang's C backend (the CPU check) a TMA reduce does not lower ("CPU atomic_add does not
  support use_tma=True", checked): built inside bench/run/tilelang_cpu.py's dialect (detected
  by its replaced T.Kernel), the same tile atomic adds are element atomics; the math is the same.
Sizes: the shape is part of the kernel. The head dim is padded to the next power of two
(spec.padded_head_dim), the fp32 workspaces too, and their rows (dQ's columns) to a multiple of
128, so every reduce is a whole tile; T.copy zero-fills the padded columns and ragged rows of the
inputs and clips the stores. spec.fit sizes the shared memory and holds the dK and dV
accumulators (2 · block_N · Dp / threads fp32 registers a thread) to 128 a thread by halving
block_N (config 32x128 at 128 threads runs 64 keys a program: 256 a thread spilled 1.5 KB in
the first compile here); where the fp32 dQ tile would not fit the shared memory on top, the
loop takes a stage fewer. P and dS tiles too small for the score layout
(rows < threads / 2), and every one in fp32 (TF32), go through shared memory (alloc_p, as
kernels/attention_bwd/tilelang_matched.py).

SASS on sm_90a: 4 kernels, TMA load, warp specialization, setmaxnreg, HGMMA 64x128, no spills.
Not: cp.async, HMMA, TMA store.
"""
import torch
import tilelang.language as T

from kernels import SMEM_LIMIT, dtypes
from kernels.attention_bwd import spec
from kernels.attention_bwd.spec import CONFIGS, default_scale, fit, padded_head_dim  # noqa: F401

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
# TMA lowering and warp specialization stay on (TileLang's defaults); approximate exp2, as
# upstream compiles. Loops unrolled explicitly for the head dims TMA cannot take (D = 59, 111,
# ... in 16-bit): their cp.async pipeline hits the codegen failure described in
# kernels/attention_bwd/tilelang_matched.py.
# finding: findings/tilelang_pipelined_dynamic_trip_count.py
PASS_CONFIGS = {"tl.enable_fast_math": True, "tl.UnrollLoop": {"explicit_unroll": True}}
DTYPE_NAME = {t: name for name, t in dtypes.TILELANG.items()}  # "float16" -> "fp16"
ACCUM = "float32"
ROW_ALIGN = 128  # the fp32 workspaces' rows are padded to a multiple of this (every tile's rows divide it)
PRE_ROWS, PRE_THREADS, PRE_COLUMNS = 32, 128, 64  # the preprocess's rows a block, threads, column chunk
POST_THREADS = 128


def padded_rows(n):
    return -(-n // ROW_ALIGN) * ROW_ALIGN


def workspace(shape, dtype, config, device):
    """delta (B, Hq, Sq) fp32 (spec.workspace), the fp32 dQ accumulator (B, Hq, Sq↑, D↑) and,
    with grouped-query heads, the fp32 dK and dV accumulators (B, Hkv, Skv↑, D↑); ↑: rows padded
    to a multiple of 128, the head dim to spec.padded_head_dim. The host function zeroes them."""
    B, Hq, Hkv, Sq, Skv, D = (shape[k] for k in spec.SHAPE_KEYS[:6])
    Dp = padded_head_dim(D)
    out = dict(spec.workspace(shape, dtype, config, device))
    out["dq_accum"] = torch.zeros((B, Hq, Dp, padded_rows(Sq)), dtype=torch.float32, device=device)  # transposed
    if Hq != Hkv:
        for name in ("dk_accum", "dv_accum"):
            out[name] = torch.zeros((B, Hkv, padded_rows(Skv), Dp), dtype=torch.float32, device=device)
    return out


def building_for_cpu():
    """Whether the factory runs inside bench/run/tilelang_cpu.py's CPU dialect (which replaces
    T.Kernel while a kernel is built): TileLang's C backend cannot lower a TMA reduce."""
    from tilelang.cuda.language.kernel import Kernel

    return T.Kernel is not Kernel


def attention_bwd_kernel(B, Hq, Hkv, Sq, Skv, D, causal, dtype, block_M, block_N, num_stages, threads,
                         sm_scale=None):
    """{"preprocess", "backward", "postprocess": (prim_func, PASS_CONFIGS)} for one shape, dtype
    ("float16", ...) and config. preprocess (o, do) -> delta; backward (q, k, v, do, lse, delta)
    -> dq_accum and (dk_accum, dv_accum) with grouping, else (dk, dv); postprocess (dq_accum
    [, dk_accum, dv_accum]) -> dq [, dk, dv]. The formulas are kernels/attention_bwd/spec.py's."""
    c = fit(dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads), DTYPE_NAME[dtype], D,
            track="best")
    block_M, block_N, stages, threads = c["block_M"], c["block_N"], c["num_stages"], c["threads"]
    Dp = padded_head_dim(D)
    assert ROW_ALIGN % block_M == 0 and ROW_ALIGN % block_N == 0
    group = Hq // Hkv
    grouped = group > 1
    scale = default_scale(D) if sm_scale is None else sm_scale
    qk_scale = scale * LOG2E
    Sq_p, Skv_p = padded_rows(Sq), padded_rows(Skv)
    causal_offset = Skv - Sq
    reduce_tma = not building_for_cpu()
    # spec.fit sizes K, V, the Q/dO stages and dS; the fp32 dQ tile and lse/delta come on top.
    while stages > 1 and spec.smem_bytes(dict(c, num_stages=stages), DTYPE_NAME[dtype], D, "best") \
            + block_M * Dp * 4 + 2 * stages * block_M * 4 > SMEM_LIMIT:
        stages -= 1

    def alloc_p(rows, cols):
        """P or dS, the A operand of the next product: from registers where the score
        accumulator's layout serves; through shared memory for fp32 (TF32 wants another
        register layout) and for tiles with fewer rows than threads / 2 (the warps then split
        the columns of the score product). As tilelang_matched.py."""
        to_shared = dtype == ACCUM or rows < threads // 2
        return (T.alloc_shared if to_shared else T.alloc_fragment)((rows, cols), dtype), to_shared

    def needs_mask(n0, m0):
        """Whether the step at query tile m0 of the program at key n0 masks: causal, a tile on
        the diagonal (its first query does not see its last key), or the ragged last key tile."""
        ragged = n0 + block_N > Skv
        if causal:
            return ragged | (m0 + causal_offset < n0 + block_N - 1)
        return ragged

    def visible(i, j):  # may query i see key j (key inside the tensor)
        if causal:
            return (j < Skv) & (j <= i + causal_offset)
        return j < Skv

    def reduce_into(dst, src):
        """dst += src, a tile (returned: the caller's statement emits it)."""
        return T.atomic_add(dst, src, use_tma=True) if reduce_tma else T.atomic_add(dst, src)

    @T.prim_func
    def preprocess(
        O: T.Tensor((B, Hq, Sq, D), dtype),
        dO: T.Tensor((B, Hq, Sq, D), dtype),
        Delta: T.Tensor((B, Hq, Sq), ACCUM),
    ):
        chunk = min(Dp, PRE_COLUMNS)
        with T.Kernel(T.ceildiv(Sq, PRE_ROWS), Hq, B, threads=PRE_THREADS) as (bx, by, bz):
            o = T.alloc_fragment((PRE_ROWS, chunk), dtype)
            do = T.alloc_fragment((PRE_ROWS, chunk), dtype)
            acc = T.alloc_fragment((PRE_ROWS, chunk), ACCUM)
            delta = T.alloc_fragment((PRE_ROWS,), ACCUM)
            T.clear(acc)
            for d in T.serial(Dp // chunk):
                T.copy(O[bz, by, bx * PRE_ROWS, d * chunk], o)
                T.copy(dO[bz, by, bx * PRE_ROWS, d * chunk], do)
                for i, j in T.Parallel(PRE_ROWS, chunk):
                    acc[i, j] += T.Cast(ACCUM, o[i, j]) * T.Cast(ACCUM, do[i, j])
            T.reduce_sum(acc, delta, dim=1)
            T.copy(delta, Delta[bz, by, bx * PRE_ROWS])

    @T.macro
    def main_loop(Q, K, V, dO, LSE, Delta, dQ_acc, dk, dv, K_shared, V_shared, bx, by, bz):
        Q_shared = T.alloc_shared((block_M, Dp), dtype)
        dO_shared = T.alloc_shared((block_M, Dp), dtype)
        lse = T.alloc_shared((block_M,), ACCUM)
        delta = T.alloc_shared((block_M,), ACCUM)
        pT = T.alloc_fragment((block_N, block_M), ACCUM)  # scores sᵀ, then pᵀ
        dpT = T.alloc_fragment((block_N, block_M), ACCUM)
        pT_cast, _ = alloc_p(block_N, block_M)
        dsT_cast, ds_in_shared = alloc_p(block_N, block_M)
        dsT_shared = dsT_cast if ds_in_shared else T.alloc_shared((block_N, block_M), dtype)
        dqT = T.alloc_fragment((Dp, block_M), ACCUM)
        dqT_shared = T.alloc_shared((Dp, block_M), ACCUM)
        n0 = bx * block_N
        first = T.max(n0 - causal_offset, 0) // block_M if causal else 0
        tiles = T.ceildiv(Sq, block_M) - first  # the query tiles that see some key of this program
        for t in T.Pipelined(tiles, num_stages=stages):
            m0 = (first + t) * block_M
            T.copy(Q[bz, by, m0, 0], Q_shared)
            T.copy(LSE[bz, by, m0], lse)
            T.gemm(K_shared, Q_shared, pT, transpose_B=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
            if needs_mask(n0, m0):
                for j, i in T.Parallel(block_N, block_M):
                    pT[j, i] = T.if_then_else(visible(m0 + i, n0 + j), T.exp2(pT[j, i] * qk_scale - lse[i] * LOG2E), 0)
            else:
                for j, i in T.Parallel(block_N, block_M):  # lse = +inf (a row that sees no key): p = 0
                    pT[j, i] = T.exp2(pT[j, i] * qk_scale - lse[i] * LOG2E)
            T.copy(dO[bz, by, m0, 0], dO_shared)
            T.copy(Delta[bz, by, m0], delta)
            T.gemm(V_shared, dO_shared, dpT, transpose_B=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
            T.copy(pT, pT_cast)
            T.gemm(pT_cast, dO_shared, dv, policy=T.GemmWarpPolicy.FullRow)
            for j, i in T.Parallel(block_N, block_M):
                dsT_cast[j, i] = pT[j, i] * (dpT[j, i] - delta[i])
            T.gemm(dsT_cast, Q_shared, dk, policy=T.GemmWarpPolicy.FullRow)
            if not ds_in_shared:
                T.copy(dsT_cast, dsT_shared)
            # dqᵀ = Kᵀ dsᵀ: M is the head dim (a warpgroup MMA even at block_M = 32)
            T.gemm(K_shared, dsT_shared, dqT, transpose_A=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
            T.copy(dqT, dqT_shared)
            reduce_into(dQ_acc[bz, by, 0:Dp, m0:m0 + block_M], dqT_shared)

    if grouped:
        @T.prim_func
        def backward(
            Q: T.Tensor((B, Hq, Sq, D), dtype),
            K: T.Tensor((B, Hkv, Skv, D), dtype),
            V: T.Tensor((B, Hkv, Skv, D), dtype),
            dO: T.Tensor((B, Hq, Sq, D), dtype),
            LSE: T.Tensor((B, Hq, Sq), ACCUM),
            Delta: T.Tensor((B, Hq, Sq), ACCUM),
            dQ_acc: T.Tensor((B, Hq, Dp, Sq_p), ACCUM),
            dK_acc: T.Tensor((B, Hkv, Skv_p, Dp), ACCUM),
            dV_acc: T.Tensor((B, Hkv, Skv_p, Dp), ACCUM),
        ):
            with T.Kernel(Hq, T.ceildiv(Skv, block_N), B, threads=threads) as (by, bx, bz):
                K_shared = T.alloc_shared((block_N, Dp), dtype)
                V_shared = T.alloc_shared((block_N, Dp), dtype)
                dk = T.alloc_fragment((block_N, Dp), ACCUM)
                dv = T.alloc_fragment((block_N, Dp), ACCUM)
                dk_shared = T.alloc_shared((block_N, Dp), ACCUM)
                dv_shared = T.alloc_shared((block_N, Dp), ACCUM)
                hkv = by // group
                T.copy(K[bz, hkv, bx * block_N, 0], K_shared)
                T.copy(V[bz, hkv, bx * block_N, 0], V_shared)
                T.clear(dk)
                T.clear(dv)
                main_loop(Q, K, V, dO, LSE, Delta, dQ_acc, dk, dv, K_shared, V_shared, bx, by, bz)
                T.copy(dv, dv_shared)
                reduce_into(dV_acc[bz, hkv, bx * block_N:(bx + 1) * block_N, 0:Dp], dv_shared)
                T.copy(dk, dk_shared)
                reduce_into(dK_acc[bz, hkv, bx * block_N:(bx + 1) * block_N, 0:Dp], dk_shared)
    else:
        @T.prim_func
        def backward(
            Q: T.Tensor((B, Hq, Sq, D), dtype),
            K: T.Tensor((B, Hkv, Skv, D), dtype),
            V: T.Tensor((B, Hkv, Skv, D), dtype),
            dO: T.Tensor((B, Hq, Sq, D), dtype),
            LSE: T.Tensor((B, Hq, Sq), ACCUM),
            Delta: T.Tensor((B, Hq, Sq), ACCUM),
            dQ_acc: T.Tensor((B, Hq, Dp, Sq_p), ACCUM),
            dK: T.Tensor((B, Hkv, Skv, D), dtype),
            dV: T.Tensor((B, Hkv, Skv, D), dtype),
        ):
            with T.Kernel(Hq, T.ceildiv(Skv, block_N), B, threads=threads) as (by, bx, bz):
                K_shared = T.alloc_shared((block_N, Dp), dtype)
                V_shared = T.alloc_shared((block_N, Dp), dtype)
                dk = T.alloc_fragment((block_N, Dp), ACCUM)
                dv = T.alloc_fragment((block_N, Dp), ACCUM)
                T.copy(K[bz, by, bx * block_N, 0], K_shared)
                T.copy(V[bz, by, bx * block_N, 0], V_shared)
                T.clear(dk)
                T.clear(dv)
                main_loop(Q, K, V, dO, LSE, Delta, dQ_acc, dk, dv, K_shared, V_shared, bx, by, bz)
                for j, d in T.Parallel(block_N, Dp):  # out through the K and V tiles, no longer read
                    K_shared[j, d] = dk[j, d] * scale
                    V_shared[j, d] = dv[j, d]
                T.copy(K_shared, dK[bz, by, bx * block_N, 0])
                T.copy(V_shared, dV[bz, by, bx * block_N, 0])

    rows = 64 if Dp <= 128 else 32  # the postprocess's rows a block

    @T.macro
    def cast_tile(src, dst, b, h, r0, factor):  # dst rows r0.. (clipped to D columns) = src's fp32 rows · factor
        acc = T.alloc_fragment((rows, Dp), ACCUM)
        out = T.alloc_shared((rows, Dp), dtype)
        T.copy(src[b, h, r0, 0], acc)
        for i, d in T.Parallel(rows, Dp):
            out[i, d] = acc[i, d] * factor
        T.copy(out, dst[b, h, r0, 0])

    @T.macro
    def cast_dq(dQ_acc, dQ):  # dQ_acc is transposed (head dim x queries)
        with T.Kernel(T.ceildiv(Sq, rows), Hq, B, threads=POST_THREADS) as (bx, by, bz):
            accT = T.alloc_fragment((Dp, rows), ACCUM)
            out = T.alloc_shared((rows, Dp), dtype)
            T.copy(dQ_acc[bz, by, 0, bx * rows], accT)
            for i, d in T.Parallel(rows, Dp):
                out[i, d] = accT[d, i] * scale
            T.copy(out, dQ[bz, by, bx * rows, 0])

    if grouped:
        @T.prim_func
        def postprocess(
            dQ_acc: T.Tensor((B, Hq, Dp, Sq_p), ACCUM),
            dK_acc: T.Tensor((B, Hkv, Skv_p, Dp), ACCUM),
            dV_acc: T.Tensor((B, Hkv, Skv_p, Dp), ACCUM),
            dQ: T.Tensor((B, Hq, Sq, D), dtype),
            dK: T.Tensor((B, Hkv, Skv, D), dtype),
            dV: T.Tensor((B, Hkv, Skv, D), dtype),
        ):
            cast_dq(dQ_acc, dQ)
            with T.Kernel(T.ceildiv(Skv, rows), Hkv, B, threads=POST_THREADS) as (bx, by, bz):
                cast_tile(dK_acc, dK, bz, by, bx * rows, scale)
                cast_tile(dV_acc, dV, bz, by, bx * rows, 1.0)
    else:
        @T.prim_func
        def postprocess(
            dQ_acc: T.Tensor((B, Hq, Dp, Sq_p), ACCUM),
            dQ: T.Tensor((B, Hq, Sq, D), dtype),
        ):
            cast_dq(dQ_acc, dQ)

    return {"preprocess": (preprocess, PASS_CONFIGS), "backward": (backward, PASS_CONFIGS),
            "postprocess": (postprocess, PASS_CONFIGS)}


def attention_bwd(kernels, q, k, v, o, lse, do, dq, dk, dv, delta, dq_accum, *dkv_accum):
    """dq, dk, dv with the compiled kernels: the fp32 accumulators zeroed, delta, the main
    kernel (dq by TMA reduce; dk, dv by TMA reduce with grouping, else stored), the casts."""
    dq_accum.zero_()
    for t in dkv_accum:
        t.zero_()
    kernels["preprocess"](o, do, delta)
    if dkv_accum:
        kernels["backward"](q, k, v, do, lse, delta, dq_accum, *dkv_accum)
        kernels["postprocess"](dq_accum, *dkv_accum, dq, dk, dv)
    else:
        kernels["backward"](q, k, v, do, lse, delta, dq_accum, dk, dv)
        kernels["postprocess"](dq_accum, dq)
