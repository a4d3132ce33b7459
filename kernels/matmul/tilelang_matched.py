"""Matmul in TileLang: C = A·B, tiled, software-pipelined, fp32 accumulation.

The same algorithm as kernels/matmul/triton_matched.py: each block computes one
block_M x block_N tile of C, walking K in block_K steps through a num_stages-deep
pipeline (T.Pipelined); blocks are rasterized in panels so that neighbours share B in L2.
The shape is part of the kernel (TileLang specializes on it); T.copy zero-fills the
ragged edges and clips the store.
"""
import tilelang.language as T

from kernels.matmul.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)

GROUP_M = 8  # panel width of the block rasterization, as Triton's GROUP_M


def matmul_kernel(M, N, K, dtype, block_M, block_N, block_K, num_stages, threads):
    """Return the prim_func C = A·B for one shape, dtype ("float16", ...) and config."""
    accum = "float32"

    @T.prim_func
    def matmul(
        A: T.Tensor((M, K), dtype),
        B: T.Tensor((K, N), dtype),
        C: T.Tensor((M, N), dtype),
    ):
        with T.Kernel(T.ceildiv(N, block_N), T.ceildiv(M, block_M), threads=threads) as (bx, by):
            A_shared = T.alloc_shared((block_M, block_K), dtype)
            B_shared = T.alloc_shared((block_K, block_N), dtype)
            C_local = T.alloc_fragment((block_M, block_N), accum)

            T.use_swizzle(panel_size=GROUP_M)
            T.clear(C_local)
            for k in T.Pipelined(T.ceildiv(K, block_K), num_stages=num_stages):
                T.copy(A[by * block_M, k * block_K], A_shared)
                T.copy(B[k * block_K, bx * block_N], B_shared)
                T.gemm(A_shared, B_shared, C_local)
            T.copy(C_local, C[by * block_M, bx * block_N])

    return matmul
