"""TileLang's warp-specialized pipeline mixing a TMA load with a non-TMA load (an operand TMA
cannot address) is refused by ptxas: 'Insufficient registers'."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("a T.Pipelined GEMM whose A rows are not 16-byte aligned (K=100 fp16) gets TMA loads for B and "
         "register loads for A in one warp-specialized kernel, which ptxas refuses: 'Insufficient registers'")
EXPECTED = ("TileLang's default sm_90a lowering compiles: A loaded without TMA (by cp.async or by the "
            "producer's threads), B by TMA, or the whole pipeline on its non-TMA path")
ACTUAL = ("the producer warpgroup's A copy goes through registers (predicated loads + shared stores) "
          "next to B's tma_load, and ptxas aborts: '(C7602) Insufficient registers (128) to compile "
          "instruction ... Try to compile with register target of 154 or higher'; with disable_tma=True "
          "on every T.copy (all cp.async, no producer warpgroup) the same GEMM compiles")
WORKAROUND = ["kernels/matmul/tilelang_best.py:matmul_kernel"]  # disable_tma on every copy when one operand cannot take TMA
HOW = ("lower for sm_90a with default pass configs and nvcc -arch sm_90a: a 256x1024x100 fp16 GEMM, "
       "128x256x64 tiles, 256 threads, num_stages=3; control: every copy disable_tma=True")


def gemm(disable_tma):
    import tilelang.language as T

    M, N, K, BM, BN, BK = 256, 1024, 100, 128, 256, 64  # A's rows: 200 bytes, no TMA; B's: 2048

    @T.prim_func
    def matmul(A: T.Tensor((M, K), "float16"), B: T.Tensor((K, N), "float16"), C: T.Tensor((M, N), "float16")):
        with T.Kernel(T.ceildiv(N, BN), T.ceildiv(M, BM), threads=256) as (bx, by):
            A_s = T.alloc_shared((BM, BK), "float16")
            B_s = T.alloc_shared((BK, BN), "float16")
            acc = T.alloc_fragment((BM, BN), "float32")
            T.clear(acc)
            for k in T.Pipelined(T.ceildiv(K, BK), num_stages=3):
                T.copy(A[by * BM, k * BK], A_s, disable_tma=disable_tma)
                T.copy(B[k * BK, bx * BN], B_s, disable_tma=disable_tma)
                T.gemm(A_s, B_s, acc, policy=T.GemmWarpPolicy.FullRow)
            T.copy(acc, C[by * BM, bx * BN], disable_tma=disable_tma)
    return matmul


def reproduce():
    from bench.ledger.build import tilelang_cubin, tilelang_lower

    tilelang_cubin(tilelang_lower(gemm(True), "sm_90a").kernel_source, "sm_90a")  # control: compiles
    source = tilelang_lower(gemm(False), "sm_90a").kernel_source
    if "tma_load" not in source:
        raise AssertionError("B is no longer a TMA load: the reproducer's premise changed")
    try:
        tilelang_cubin(source, "sm_90a")
    except RuntimeError as exc:
        if "Insufficient registers" in str(exc):
            return True
        raise
    return False
