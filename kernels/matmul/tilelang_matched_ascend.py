"""Matmul in TileLang for Huawei Ascend (the Ascend 950 NPU), matched track: C = A·B on the Cube unit.

Techniques: the tiling of tilelang_matched.py (one block_M x block_N tile of C per block, the same
grouped tile order, T.Pipelined over K with the config's num_stages), written in TileLang's Ascend
dialect (tilelang.ascend.language): A and B tiles go global -> L1 (T.alloc_l1) -> L0A / L0B
(T.alloc_l0a / T.alloc_l0b), the Cube unit's MAD (asc_mmad) accumulates in fp32 in L0C
(T.alloc_l0c), and L0C goes straight to C, rounded to the output dtype on the way (the fixpipe's
conversion). No vector (UB) code: nothing in a plain GEMM needs it.

Why it is its own file: the CUDA-shaped tilelang_matched.py does not lower for Ascend. Its
fragment accumulator (T.alloc_fragment) and shared-memory epilogue have no core to run on ("Cannot
assign task ... on every legal execution core"; for bf16 and fp16 first: its fp32 -> dtype copy
is a DMA copy, which may not cast outside a vector block), and Ascend has no threads at kernel
scope (`threads` is ignored here). The L0 buffers are staged by hand because TileLang 0.1.15's
T.gemm on L1 operands takes only B stored as (N, K) ("NT"), and this op's B is (K, N); on L0
operands the MAD takes it as it is (the L1 -> L0B copy transposes).

This file is the arch variant of kernels/matmul/tilelang_matched.py: the harness uses it instead of
that file when lowering for ascend (`dslbench inspect --arch ascend`; bench/core/ops.py,
kernel_module), for fp16 and bf16 (DTYPES; fp32 keeps the CUDA-shaped file, and its failure).
Triton has no counterpart (no Ascend target beside the project's Triton: bench/inspect/worker.py).

UNCHECKED: no CPU path (TileLang's C backend has no L1/L0 buffers or Cube), and neither a compile
nor a run here: AscendC needs CANN's bisheng and an NPU. `dslbench inspect --arch ascend` checks
that it lowers to a Cube kernel with asc_mmad and L1/L0A/L0B/L0C buffers (tests/test_portability.py).
"""
import tilelang.ascend.language as T

from kernels import Skip
from kernels.matmul.tilelang_matched import grouped_tile

DTYPES = ("fp16", "bf16")  # the Cube's 16-bit inputs; the fp32 path (HF32) is not written here


# Its own file: finding: findings/tilelang_ascend_parallel_outside_vector_block.py; L0 staged by hand:
# finding: findings/tilelang_ascend_l1_gemm_nt_only.py
def matmul_kernel(M, N, K, dtype, block_M, block_N, block_K, num_stages, threads, split_k=1):
    """Return the prim_func C = A·B for one shape, dtype ("bfloat16", "float16") and matched config:
    C[i, j] = Σ_k A[i, k] · B[k, j], summed in fp32 in L0C, rounded once to dtype."""
    if split_k != 1:
        raise Skip("split-K is not written for the Ascend kernel")
    tiles_m, tiles_n = T.ceildiv(M, block_M), T.ceildiv(N, block_N)

    @T.prim_func
    def matmul(A: T.Tensor((M, K), dtype), B: T.Tensor((K, N), dtype), C: T.Tensor((M, N), dtype)):
        with T.Kernel(tiles_m * tiles_n) as tile:
            A_l1 = T.alloc_l1((block_M, block_K), dtype)
            B_l1 = T.alloc_l1((block_K, block_N), dtype)
            A_l0 = T.alloc_l0a((block_M, block_K), dtype)
            B_l0 = T.alloc_l0b((block_K, block_N), dtype)
            C_l0c = T.alloc_l0c((block_M, block_N), "float32")
            pid_m, pid_n = grouped_tile(tile, tiles_m, tiles_n)
            for k in T.Pipelined(T.ceildiv(K, block_K), num_stages=num_stages):
                T.copy(A[pid_m * block_M, k * block_K], A_l1)
                T.copy(B[k * block_K, pid_n * block_N], B_l1)
                T.copy(A_l1, A_l0)
                T.copy(B_l1, B_l0)
                T.gemm(A_l0, B_l0, C_l0c, clear_accum=(k == 0))
            T.copy(C_l0c, C[pid_m * block_M, pid_n * block_N])

    return matmul
