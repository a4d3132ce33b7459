"""Block-scaled FP8 GEMM in TileLang, best track: C = sum_k (A_k · B_kᵀ) * sa[:, k] * sb[n // 128, k],
written as DeepGEMM's Hopper kernel is (and TileLang's examples/deepseek_deepgemm).

Track: best (each DSL as its best public kernels; kernels/fp8_gemm/triton_best.py is Triton's).
Techniques:
- TMA for A, B and A's scales: a first kernel of this prim_func decodes A's scales to fp32
  and transposes them to sa_t (K/128, padded M), DeepGEMM's MN-major layout, so that one
  K-block's scales for a tile are one TMA box, loaded with the tile in each pipeline stage;
  B's scales (one or two a K-block for a tile) are read from global by the consumers, as
  DeepGEMM's math warps read them;
- warp specialization: a producer warpgroup (TileLang adds it: threads + 128) issues the TMA
  loads; the config's threads are the consumer warpgroups. With threads=256 two of them each
  own 64 rows (or 128 columns) of the tile: while one promotes its K-block's product into
  the fp32 sum on the CUDA cores, the other's wgmma runs on the tensor cores (DeepGEMM's
  overlap of the promotion);
- the two-level accumulation: each K-block's product starts from zero in an fp32 fragment,
  then sum += product * sa[row] * sb[column's scale block];
- tile N free of the 128-wide scale block: block_N=256 spans two B scale blocks (each column
  picks its own), 64 half of one;
- epilogue staged in shared memory, written by a TMA store (UTMASTG), bf16 (or the fp32
  split-K partial, summed by a last kernel in order, the same method as Triton's);
- a persistent grid (one block per SM) over (tile, K slice) work items in the grouped order,
  the same order as Triton's;
- warp policy FullRow: each consumer warpgroup owns 64 full rows (QGMMA 64x128x32; 64x64 for
  block_N=64); a 64-row tile of 256 columns puts its two warpgroups side by side along N.
Sizes are specialized (Python ints), TileLang's way. C rows that TMA cannot store (N not a
multiple of 8: rows not a multiple of 16 bytes) are stored through pointers instead
(spec.tma_store_compatible, the same rule as Triton's; `store_path` says which); the loads
are always TMA (K is a multiple of 128; sa_t's rows are padded to 16 bytes).

SASS on sm_90a: TMA load, TMA store, warp specialization, QGMMA 64x128, no spills.
"""
import tilelang.language as T

# the config list both DSLs share; the workspace both take (spec.workspace, best track)
from kernels.fp8_gemm.spec import (BLOCK, COMBINE_M, COMBINE_N, CONFIGS, GROUP_M, num_sms,  # noqa: F401
                                   padded_rows, tma_store_compatible)
from kernels.fp8_gemm.spec import workspace as shared_workspace

SCALE_TILE = 128  # A's scales transposed per block of this many rows


def store_path(N):
    """'tma', or 'pointers' where TMA cannot store C's rows (N not a multiple of 8)."""
    return "tma" if tma_store_compatible(dict(N=N)) else "pointers"


def scale_value(s, ue8m0):
    """A scale as stored -> fp32: an exponent byte goes into fp32's exponent field."""
    if ue8m0:
        return T.reinterpret(value=T.shift_left(T.Cast("int32", s), 23), dtype="float32")
    return s


def column_scale(sb, j):
    """The B scale of tile column j: sb[0], or sb[1] past the first 128 columns (block_N=256)."""
    return sb[0] if sb.shape[0] == 1 else T.if_then_else(j < BLOCK, sb[0], sb[1])


def work_item(item, tiles_m, tiles_n, split_k):
    """Work item -> (tile row, tile column, K slice): a tile's K slices are adjacent items;
    tiles in the grouped order (GROUP_M tile rows walked down before moving right)."""
    tile, split = item // split_k, item % split_k
    per_group = GROUP_M * tiles_n
    first_m = (tile // per_group) * GROUP_M
    group_rows = T.min(tiles_m - first_m, GROUP_M)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows, split


def fp8_gemm_kernel(M, N, K, ue8m0, dtype, block_M, block_N, num_stages, threads, split_k):
    """Return the prim_func (A, SA, B, SB, C, sa_t[, partial]) for one shape, scale format and config.

    dtype is A's and B's format, "float8_e4m3fn", with C in bfloat16; on the C backend,
    which has neither type, both are "float32" (values already rounded: the harness's emulation)."""
    c_dtype = "bfloat16" if dtype == "float8_e4m3fn" else dtype
    scale_dtype = "uint8" if ue8m0 else "float32"
    accum = "float32"
    no_tma_store = store_path(N) != "tma"
    KB, Mp, nsb = K // BLOCK, padded_rows(M), T.ceildiv(N, BLOCK)
    scale_blocks = max(1, block_N // BLOCK)  # B scale blocks one tile spans
    assert scale_blocks <= 2, "a tile spans at most two B scale blocks"
    tiles_m, tiles_n = T.ceildiv(M, block_M), T.ceildiv(N, block_N)
    items = tiles_m * tiles_n * split_k
    sms = min(num_sms(), items)
    waves = T.ceildiv(items, sms)
    k_tiles = T.ceildiv(KB, split_k)  # per K slice; TMA zero-fills K-blocks past K

    @T.macro
    def transpose_scales(SA, SA_T):
        """sa_t[k, m] = sa[m, k] as fp32 (0 in the padding rows)."""
        with T.Kernel(T.ceildiv(Mp, SCALE_TILE), KB, threads=SCALE_TILE) as (bx, kb):
            for i in T.Parallel(SCALE_TILE):
                m = bx * SCALE_TILE + i
                if m < Mp:
                    SA_T[kb, m] = T.if_then_else(m < M, scale_value(SA[T.min(m, M - 1), kb], ue8m0), 0.0)

    @T.macro
    def tiles(A, SA_T, B, SB, out):
        """Each block: work items block_id, block_id + sms, ...: a tile of C (split_k = 1) or
        of one K slice's partial (out[split])."""
        with T.Kernel(sms, threads=threads) as (block_id,):
            A_shared = T.alloc_shared((block_M, BLOCK), dtype)
            B_shared = T.alloc_shared((block_N, BLOCK), dtype)
            SA_shared = T.alloc_shared((1, block_M), accum)
            C_block = T.alloc_fragment((block_M, block_N), accum)
            C_local = T.alloc_fragment((block_M, block_N), accum)
            C_shared = T.alloc_shared((block_M, block_N), out.dtype)
            sb = T.alloc_local((scale_blocks,), accum)
            for wave in T.serial(waves):
                item = wave * sms + block_id
                pid_m, pid_n, split = work_item(item, tiles_m, tiles_n, split_k)
                first_sb = (pid_n * block_N) // BLOCK
                if item < items:
                    T.clear(C_local)
                    for k in T.Pipelined(k_tiles, num_stages=num_stages):
                        kk = split * k_tiles + k
                        T.copy(A[pid_m * block_M, kk * BLOCK], A_shared)
                        T.copy(B[pid_n * block_N, kk * BLOCK], B_shared)
                        T.copy(SA_T[kk:kk + 1, pid_m * block_M:pid_m * block_M + block_M], SA_shared)
                        for t in T.serial(scale_blocks):  # a K-block past K multiplies zeros
                            sb[t] = scale_value(SB[T.min(first_sb + t, nsb - 1), T.min(kk, KB - 1)], ue8m0)
                        T.clear(C_block)
                        T.gemm(A_shared, B_shared, C_block, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                        for i, j in T.Parallel(block_M, block_N):
                            C_local[i, j] += C_block[i, j] * SA_shared[0, i] * column_scale(sb, j)
                    T.copy(C_local, C_shared)
                    if split_k == 1:
                        T.copy(C_shared, out[pid_m * block_M, pid_n * block_N], disable_tma=no_tma_store)
                    else:
                        T.copy(C_shared, out[split, pid_m * block_M, pid_n * block_N], disable_tma=no_tma_store)

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

    shapes = dict(A=(M, K), SA=(M, KB), B=(N, K), SB=(nsb, KB), C=(M, N), sa_t=(KB, Mp))
    if split_k == 1:
        @T.prim_func
        def fp8_gemm(A: T.Tensor(shapes["A"], dtype), SA: T.Tensor(shapes["SA"], scale_dtype),
                     B: T.Tensor(shapes["B"], dtype), SB: T.Tensor(shapes["SB"], scale_dtype),
                     C: T.Tensor(shapes["C"], c_dtype), sa_t: T.Tensor(shapes["sa_t"], accum)):
            transpose_scales(SA, sa_t)
            tiles(A, sa_t, B, SB, C)
    else:
        @T.prim_func
        def fp8_gemm(A: T.Tensor(shapes["A"], dtype), SA: T.Tensor(shapes["SA"], scale_dtype),
                     B: T.Tensor(shapes["B"], dtype), SB: T.Tensor(shapes["SB"], scale_dtype),
                     C: T.Tensor(shapes["C"], c_dtype), sa_t: T.Tensor(shapes["sa_t"], accum),
                     partial: T.Tensor((split_k, M, N), accum)):
            transpose_scales(SA, sa_t)
            tiles(A, sa_t, B, SB, partial)
            splitk_sum(partial, C)

    return fp8_gemm


def workspace(shape, dtype, config, device):
    """sa_t and the split-K partials (spec.workspace, best track): the buffers Triton's kernel takes."""
    return shared_workspace(shape, dtype, config, device, "best")
