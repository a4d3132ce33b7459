"""Matmul in TileLang, matched track: C = A·B, tiled, software-pipelined, fp32 accumulation.

Track: matched, the same code path as kernels/matmul/triton_matched.py, so that a gap on a
GPU is code generation:
- loads: T.copy into shared memory inside T.Pipelined, lowered to cp.async (LDGSTS), because
  PASS_CONFIGS turn TMA lowering and warp specialization off (as DeepSeek's inference
  kernels ship): no producer warpgroup, the thread count is the config's, as Triton's;
- sizes: specialized in both DSLs, M, N and K Python ints here, tl.constexpr in Triton
  (symbolic sizes, T.dynamic, would cost 2.5x this kernel's CPU-path compile time); the
  operands are contiguous; T.copy checks bounds only where a size is not a multiple of its
  tile, as Triton's EVEN_M/N/K masks do;
- the same grouped tile order as Triton's, written out on a 1-D grid of tiles (no T.use_swizzle);
- epilogue: C_local -> C_shared -> C, as Triton's store goes through shared memory;
- MMA: GemmWarpPolicy.FullRow stacks the warps along M, one warpgroup per 64 rows, as
  Triton's wgmma layout does, so both issue the same HGMMA shape (64 x block_N for 128 x N tiles);
- fast math off (TileLang's default; said aloud in PASS_CONFIGS);
- split_k > 1: each K slice writes an fp32 partial to the workspace and a second kernel of
  this prim_func sums the slices in order (the same method as Triton's).

SASS on sm_90a: cp.async, HGMMA 64x128, no spills. Not: TMA load, TMA store, warp specialization.
"""
import tilelang.language as T

# the config list both DSLs share; the split-K workspace both take (spec.workspace)
from kernels.matmul.spec import COMBINE_M, COMBINE_N, CONFIGS, GROUP_M, workspace  # noqa: F401

PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True, "tl.enable_fast_math": False}


def grouped_tile(tile, tiles_m, tiles_n):
    """Tile number -> (row, column) of tiles: GROUP_M tile rows are walked down before moving right."""
    per_group = GROUP_M * tiles_n
    first_m = (tile // per_group) * GROUP_M
    group_rows = T.min(tiles_m - first_m, GROUP_M)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows


def matmul_kernel(M, N, K, dtype, block_M, block_N, block_K, num_stages, threads, split_k):
    """Return the prim_func C = A·B (and the split-K partials) for one shape, dtype and config."""
    accum = "float32"
    tiles_m, tiles_n = T.ceildiv(M, block_M), T.ceildiv(N, block_N)
    k_tiles = T.ceildiv(K, block_K * split_k)  # per K slice

    @T.macro
    def tiles(A, B, out):
        """Each block: one tile of C (split_k = 1) or of one K slice's partial (out[split])."""
        with T.Kernel(tiles_m * tiles_n, split_k, threads=threads) as (tile, split):
            A_shared = T.alloc_shared((block_M, block_K), dtype)
            B_shared = T.alloc_shared((block_K, block_N), dtype)
            C_local = T.alloc_fragment((block_M, block_N), accum)
            C_shared = T.alloc_shared((block_M, block_N), out.dtype)
            pid_m, pid_n = grouped_tile(tile, tiles_m, tiles_n)

            T.clear(C_local)
            for k in T.Pipelined(k_tiles, num_stages=num_stages):
                kk = split * k_tiles + k
                T.copy(A[pid_m * block_M, kk * block_K], A_shared)
                T.copy(B[kk * block_K, pid_n * block_N], B_shared)
                T.gemm(A_shared, B_shared, C_local, policy=T.GemmWarpPolicy.FullRow)
            T.copy(C_local, C_shared)
            if split_k == 1:
                T.copy(C_shared, out[pid_m * block_M, pid_n * block_N])
            else:
                T.copy(C_shared, out[split, pid_m * block_M, pid_n * block_N])

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

