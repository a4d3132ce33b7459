"""TileLang cannot infer a layout for a per-row vector shared by two mma.sync accumulators of
different widths (256 threads, FullCol): 'Layout infer conflict' on every arch but sm_90a."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("a row vector reduced from one gemm's accumulator and applied to another's (8 warps, FullCol) "
         "fails layout inference on sm_80/sm_89/sm_100a/gfx942; the same prim_func lowers for sm_90a")
EXPECTED = ("the flash-attention step (scores = Q K^T, m = rowmax(scores), O *= m[:, None], O += P V) "
            "lowers on every arch, converting the row vector's layout where the two accumulators' "
            "thread mappings differ (as Triton does), as it lowers on sm_90a (wgmma)")
ACTUAL = ("tvm.error.InternalError: 'Layout infer conflict between m_i and acc_o in T.Parallel loop': "
          "the warp-level MMA layouts of a 64 x 32 and a 64 x 128 accumulator split over 8 warps by "
          "columns give the rows different owner threads, and no conversion is inserted; our matched "
          "sparse MLA (kernels/sparse_mla/tilelang_matched.py) fails so for sm_80, sm_89, sm_100a and "
          "gfx942 (results/2026-11-25-cpu-x86_64-tracks.jsonl)")
WORKAROUND = []  # none: the matched sparse MLA is recorded as failing on those archs
HOW = ("lower for sm_90a (must succeed) and for sm_80, cp.async configs: 256 threads, Q (64x128) x "
       "K^T (32 keys) -> scores, reduce_max over the scores' rows, O (64x128) *= the row max, O += P K")


def reproduce():
    import tilelang.language as T
    import tvm

    from bench.ledger.build import tilelang_lower

    M, BN, D, S = 64, 32, 128, 256
    policy = T.GemmWarpPolicy.FullCol  # 8 warps split the columns, as the matched sparse MLA

    @T.prim_func
    def attend(Q: T.Tensor((M, D), "float16"), K: T.Tensor((S, D), "float16"), O: T.Tensor((M, D), "float32")):
        with T.Kernel(1, threads=256) as bx:
            Q_s = T.alloc_shared((M, D), "float16")
            K_s = T.alloc_shared((BN, D), "float16")
            P_s = T.alloc_shared((M, BN), "float16")
            acc_s = T.alloc_fragment((M, BN), "float32")
            acc_o = T.alloc_fragment((M, D), "float32")
            m_i = T.alloc_fragment((M,), "float32")
            T.copy(Q, Q_s)
            T.fill(acc_o, 0)
            for t in T.Pipelined(S // BN, num_stages=2):
                T.copy(K[t * BN, 0], K_s)
                T.clear(acc_s)
                T.gemm(Q_s, K_s, acc_s, transpose_B=True, policy=policy)
                T.reduce_max(acc_s, m_i, dim=1)
                for h, d in T.Parallel(M, D):
                    acc_o[h, d] *= m_i[h]
                T.copy(acc_s, P_s)
                T.gemm(P_s, K_s, acc_o, policy=policy)
            T.copy(acc_o, O)

    configs = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True}
    tilelang_lower(attend, "sm_90a", configs)  # wgmma layouts: lowers (anything raised here is unexpected)
    try:
        tilelang_lower(attend, "sm_80", configs)
    except tvm.error.InternalError as exc:
        if "Layout infer conflict between m_i and acc_o" in str(exc):
            return True
        raise
    return False
