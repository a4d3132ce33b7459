"""TileLang's cp.async T.Pipelined loop whose trip count depends on the program fails CUDA codegen."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("a cp.async T.Pipelined loop (num_stages >= 3) whose trip count depends on the block index "
         "fails CUDA codegen: 'Downcast from tirx.Sub to ir.IntImm'")
EXPECTED = ("the loop lowers to a cp.async pipeline whose epilogue waits on a constant count (or a "
            "guarded one), as it does for a constant trip count or under explicit unrolling")
ACTUAL = ("tilelang.lower raises TypeError 'Downcast from tirx.Sub to ir.IntImm failed.': the pipeline's "
          "epilogue loop is left rolled and its cp.async.wait_group count is a non-constant expression; "
          "num_stages 1 and 2 lower, 3 fails; the PassContext config tl.UnrollLoop explicit_unroll=True avoids it")
WORKAROUND = [
    "kernels/attention/tilelang_matched.py:PASS_CONFIGS",  # explicit_unroll
    "kernels/attention_bwd/tilelang_matched.py:PASS_CONFIGS",  # explicit_unroll
    "kernels/attention/tilelang_best.py:PASS_CONFIGS",  # explicit_unroll (cp.async head dims)
    "kernels/attention_bwd/tilelang_best.py:PASS_CONFIGS",  # explicit_unroll (cp.async head dims)
    "kernels/dsa_index/tilelang_matched.py:dsa_index_kernel",  # a static trip count
]
HOW = ("lower for sm_90a with TMA and warp specialization off (cp.async): a 64x64 fp16 GEMM whose "
       "K loop is T.Pipelined(bx + 1, num_stages=3)")


def reproduce():
    import tilelang.language as T

    from bench.ledger.build import tilelang_lower

    M, N, K, BK = 64, 64, 512, 32

    @T.prim_func
    def causal_like(A: T.Tensor((4 * M, K), "float16"), B: T.Tensor((N, K), "float16"),
                    C: T.Tensor((4 * M, N), "float32")):
        with T.Kernel(4, threads=128) as bx:
            A_s = T.alloc_shared((M, BK), "float16")
            B_s = T.alloc_shared((N, BK), "float16")
            acc = T.alloc_fragment((M, N), "float32")
            T.clear(acc)
            for k in T.Pipelined(bx + 1, num_stages=3):  # block bx visits bx + 1 tiles, as a causal loop
                T.copy(A[bx * M, k * BK], A_s)
                T.copy(B[0, k * BK], B_s)
                T.gemm(A_s, B_s, acc, transpose_B=True)
            T.copy(acc, C[bx * M, 0])

    try:
        tilelang_lower(causal_like, "sm_90a", {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True})
    except TypeError as exc:
        if "Downcast from tirx.Sub to ir.IntImm" in str(exc):
            return True
        raise
    return False
