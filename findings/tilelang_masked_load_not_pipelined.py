"""TileLang's automatic pipeline planning treats a masked (conditional) shared-memory load as
compute: a synchronous register load, one buffer, while a hand-given order/stage makes it cp.async."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "limit"
TITLE = ("in T.Pipelined(num_stages=2) a load A_s[i, j] = if_then_else(i < count, A[...], 0) is planned as "
         "compute: not cp.async, not multi-buffered; the same loop with explicit order/stage gets a predicated cp.async")
EXPECTED = ("automatic PipelinePlanning issues the masked load as an asynchronous copy (zero-fill past the "
            "count) in the pipeline's first stage, as it does when the same schedule is written out, and "
            "as Triton's masked tl.load is pipelined")
ACTUAL = ("with num_stages alone the CUDA source loads A through registers in the loop body (only B is "
          "cp_async_gs, double-buffered; A_s keeps one buffer); with order=[0, 1, 2], stage=[0, 0, "
          "num_stages - 1] (the plan TileLang itself makes for an unmasked copy) A becomes "
          "cp_async_gs_conditional into num_stages buffers")
WORKAROUND = ["kernels/grouped_gemm/tilelang_matched.py:build"]  # the schedule written out
HOW = ("lower for sm_90a with cp.async configs (TMA and warp specialization off): a 64x64 fp16 GEMM over "
       "K=256 whose A tile is a masked T.Parallel load, once with num_stages=2 only and once with the "
       "schedule given by hand (control); count the cp.async copies into A_s")


def reproduce():
    import tilelang.language as T

    from bench.ledger.build import tilelang_lower

    M, N, K, BK, S = 64, 64, 256, 64, 2

    def gemm(schedule):
        @T.prim_func
        def masked_a(A: T.Tensor((M, K), "float16"), B: T.Tensor((N, K), "float16"), count: T.int32,
                     C: T.Tensor((M, N), "float32")):
            with T.Kernel(1, threads=128) as bx:
                A_s = T.alloc_shared((M, BK), "float16")
                B_s = T.alloc_shared((N, BK), "float16")
                acc = T.alloc_fragment((M, N), "float32")
                T.clear(acc)
                for k in T.Pipelined(K // BK, **schedule):
                    for i, j in T.Parallel(M, BK):  # rows at or past count: zeros
                        A_s[i, j] = T.if_then_else(i < count, A[i, k * BK + j], T.Cast("float16", 0))
                    T.copy(B[0, k * BK], B_s)
                    T.gemm(A_s, B_s, acc, transpose_B=True)
                T.copy(acc, C)

        source = tilelang_lower(masked_a, "sm_90a", {"tl.disable_tma_lower": True,
                                                     "tl.disable_warp_specialized": True}).kernel_source
        copies = [line for line in source.splitlines() if "cp_async_gs" in line]
        if not any("B_s" in line for line in copies):
            raise AssertionError("B's unmasked copy is no longer cp.async: the premise changed")
        return sum("A_s" in line for line in copies)

    if gemm(dict(num_stages=S, order=[0, 1, 2], stage=[0, 0, S - 1])) == 0:  # control: by hand, cp.async
        raise AssertionError("the hand-scheduled masked load is not cp.async either: the premise changed")
    return gemm(dict(num_stages=S)) == 0
