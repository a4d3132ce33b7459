"""TileLang lowers an fp32 T.gemm to warp-level mma.sync (TF32 HMMA) on sm_90a, never to wgmma."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "limit"
TITLE = "T.gemm on float32 operands uses mma.sync (TF32 HMMA) on sm_90a, not the warpgroup wgmma (HGMMA) Triton uses"
EXPECTED = ("an fp32 x fp32 -> fp32 T.gemm with K-major operands (transpose_B=True) on sm_90a uses TF32 "
            "wgmma, as the same kernel does in fp16/bf16 and as Triton's tl.dot does for fp32")
ACTUAL = ("the lowered CUDA calls tl::mma_sync with DataType::kTensorFloat32 (SASS HMMA) for both operand "
          "majors; gemm.cc's CheckWgmma admits TF32 only for operands typed tfloat32 (A not transposed, "
          "B transposed), and the Python frontend refuses that dtype (ValueError: unknown dtype "
          "`tfloat32`), so no fp32 kernel reaches wgmma")
WORKAROUND = []  # our fp32 matmul/attention kernels accept the HMMA path (recorded as a fallback by inspect)
HOW = ("lower for sm_90a with default pass configs: a 128x128x256 GEMM (4 warps, T.Pipelined K loop, "
       "transpose_B=True) in float16 (control: wgmma) and in float32")


def reproduce():
    import tilelang.language as T

    from bench.ledger.build import tilelang_lower

    M, N, K, BK = 128, 128, 256, 32

    def gemm(dtype):
        @T.prim_func
        def matmul(A: T.Tensor((M, K), dtype), B: T.Tensor((N, K), dtype), C: T.Tensor((M, N), "float32")):
            with T.Kernel(1, threads=128) as bx:
                A_s = T.alloc_shared((M, BK), dtype)
                B_s = T.alloc_shared((N, BK), dtype)
                acc = T.alloc_fragment((M, N), "float32")
                T.clear(acc)
                for k in T.Pipelined(K // BK, num_stages=2):
                    T.copy(A[0, k * BK], A_s)
                    T.copy(B[0, k * BK], B_s)
                    T.gemm(A_s, B_s, acc, transpose_B=True)
                T.copy(acc, C)
        return tilelang_lower(matmul, "sm_90a").kernel_source

    half = gemm("float16")
    if "tl::wgmma_ss" not in half:  # the control: this block shape takes wgmma in fp16
        raise AssertionError("the fp16 control did not lower to wgmma: the reproducer's premise changed")
    single = gemm("float32")
    if "tl::wgmma" in single:
        return False
    if "tl::mma_sync" in single and "kTensorFloat32" in single:
        return True
    raise AssertionError("fp32 T.gemm lowered to neither wgmma nor TF32 mma_sync")
