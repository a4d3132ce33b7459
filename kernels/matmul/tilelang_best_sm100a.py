"""Matmul in TileLang for Blackwell (sm_100a), best track: C = A·B with tcgen05 MMA into tensor memory.

Techniques: warp specialization by hand (warp 0 issues TMA loads, warp 1 issues tcgen05 MMAs),
a num_stages-deep ring of shared-memory stages guarded by mbarriers (`loaded`: the TMA bytes of a
stage landed; `consumed`: the MMA that read a stage finished, so it may be refilled), the fp32
accumulator in Blackwell's tensor memory (T.alloc_tmem) instead of registers, and an epilogue in
which all four warps read their 32 TMEM lanes, round to the output dtype and store through shared
memory with a TMA store (which clips the ragged edge). Blocks are rasterized in panels (as
Triton's GROUP_M) so that neighbours share B in L2. One CTA per tile (no 2-CTA cluster MMA, no
persistence: see the report of issue 17).

This file is the arch variant of kernels/matmul/tilelang_best.py: the harness uses it instead of
that file when compiling for sm_100a (`dslbench inspect --arch sm_100a`) or running on a GPU of
compute capability 10.0 (bench/core/ops.py, kernel_module). Triton needs no such file: the same
triton_<track>.py compiles to tcgen05 (UTCHMMA) for sm_100a by itself.

CPU path: none, so this file's results are UNCHECKED until a run on a Blackwell GPU. TileLang's C
backend has no tensor memory, tcgen05, TMA, mbarriers or threads, and the two warp roles cannot
both run there: an if/elif on the thread index takes one branch per thread. (Two disjoint `if`s
would let a CPU build take both, but then TileLang puts a __syncthreads between the roles, which
deadlocks the ring once K has more tiles than stages: the roles stay if/elif.) The math is the
one tilelang_matched.py computes, which the CPU path checks, but the code here is its own.
`dslbench inspect --arch sm_100a` checks that it compiles to UTCHMMA (tcgen05) with TMA loads
and stores, 128 threads and no spills (tests/test_portability.py).
"""
import tilelang.language as T

from kernels import Skip

GROUP_M = 8  # panel width of the block rasterization, as Triton's GROUP_M
# Used while kernels/matmul/spec.py has no best-track configs (spec.CONFIGS["best"] wins when it
# has them; a config this kernel cannot take is skipped, below). block_M = 128: one tcgen05 MMA
# covers 128 rows (the 128 TMEM lanes), and the four warps of 128 threads read 32 lanes each in
# the epilogue. TMEM holds 512 fp32 columns: block_N <= 512.
CONFIGS = [
    dict(block_M=128, block_N=256, block_K=64, num_stages=4, threads=128),
    dict(block_M=128, block_N=128, block_K=64, num_stages=6, threads=128),
]
DTYPES = ("fp16", "bf16")  # tcgen05 kind::f16 (fp32 would be kind::tf32, not written here)
TMA_ALIGN = 8  # TMA wants 16-byte row strides: K and N multiples of 8 two-byte elements


def matmul_kernel(M, N, K, dtype, block_M, block_N, block_K, num_stages, threads, split_k=1):
    """Return the prim_func C = A·B for one shape, dtype ("bfloat16", "float16") and config:
    C[i, j] = Σ_k A[i, k] · B[k, j], summed in fp32 in tensor memory, rounded once to dtype."""
    if K % TMA_ALIGN or N % TMA_ALIGN:
        raise Skip(f"TMA needs K and N multiples of {TMA_ALIGN} (16-byte rows); got K={K}, N={N}")
    if block_M not in (64, 128) or threads % 128 or block_N > 512:
        # tcgen05 (one CTA) takes 64 or 128 rows; each warp reads only its quarter of the TMEM
        # lanes, so the epilogue needs whole warpgroups; TMEM has 512 fp32 columns.
        raise Skip(f"tcgen05 here takes block_M 64 or 128, threads a multiple of 128, block_N <= 512 "
                   f"(got {block_M}, {threads}, {block_N})")
    if split_k != 1:
        raise Skip("split-K is not written for the tcgen05 kernel")
    accum = "float32"
    k_tiles = T.ceildiv(K, block_K)

    @T.prim_func
    def matmul(
        A: T.Tensor((M, K), dtype),
        B: T.Tensor((K, N), dtype),
        C: T.Tensor((M, N), dtype),
    ):
        with T.Kernel(T.ceildiv(N, block_N), T.ceildiv(M, block_M), threads=threads) as (bx, by):
            A_shared = T.alloc_shared((num_stages, block_M, block_K), dtype)
            B_shared = T.alloc_shared((num_stages, block_K, block_N), dtype)
            C_tmem = T.alloc_tmem([block_M, block_N], accum)
            C_local = T.alloc_fragment((block_M, block_N), accum)
            C_shared = T.alloc_shared((block_M, block_N), dtype)
            loaded = T.alloc_barrier([32] * num_stages)  # the producer warp's 32 threads arrive
            consumed = T.alloc_barrier([1] * num_stages)  # one tcgen05 commit per stage
            accumulated = T.alloc_barrier([1])  # every MMA of the tile is done
            tx = T.get_thread_binding()

            T.use_swizzle(panel_size=GROUP_M)
            if tx < 32:  # warp 0: TMA producer
                for k in T.serial(k_tiles):
                    stage, lap = k % num_stages, k // num_stages
                    # Wait until the MMA of lap - 1 released this stage (the first lap passes at once).
                    T.mbarrier_wait_parity(consumed[stage], (lap & 1) ^ 1)
                    T.tma_copy(A[by * block_M:(by + 1) * block_M, k * block_K:(k + 1) * block_K],
                               A_shared[stage, :, :], barrier=loaded[stage])
                    T.tma_copy(B[k * block_K:(k + 1) * block_K, bx * block_N:(bx + 1) * block_N],
                               B_shared[stage, :, :], barrier=loaded[stage])
                    T.mbarrier_arrive(loaded[stage])
            elif tx < 64:  # warp 1: tcgen05 MMA issuer (one thread issues, the hardware runs it)
                for k in T.serial(k_tiles):
                    stage, lap = k % num_stages, k // num_stages
                    T.mbarrier_wait_parity(loaded[stage], lap & 1)
                    T.tcgen05_gemm(A_shared[stage, :, :], B_shared[stage, :, :], C_tmem,
                                   mbar=consumed[stage], clear_accum=k == 0)
                T.tcgen05_mma_arrive(accumulated)

            # Epilogue, all four warps: TMEM -> registers -> dtype -> shared -> TMA store.
            T.mbarrier_wait_parity(accumulated, 0)
            T.copy(C_tmem, C_local)
            T.copy(C_local, C_shared)
            T.copy(C_shared, C[by * block_M, bx * block_N])

    return matmul
