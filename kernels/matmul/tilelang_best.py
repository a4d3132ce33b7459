"""Matmul in TileLang, best track: C = A·B as TileLang's own Hopper GEMMs are written
(examples/gemm/example_gemm_persistent.py, its warp-specialized TMA pipeline).

Track: best (each DSL as its best public kernels; kernels/matmul/triton_best.py is Triton's).
Techniques:
- TMA and warp specialization, TileLang's defaults on Hopper: T.copy into shared memory in
  T.Pipelined lowers to TMA loads (UTMALDG) issued by a producer warpgroup that TileLang adds
  (threads + 128), the config's threads being the consumer (MMA) warpgroups;
- epilogue staged in shared memory and written by a TMA store (C_local -> C_shared -> C, UTMASTG);
- a persistent grid (one block per SM) walking the work items (tile, K slice) in the same
  grouped order as Triton's (GROUP_M tile rows before moving right), so B stays in L2;
- warp policy FullRow: each consumer warpgroup owns 64 full rows of the tile, so a 128 x 256
  tile issues the widest Hopper MMA, HGMMA 64x256x16;
- split_k > 1 (decode shapes): each K slice's tile goes to an fp32 partial by TMA store and a
  second kernel of this prim_func sums the slices in order (the same method as Triton's);
- sizes specialized (Python ints), TileLang's way: the kernel is built per shape.
Shapes TMA cannot take (a row stride not a multiple of 16 bytes, e.g. K=100 in fp16): every
T.copy is built with disable_tma, so the loads are cp.async and there is no producer
warpgroup (spec.tma_compatible decides, as for Triton; `load_path` says which path a shape
gets). Left to itself, TileLang 0.1.15 mixes TMA and non-TMA copies in one warp-specialized
kernel there, which ptxas refuses (K=100, N=1024 in fp16: "Insufficient registers").

SASS on sm_90a: TMA load, TMA store, warp specialization, HGMMA 64x128, no spills. Not: cp.async.
"""
import tilelang.language as T

# the config list both DSLs share; the split-K workspace both take (spec.workspace)
from kernels.matmul.spec import (CONFIGS, COMBINE_M, COMBINE_N, GROUP_M, num_sms,  # noqa: F401
                                 tma_compatible, workspace)

ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def load_path(M, N, K, dtype):
    """'tma', or 'cp.async' where TMA cannot address the operands (dtype: TileLang's name)."""
    return "tma" if tma_compatible(dict(M=M, N=N, K=K), ITEMSIZE[dtype]) else "cp.async"


def work_item(item, tiles_m, tiles_n, split_k):
    """Work item -> (tile row, tile column, K slice): a tile's K slices are adjacent items;
    tiles in the grouped order (GROUP_M tile rows walked down before moving right)."""
    tile, split = item // split_k, item % split_k
    per_group = GROUP_M * tiles_n
    first_m = (tile // per_group) * GROUP_M
    group_rows = T.min(tiles_m - first_m, GROUP_M)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows, split


def matmul_kernel(M, N, K, dtype, block_M, block_N, block_K, num_stages, threads, split_k):
    """Return the prim_func C = A·B (and the split-K partials) for one shape, dtype and config."""
    accum = "float32"
    no_tma = load_path(M, N, K, dtype) != "tma"
    # no TMA for any copy when one cannot take it; finding: findings/tilelang_ws_mixed_tma_insufficient_registers.py
    tiles_m, tiles_n = T.ceildiv(M, block_M), T.ceildiv(N, block_N)
    items = tiles_m * tiles_n * split_k
    sms = min(num_sms(), items)
    waves = T.ceildiv(items, sms)
    k_tiles = T.ceildiv(K, block_K * split_k)  # per K slice; TMA zero-fills past K

    @T.macro
    def tiles(A, B, out):
        """Each block: work items block_id, block_id + sms, ...: a tile of C (split_k = 1) or
        of one K slice's partial (out[split])."""
        with T.Kernel(sms, threads=threads) as (block_id,):
            A_shared = T.alloc_shared((block_M, block_K), dtype)
            B_shared = T.alloc_shared((block_K, block_N), dtype)
            C_local = T.alloc_fragment((block_M, block_N), accum)
            C_shared = T.alloc_shared((block_M, block_N), out.dtype)
            for wave in T.serial(waves):
                item = wave * sms + block_id
                pid_m, pid_n, split = work_item(item, tiles_m, tiles_n, split_k)
                if item < items:
                    T.clear(C_local)
                    for k in T.Pipelined(k_tiles, num_stages=num_stages):
                        kk = split * k_tiles + k
                        T.copy(A[pid_m * block_M, kk * block_K], A_shared, disable_tma=no_tma)
                        T.copy(B[kk * block_K, pid_n * block_N], B_shared, disable_tma=no_tma)
                        T.gemm(A_shared, B_shared, C_local, policy=T.GemmWarpPolicy.FullRow)
                    T.copy(C_local, C_shared)
                    if split_k == 1:
                        T.copy(C_shared, out[pid_m * block_M, pid_n * block_N], disable_tma=no_tma)
                    else:
                        T.copy(C_shared, out[split, pid_m * block_M, pid_n * block_N], disable_tma=no_tma)

    @T.macro
    def splitk_sum(Partial, C):
        """C = sum over s of Partial[s], in order s = 0, 1, ... (deterministic), in C's dtype."""
        with T.Kernel(T.ceildiv(N, COMBINE_N), T.ceildiv(M, COMBINE_M), threads=128) as (bx, by):
            acc = T.alloc_fragment((COMBINE_M, COMBINE_N), accum)
            part = T.alloc_fragment((COMBINE_M, COMBINE_N), accum)
            T.clear(acc)
            for s in T.serial(split_k):
                T.copy(Partial[s, by * COMBINE_M, bx * COMBINE_N], part)
                for i, j in T.Parallel(COMBINE_M, COMBINE_N):
                    acc[i, j] += part[i, j]
            T.copy(acc, C[by * COMBINE_M, bx * COMBINE_N])

    if split_k == 1:
        @T.prim_func
        def matmul(A: T.Tensor((M, K), dtype), B: T.Tensor((K, N), dtype), C: T.Tensor((M, N), dtype)):
            tiles(A, B, C)
    else:
        @T.prim_func
        def matmul(A: T.Tensor((M, K), dtype), B: T.Tensor((K, N), dtype), C: T.Tensor((M, N), dtype),
                   partial: T.Tensor((split_k, M, N), accum)):
            tiles(A, B, partial)
            splitk_sum(partial, C)

    return matmul
