"""TileLang's T.gemm drops the leading index of a 3-D operand region on its C backend: the CPU
check of a kernel written T.gemm(A, B[t % 2, :, :], C) cannot be built."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("T.gemm(A, B[t % 2, :, :], C) with B a (stages, K, N) buffer: the C backend's scalar gemm indexes "
         "B with the region's first two offsets only, B[t + k, j], and lowering fails")
EXPECTED = ("the gemm reads the K x N slice B[t % 2] on every target; on CUDA (sm_90a, sm_80: wgmma descriptor "
            "offset (t & 1) * bytes, ldmatrix addresses with (t & 1) * elements) it does")
ACTUAL = ("tilelang/cpu/op/gemm/gemm_scalar.py takes region[0].min and region[1].min as row and column offsets "
          "whatever the buffer's rank, so the leading (stage) index is dropped and B is indexed with two indices: "
          "IndexError 'Buffer B_l is 3-dimensional (shape=(2, 16, 16)), but 2 index(es) were provided: (t + k, j)' "
          "(a constant B[1, :, :] alike). Our kernel's comment records the GPU symptom 'reads B[0] every "
          "step'; the small CUDA forms tried (T.gemm ss/rs and T.wgmma_gemm, inside T.ws roles or not, "
          "sm_90a and sm_80) lower correctly, so only the C-backend failure is reproduced here")
WORKAROUND = ["kernels/sparse_mla/tilelang_best.py:sparse_mla_kernel"]  # one buffer per stage, chosen by a Python int
HOW = "lower for TileLang's C backend (target c, the CPU check's path): a 16x16x16 fp32 gemm over B_l[t % 2, :, :]"


def reproduce():
    import tilelang.language as T

    from bench.ledger.build import tilelang_lower

    M = N = K = 16

    @T.prim_func
    def staged(A: T.Tensor((M, K), "float32"), Bg: T.Tensor((2, K, N), "float32"), C: T.Tensor((2, M, N), "float32")):
        with T.Kernel(1) as bx:
            A_l = T.alloc_local((M, K), "float32")
            B_l = T.alloc_local((2, K, N), "float32")  # one K x N operand per stage
            acc = T.alloc_local((M, N), "float32")
            T.copy(A, A_l)
            T.copy(Bg, B_l)
            for t in T.serial(2):
                T.clear(acc)
                T.gemm(A_l, B_l[t % 2, :, :], acc)
                T.copy(acc, C[t, :, :])

    try:
        tilelang_lower(staged, {"kind": "c"}, {"tirx.disable_vectorize": True})
    except IndexError as exc:
        if "B_l is 3-dimensional" in str(exc) and "2 index(es) were provided" in str(exc):
            return True
        raise
    return False
