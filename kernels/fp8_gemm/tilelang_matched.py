"""Block-scaled FP8 GEMM in TileLang, matched track: C = sum_k (A_k · B_kᵀ) * sa[:, k] * sb[n // 128, k].

Track: matched, the same code path as kernels/fp8_gemm/triton_matched.py, so that a gap on a
GPU is code generation. Each block computes one block_M x 128 tile of C, walking K in
128-deep blocks (one scale each) through a num_stages-deep pipeline (T.Pipelined); each
block's product starts from zero in an fp32 fragment (the tensor-core chain), is scaled by
sa * sb and added into the fp32 tile accumulator (the promotion).
- loads: T.copy lowered to cp.async (LDGSTS): PASS_CONFIGS turn TMA lowering and warp
  specialization off, as DeepSeek's inference/kernel.py ships them; no producer warpgroup,
  the thread count is the config's, as Triton's; the scales are read from global into
  registers (a fragment), as Triton holds them (staged in shared memory instead, TileLang
  0.1.15 spills up to 400 bytes here);
- sizes: specialized in both DSLs, M, N and K Python ints here, tl.constexpr in Triton
  (symbolic sizes, T.dynamic, would cost 2.5x the CPU-path compile time); bounds are checked
  only where a size is not a multiple of its tile, as Triton's EVEN_M/N/K masks do;
- the same grouped tile order as Triton's, written out on a 1-D grid of tiles;
- epilogue: C_local -> C_shared -> C, as Triton's store goes through shared memory;
- MMA: GemmWarpPolicy.FullRow (one warpgroup per 64 rows), as Triton's layout: QGMMA 64x128x32;
- fast math off (TileLang's default, said aloud in PASS_CONFIGS);
- split_k > 1: each K slice writes an fp32 partial to the workspace and a second kernel of
  this prim_func sums the slices in order (the same method as Triton's).
Scale reads are clamped to row M - 1 and K-block K/128 - 1 by hand (their products land in
rows or K-blocks that are zero-filled or clipped).

SASS on sm_90a: cp.async, QGMMA 64x128, no spills. Not: TMA load.
"""
import tilelang.language as T

# the config list both DSLs share; the split-K workspace both take (spec.workspace)
from kernels.fp8_gemm.spec import BLOCK, COMBINE_M, COMBINE_N, CONFIGS, GROUP_M  # noqa: F401
from kernels.fp8_gemm.spec import workspace as shared_workspace

PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True, "tl.enable_fast_math": False}


def scale_value(s, ue8m0):
    """A scale as stored -> fp32: an exponent byte goes into fp32's exponent field."""
    if ue8m0:
        return T.reinterpret(value=T.shift_left(T.Cast("int32", s), 23), dtype="float32")
    return s


def grouped_tile(tile, tiles_m, tiles_n):
    """Tile number -> (row, column) of tiles: GROUP_M tile rows are walked down before moving right."""
    per_group = GROUP_M * tiles_n
    first_m = (tile // per_group) * GROUP_M
    group_rows = T.min(tiles_m - first_m, GROUP_M)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows


def fp8_gemm_kernel(M, N, K, ue8m0, dtype, block_M, num_stages, threads, split_k):
    """Return the prim_func (A, SA, B, SB, C[, partial]) for one shape, scale format and config.

    dtype is A's and B's format, "float8_e4m3fn", with C in bfloat16; on the C backend,
    which has neither type, both are "float32" (values already rounded: the harness's emulation)."""
    c_dtype = "bfloat16" if dtype == "float8_e4m3fn" else dtype
    scale_dtype = "uint8" if ue8m0 else "float32"
    accum = "float32"
    KB = K // BLOCK  # K-blocks, one scale each
    k_tiles = T.ceildiv(KB, split_k)  # per K slice
    tiles_m, tiles_n = T.ceildiv(M, block_M), T.ceildiv(N, BLOCK)

    @T.macro
    def tiles(A, SA, B, SB, out):
        """Each block: one tile of C (split_k = 1) or of one K slice's partial (out[split])."""
        with T.Kernel(tiles_m * tiles_n, split_k, threads=threads) as (tile, split):
            A_shared = T.alloc_shared((block_M, BLOCK), dtype)
            B_shared = T.alloc_shared((BLOCK, BLOCK), dtype)
            scale = T.alloc_fragment((block_M,), accum)
            C_block = T.alloc_fragment((block_M, BLOCK), accum)
            C_local = T.alloc_fragment((block_M, BLOCK), accum)
            C_shared = T.alloc_shared((block_M, BLOCK), out.dtype)
            pid_m, pid_n = grouped_tile(tile, tiles_m, tiles_n)

            T.clear(C_local)
            for k in T.Pipelined(k_tiles, num_stages=num_stages):
                kk = split * k_tiles + k
                T.copy(A[pid_m * block_M, kk * BLOCK], A_shared)
                T.copy(B[pid_n * BLOCK, kk * BLOCK], B_shared)
                kb = T.min(kk, KB - 1)
                for i in T.Parallel(block_M):
                    sa = scale_value(SA[T.min(pid_m * block_M + i, M - 1), kb], ue8m0)
                    scale[i] = sa * scale_value(SB[pid_n, kb], ue8m0)
                T.clear(C_block)
                T.gemm(A_shared, B_shared, C_block, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                for i, j in T.Parallel(block_M, BLOCK):
                    C_local[i, j] += C_block[i, j] * scale[i]
            T.copy(C_local, C_shared)
            if split_k == 1:
                T.copy(C_shared, out[pid_m * block_M, pid_n * BLOCK])
            else:
                T.copy(C_shared, out[split, pid_m * block_M, pid_n * BLOCK])

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

    shapes = dict(A=(M, K), SA=(M, KB), B=(N, K), SB=(T.ceildiv(N, BLOCK), KB), C=(M, N))
    if split_k == 1:
        @T.prim_func
        def fp8_gemm(A: T.Tensor(shapes["A"], dtype), SA: T.Tensor(shapes["SA"], scale_dtype),
                     B: T.Tensor(shapes["B"], dtype), SB: T.Tensor(shapes["SB"], scale_dtype),
                     C: T.Tensor(shapes["C"], c_dtype)):
            tiles(A, SA, B, SB, C)
    else:
        @T.prim_func
        def fp8_gemm(A: T.Tensor(shapes["A"], dtype), SA: T.Tensor(shapes["SA"], scale_dtype),
                     B: T.Tensor(shapes["B"], dtype), SB: T.Tensor(shapes["SB"], scale_dtype),
                     C: T.Tensor(shapes["C"], c_dtype), partial: T.Tensor((split_k, M, N), accum)):
            tiles(A, SA, B, SB, partial)
            splitk_sum(partial, C)

    return fp8_gemm


def workspace(shape, dtype, config, device):
    """The split-K partials (spec.workspace, matched track): the same buffer Triton's kernel takes."""
    return shared_workspace(shape, dtype, config, device, "matched")
