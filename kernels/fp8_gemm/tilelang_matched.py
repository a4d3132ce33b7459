"""Block-scaled FP8 GEMM in TileLang: C = sum_k (A_k · B_kᵀ) * sa[:, k] * sb[n // 128, k].

The same algorithm as kernels/fp8_gemm/triton_matched.py: each block computes one block_M x 128
tile of C, walking K in 128-deep blocks (one scale each) through a num_stages-deep
pipeline (T.Pipelined); each block's product starts from zero in an fp32 fragment (the
tensor-core chain), is scaled by sa * sb and added into the fp32 tile accumulator (the
promotion). Blocks are rasterized in panels so that neighbours share B in L2. T.copy
zero-fills the ragged edges and clips the store; scale reads are clamped to row M - 1 by hand.
"""
import tilelang.language as T

from kernels.fp8_gemm.spec import BLOCK, CONFIGS  # noqa: F401  (the config list both DSLs share)

GROUP_M = 8  # panel width of the block rasterization, as Triton's GROUP_M


def scale_value(s, ue8m0):
    """A scale as stored -> fp32: an exponent byte goes into fp32's exponent field."""
    if ue8m0:
        return T.reinterpret(value=T.shift_left(T.Cast("int32", s), 23), dtype="float32")
    return s


def fp8_gemm_kernel(M, N, K, ue8m0, dtype, block_M, num_stages, threads):
    """Return the prim_func (A, SA, B, SB, C) for one shape, scale format and config.

    dtype is A's and B's format, "float8_e4m3fn", with C in bfloat16; on the C backend,
    which has neither type, both are "float32" (values already rounded: the harness's emulation)."""
    c_dtype = "bfloat16" if dtype == "float8_e4m3fn" else dtype
    scale_dtype = "uint8" if ue8m0 else "float32"
    accum = "float32"

    @T.prim_func
    def fp8_gemm(
        A: T.Tensor((M, K), dtype),
        SA: T.Tensor((M, K // BLOCK), scale_dtype),
        B: T.Tensor((N, K), dtype),
        SB: T.Tensor((T.ceildiv(N, BLOCK), K // BLOCK), scale_dtype),
        C: T.Tensor((M, N), c_dtype),
    ):
        with T.Kernel(T.ceildiv(N, BLOCK), T.ceildiv(M, block_M), threads=threads) as (bx, by):
            A_shared = T.alloc_shared((block_M, BLOCK), dtype)
            B_shared = T.alloc_shared((BLOCK, BLOCK), dtype)
            scale_shared = T.alloc_shared((block_M,), accum)
            C_block = T.alloc_fragment((block_M, BLOCK), accum)
            C_local = T.alloc_fragment((block_M, BLOCK), accum)

            T.use_swizzle(panel_size=GROUP_M)
            T.clear(C_local)
            for k in T.Pipelined(K // BLOCK, num_stages=num_stages):
                T.copy(A[by * block_M, k * BLOCK], A_shared)
                T.copy(B[bx * BLOCK, k * BLOCK], B_shared)
                for i in T.Parallel(block_M):
                    sa = scale_value(SA[T.min(by * block_M + i, M - 1), k], ue8m0)
                    scale_shared[i] = sa * scale_value(SB[bx, k], ue8m0)
                T.clear(C_block)
                T.gemm(A_shared, B_shared, C_block, transpose_B=True)
                for i, j in T.Parallel(block_M, BLOCK):
                    C_local[i, j] += C_block[i, j] * scale_shared[i]
            T.copy(C_local, C[by * block_M, bx * BLOCK])

    return fp8_gemm
