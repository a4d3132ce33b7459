"""TileLang's warp-specialized rewrite moves the scan that decides a branch into the role
branches, under that branch's condition."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("warp specialization sinks the statements before an `if found == 1:` holding a T.Pipelined loop "
         "(initializers and the scan that sets found) into the producer/consumer branches, below the if")
EXPECTED = ("each wave runs the scan (start = 0; found = 0; for e: ... found = 1) and then tests "
            "found, as the program is written and as the non-warp-specialized lowering emits it")
ACTUAL = ("the CUDA source tests `if (found == 1)` first and runs `found = 0; for (int e ...)` only inside "
          "it, once in each role branch: the first wave reads the variable's initial 0 and no tile is "
          "computed. Our grouped GEMM (masked scheduler) met it as a lone `expert = 0` before the scan "
          "moved into the role branches after the scan; it keeps the scan the only writer of expert, "
          "pid_m, pid_n and limit, which lowers in order there (checked in its CUDA source), though in "
          "this smaller program dropping such an initializer alone does not help")
WORKAROUND = ["kernels/grouped_gemm/tilelang_best.py:build"]
HOW = ("lower for sm_90a: a persistent 2-wave loop whose per-wave expert scan sets found, then "
       "`if found == 1:` a TMA T.Pipelined GEMM of that expert; default pass configs (warp specialized) "
       "vs tl.disable_warp_specialized (control); compare the positions of the test and the scan")


def reproduce():
    import tilelang.language as T

    from bench.ledger.build import tilelang_lower

    G, M, N, K, BK = 4, 128, 128, 128, 64

    @T.prim_func
    def grouped(A: T.Tensor((G, M, K), "float16"), B: T.Tensor((G, N, K), "float16"),
                GL: T.Tensor((G,), "int32"), C: T.Tensor((G, M, N), "float32")):
        with T.Kernel(2, threads=128) as bx:
            A_s = T.alloc_shared((M, BK), "float16")
            B_s = T.alloc_shared((N, BK), "float16")
            acc = T.alloc_fragment((M, N), "float32")
            expert = T.alloc_var("int32")
            found = T.alloc_var("int32")
            start = T.alloc_var("int32")
            for wave in T.serial(2):
                item = wave * 2 + bx
                start = 0
                found = 0
                for e in T.serial(G):  # the item-th work item among the experts' counts
                    count = GL[e]
                    if found == 0 and item >= start and item < start + count:
                        expert = e
                        found = 1
                    start = start + count
                if found == 1:
                    T.clear(acc)
                    for k in T.Pipelined(K // BK, num_stages=2):
                        T.copy(A[expert, 0, k * BK], A_s)
                        T.copy(B[expert, 0, k * BK], B_s)
                        T.gemm(A_s, B_s, acc, transpose_B=True)
                    T.copy(acc, C[expert, 0, 0])

    def test_before_scan(configs):
        source = tilelang_lower(grouped, "sm_90a", configs).kernel_source
        test, scan = source.find("if (found == 1)"), source.find("for (int e")
        if test < 0 or scan < 0:
            raise AssertionError("the lowered source no longer has the scan loop or the found test")
        return test < scan

    if test_before_scan({"tl.disable_warp_specialized": True}):  # control: in program order
        raise AssertionError("the non-warp-specialized lowering misplaces the scan too: the premise changed")
    return test_before_scan({})
