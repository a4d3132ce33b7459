"""TileLang's default lowering of a T.Pipelined loop with a program-dependent trip count fails on
sm_80/sm_89 (cp.async there), while the same code lowers for sm_90a (TMA)."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("a T.Pipelined loop (num_stages >= 3) whose trip count depends on the block index lowers for "
         "sm_90a but fails for sm_80 and sm_89: 'Downcast from tirx.Sub to ir.IntImm'")
EXPECTED = ("the same prim_func lowers for every CUDA arch: TMA on sm_90a, a cp.async pipeline on "
            "sm_80/sm_89")
ACTUAL = ("with TileLang's default pass configs sm_90a lowers (TMA loads, warp specialized) and sm_80 "
          "raises TypeError 'Downcast from tirx.Sub to ir.IntImm failed.': without TMA the loop "
          "becomes a cp.async pipeline and hits findings/tilelang_pipelined_dynamic_trip_count.py "
          "(same root cause, triggered by the arch alone); our best dsa_index kernel fails so on "
          "sm_80 and sm_89 (results/2026-11-25-cpu-x86_64-tracks-report); tl.UnrollLoop "
          "explicit_unroll=True avoids it")
WORKAROUND = []  # kernels/dsa_index/tilelang_best.py is compiled for sm_90a only; sm_80/sm_89 stay failures
HOW = ("lower a 64x64 fp16 GEMM whose K loop is T.Pipelined(bx + 1, num_stages=3) with default pass "
       "configs: for sm_90a (must succeed), then for sm_80")


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

    tilelang_lower(causal_like, "sm_90a")  # TMA: lowers (anything raised here is unexpected)
    try:
        tilelang_lower(causal_like, "sm_80")
    except TypeError as exc:
        if "Downcast from tirx.Sub to ir.IntImm" in str(exc):
            return True
        raise
    return False
