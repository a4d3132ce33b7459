"""MoE grouped GEMM in TileLang, matched track: C[rows of expert e] = A[those rows] · B[e]ᵀ, bf16 or
block-scaled e4m3, in DeepGEMM's contiguous and masked layouts.

Track: matched, the same code path as kernels/grouped_gemm/triton_matched.py, so that a gap on
a GPU is code generation. One program per output tile of one expert:
- grid: x the block_N-wide column tiles, y the block_M-high row tiles (contiguous: R / block_M;
  masked: M_max / block_M rounded up), z the experts (masked; 1 contiguous); contiguous: a
  tile's expert is grouped_layout of its first row (block_M divides ALIGN_M: a tile never spans
  two experts), -1 (all padding) does nothing; masked: expert z, a tile at or past its count
  does nothing;
- loads: K walked in K / block_K steps (64 bf16, 128 e4m3: one scale block) through a
  num_stages-deep pipeline (T.Pipelined), A's and B[e]'s (N, K) tiles copied to shared memory
  as cp.async (LDGSTS): PASS_CONFIGS turn TMA lowering and warp specialization off, as the
  other matched TileLang kernels (no producer warpgroup, the thread count is the config's, as
  Triton's); columns past N load as zeros; contiguous: every row of a tile is read (padding
  rows are don't-care); masked: only rows below the count, the others zero-filled (a
  predicated cp.async, as Triton's masked load; the loop's pipeline schedule is written out
  for it: `schedule` below);
- e4m3: fp8_gemm's two-level sum: each K-block's product starts from zero in an fp32 fragment
  (the tensor-core chain; clear_accum: its first MMA adds nothing, as Triton's tl.dot without
  an accumulator; a T.clear before the gemm instead costs 132 bytes of spills at 128 x 128,
  3 stages, as it does in kernels/fp8_gemm/tilelang_matched.py), is scaled by the product
  sa[row, k] * sb[e, n_block, k] (one sb per K-block: block_N divides 128; the two scales
  multiplied first, in both DSLs, as fp8_gemm: scaling the product by sa and then by sb took
  this kernel from 161 to 255 registers at 128 x 128) and added into the
  fp32 tile accumulator; the scales are read from global into registers, ue8m0 bytes shifted
  into fp32's exponent field; bf16: T.gemm accumulates into the fp32 tile accumulator;
- epilogue: the accumulator cast to bf16 and stored from registers (fragment -> global), with
  the Triton kernel's masks: columns below N, and masked rows below the count (C's rows past
  it keep their poison);
- MMA: GemmWarpPolicy.FullRow (one warpgroup per 64 rows), as Triton's wgmma layout:
  HGMMA 64 x block_N (bf16), QGMMA 64 x block_N (e4m3);
- sizes: specialized (Python ints), as tl.constexpr in Triton; fast math off (TileLang's
  default, said aloud in PASS_CONFIGS).
The factory returns {"bf16" or "e4m3": (prim_func, PASS_CONFIGS)} (bf16 takes no scales: the
host function drops the empty sa and sb). On the C backend, which has neither bf16 nor fp8,
both dtypes arrive as "float32" (values already rounded: the harness's emulation), so both
kernels are built and the host function picks one by sa (empty: bf16).

SASS on sm_90a: cp.async, HGMMA 64x128, no spills. Not: TMA load, TMA store, warp specialization.
"""
import tilelang.language as T

from kernels.fp8_gemm.tilelang_matched import scale_value  # fp8_gemm matched's scale decoder
from kernels.grouped_gemm.spec import BLOCK, CONFIGS, block_k, rows  # noqa: F401  (CONFIGS: the list both DSLs share)

PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True, "tl.enable_fast_math": False}


def grouped_gemm_kernel(G, M, N, K, masked, ue8m0, dtype, block_M, block_N, num_stages, threads):
    """{name: (prim_func, PASS_CONFIGS)} for one shape and config: "bf16" (A, B, grouped_layout,
    C) or "e4m3" (A, SA, B, SB, grouped_layout, C); both for "float32" (the C backend's emulation
    of either). dtype is A's and B's format; C is bfloat16 ("float32" on the C backend)."""
    shape = dict(G=G, M=M, N=N, K=K, masked=masked, ue8m0=ue8m0)
    if dtype == "float32":
        names = ("bf16", "e4m3")
    else:
        names = ("e4m3",) if dtype == "float8_e4m3fn" else ("bf16",)
    return {name: (build(shape, rows(shape), dtype, name == "e4m3", block_M, block_N, num_stages, threads),
                   PASS_CONFIGS) for name in names}


def build(shape, R, dtype, scaled, block_M, block_N, num_stages, threads):
    """The prim_func of one layout and dtype (scaled: e4m3 with its scales)."""
    G, N, K, masked, ue8m0 = shape["G"], shape["N"], shape["K"], bool(shape["masked"]), shape["ue8m0"]
    c_dtype = "float32" if dtype == "float32" else "bfloat16"
    scale_dtype = "uint8" if ue8m0 else "float32"
    accum = "float32"
    block_K = block_k("e4m3" if scaled else "bf16")
    k_tiles, KB, NB = K // block_K, K // BLOCK, -(-N // BLOCK)
    tiles_n, tiles_m = T.ceildiv(N, block_N), T.ceildiv(R, block_M)  # contiguous: R % block_M == 0
    ragged_n = N % block_N != 0
    lead = (G,) if masked else ()  # masked: every tensor of rows has an expert axis first
    shapes = dict(A=(*lead, R, K), SA=(*lead, R, KB), B=(G, N, K), SB=(G, NB, KB), GL=(G,) if masked else (R,),
                  C=(*lead, R, N))

    # TileLang's own plan of this loop for the contiguous layout (its automatic PipelinePlanning:
    # the same CUDA), written out so that the masked layout's A load, a copy under a condition,
    # is scheduled alike: TileLang 0.1.15 plans such a load as compute (synchronous, through
    # registers, one buffer), but, placed in stage 0 by hand, issues it as a predicated cp.async
    # that zero-fills the rows past the count (Triton's masked load). Statements: bf16 (A, B,
    # gemm); e4m3 (A, B, scales, gemm, promotion): the copies of step k + num_stages go out
    # after step k's gemm, into the buffer it has just read.
    # finding: findings/tilelang_masked_load_not_pipelined.py
    if scaled:
        schedule = dict(order=[2, 3, 0, 1, 4], stage=[0, 0, num_stages, num_stages, num_stages])
    else:
        schedule = dict(order=[0, 1, 2], stage=[0, 0, num_stages - 1])

    @T.macro
    def tiles(A, SA, B, SB, GL, C):
        with T.Kernel(tiles_n, tiles_m, G if masked else 1, threads=threads) as (bx, by, bz):
            A_shared = T.alloc_shared((block_M, block_K), dtype)
            B_shared = T.alloc_shared((block_N, block_K), dtype)
            C_local = T.alloc_fragment((block_M, block_N), accum)
            if scaled:
                C_block = T.alloc_fragment((block_M, block_N), accum)
                scale = T.alloc_fragment((block_M,), accum)
            row0, col0 = by * block_M, bx * block_N
            n_block = col0 // BLOCK  # one sb per K-block: block_N divides 128
            if masked:
                expert = bz
                count = GL[bz]
                live = row0 < count
            else:
                expert = GL[row0]
                live = expert >= 0
            if live:
                T.clear(C_local)
                for k in T.Pipelined(k_tiles, **schedule):
                    if masked:  # rows at or past the count: not read, zeros
                        for i, j in T.Parallel(block_M, block_K):
                            A_shared[i, j] = T.if_then_else(row0 + i < count, A[bz, row0 + i, k * block_K + j],
                                                            T.Cast(dtype, 0))
                    else:  # every row of the tile: padding rows are don't-care
                        T.copy(A[row0, k * block_K], A_shared)
                    T.copy(B[expert, col0, k * block_K], B_shared)  # columns past N: zeros
                    if scaled:
                        for i in T.Parallel(block_M):
                            if masked:
                                sa = T.if_then_else(row0 + i < count, scale_value(SA[bz, row0 + i, k], ue8m0),
                                                    T.float32(0))
                            else:
                                sa = scale_value(SA[row0 + i, k], ue8m0)
                            scale[i] = sa * scale_value(SB[expert, n_block, k], ue8m0)
                        # clear_accum, not T.clear (module docstring); finding: findings/tilelang_clear_before_gemm_registers.py
                        T.gemm(A_shared, B_shared, C_block, transpose_B=True, clear_accum=True,
                               policy=T.GemmWarpPolicy.FullRow)
                        for i, j in T.Parallel(block_M, block_N):
                            C_local[i, j] += C_block[i, j] * scale[i]
                    else:
                        T.gemm(A_shared, B_shared, C_local, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                # from registers, masked as Triton's store: columns below N, masked rows below the count
                for i, j in T.Parallel(block_M, block_N):
                    if masked:
                        if ragged_n:
                            if row0 + i < count and col0 + j < N:
                                C[bz, row0 + i, col0 + j] = T.Cast(c_dtype, C_local[i, j])
                        else:
                            if row0 + i < count:
                                C[bz, row0 + i, col0 + j] = T.Cast(c_dtype, C_local[i, j])
                    else:
                        if ragged_n:
                            if col0 + j < N:
                                C[row0 + i, col0 + j] = T.Cast(c_dtype, C_local[i, j])
                        else:
                            C[row0 + i, col0 + j] = T.Cast(c_dtype, C_local[i, j])

    if scaled:
        @T.prim_func
        def grouped_gemm_e4m3(A: T.Tensor(shapes["A"], dtype), SA: T.Tensor(shapes["SA"], scale_dtype),
                              B: T.Tensor(shapes["B"], dtype), SB: T.Tensor(shapes["SB"], scale_dtype),
                              GL: T.Tensor(shapes["GL"], "int32"), C: T.Tensor(shapes["C"], c_dtype)):
            tiles(A, SA, B, SB, GL, C)
        return grouped_gemm_e4m3

    @T.prim_func
    def grouped_gemm_bf16(A: T.Tensor(shapes["A"], dtype), B: T.Tensor(shapes["B"], dtype),
                          GL: T.Tensor(shapes["GL"], "int32"), C: T.Tensor(shapes["C"], c_dtype)):
        tiles(A, None, B, None, GL, C)
    return grouped_gemm_bf16


def grouped_gemm(kernels, a, sa, b, sb, grouped_layout, c):
    """C with the compiled kernel of the inputs' dtype: bf16's (empty sa, sb: dropped) or e4m3's."""
    if sa.numel() == 0:
        kernels["bf16"](a, b, grouped_layout, c)
    else:
        kernels["e4m3"](a, sa, b, sb, grouped_layout, c)
