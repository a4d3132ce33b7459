"""TileLang refuses a second T.Pipelined loop over the same shared buffers under its default
(TMA, warp-specialized) lowering on sm_90a."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("two T.Pipelined loops loading into the same shared buffers fail lowering for sm_90a "
         "(TMA + warp specialization): the buffers are multi-buffered twice, (2, 64, 64) -> (2, 2, 64, 64)")
EXPECTED = ("the two loops lower one after the other, each with its own pipeline over the shared "
            "buffers (as they do with TMA and warp specialization off: cp.async)")
ACTUAL = ("tvm.error.InternalError in layout inference: 'Check failed: (az->CanProveEqual(input_shape_product "
          "* rescale_num, shape_product * rescale_den)) is false: InputShape() = (2, 64, 64) shape = "
          "(2, 2, 64, 64)': the second pipeline re-expands the already double-buffered layout. Our best "
          "attention kernel needs one loop over the causal key tiles with a masked branch per tile "
          "instead of an unmasked loop followed by a diagonal loop (buffers of their own do not fit)")
WORKAROUND = ["kernels/attention/tilelang_best.py:prefill_kernel"]
HOW = ("lower for sm_90a with default pass configs: a 64x64 fp16 GEMM whose K range is walked by two "
       "T.Pipelined(4, num_stages=2) loops into the same A_s, B_s (the cp.async lowering as control)")


def reproduce():
    import tilelang.language as T
    import tvm

    from bench.ledger.build import tilelang_lower

    M, N, K, BK = 64, 64, 512, 64

    @T.prim_func
    def two_loops(A: T.Tensor((M, K), "float16"), B: T.Tensor((N, K), "float16"), C: T.Tensor((M, N), "float32")):
        with T.Kernel(1, threads=128) as bx:
            A_s = T.alloc_shared((M, BK), "float16")
            B_s = T.alloc_shared((N, BK), "float16")
            acc = T.alloc_fragment((M, N), "float32")
            T.clear(acc)
            for k in T.Pipelined(4, num_stages=2):  # the first half of K
                T.copy(A[0, k * BK], A_s)
                T.copy(B[0, k * BK], B_s)
                T.gemm(A_s, B_s, acc, transpose_B=True)
            for k in T.Pipelined(4, num_stages=2):  # the second half, same buffers
                T.copy(A[0, (k + 4) * BK], A_s)
                T.copy(B[0, (k + 4) * BK], B_s)
                T.gemm(A_s, B_s, acc, transpose_B=True)
            T.copy(acc, C)

    # control: the same program lowers with cp.async and no warp specialization
    tilelang_lower(two_loops, "sm_90a", {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True})
    try:
        tilelang_lower(two_loops, "sm_90a")
    except tvm.error.InternalError as exc:
        if "InputShape() = (2, 64, 64) shape = (2, 2, 64, 64)" in str(exc):
            return True
        raise
    return False
