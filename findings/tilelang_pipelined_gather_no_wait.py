"""TileLang's T.Pipelined issues a gather whose addresses come from indices it has just copied
asynchronously into shared memory, without waiting for that copy (a race on the GPU)."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "bug"
TITLE = ("in a cp.async T.Pipelined loop, idx_s[j] = Idx[...] then K_s[j, :] = KV[idx_s[j], :]: the gather's "
         "cp.async reads idx_s with no cp.async.wait after idx_s's own cp.async")
EXPECTED = ("the gather's addresses are read after the index copy has landed: a cp.async.wait_group (and "
            "barrier) between the two, or the index load kept synchronous, or planned a stage earlier")
ACTUAL = ("the prologue issues cp_async_gs<4> into idx_s, commits, and right after a __syncthreads issues "
          "cp_async_gs<16> into K_s from KV[min(max(idx_s[j], 0), S - 1)]: no cp_async_wait between them, "
          "so the gather may read stale indices (our matched sparse MLA's race on the GPU). Without the "
          "later read of idx_s (the -inf init of unused slots), or with T.copy(Idx[t * BN], idx_s), the same "
          "loop is refused instead: 'Check failed: src_info.stage <= dst_info.stage (2 vs. 0)'")
WORKAROUND = ["kernels/sparse_mla/tilelang_matched.py:slot"]  # indices read from global where used
HOW = ("lower for sm_90a with cp.async configs: a 2-stage T.Pipelined loop that stages 32 indices in shared "
       "memory, gathers those 32 rows of a (256, 64) fp16 table, masks the scores of negative indices "
       "and multiplies; read the CUDA source between the index copy and the gather")


def reproduce():
    import tilelang.language as T

    from bench.ledger.build import tilelang_lower

    M, BN, D, S, TOPK = 64, 32, 64, 256, 128

    @T.prim_func
    def gathered(Q: T.Tensor((M, D), "float16"), KV: T.Tensor((S, D), "float16"), Idx: T.Tensor((TOPK,), "int32"),
                 O: T.Tensor((M, BN), "float32")):
        with T.Kernel(1, threads=128) as bx:
            Q_s = T.alloc_shared((M, D), "float16")
            idx_s = T.alloc_shared((BN,), "int32")
            K_s = T.alloc_shared((BN, D), "float16")
            acc = T.alloc_fragment((M, BN), "float32")
            T.copy(Q, Q_s)
            for t in T.Pipelined(TOPK // BN, num_stages=2):
                for j in T.Parallel(BN):
                    idx_s[j] = Idx[t * BN + j]
                for j, d in T.Parallel(BN, D):  # the gather: row idx_s[j] (clamped)
                    K_s[j, d] = KV[T.min(T.max(idx_s[j], 0), S - 1), d]
                for h, j in T.Parallel(M, BN):  # unused slots (index < 0) start at -inf
                    acc[h, j] = T.if_then_else(idx_s[j] >= 0, 0, -T.infinity("float32"))
                T.gemm(Q_s, K_s, acc, transpose_B=True)
            T.copy(acc, O)

    lines = tilelang_lower(gathered, "sm_90a", {"tl.disable_tma_lower": True,
                                                "tl.disable_warp_specialized": True}).kernel_source.splitlines()
    index_copy = next((n for n, line in enumerate(lines) if "cp_async" in line and "(&(((int*)idx_s)[" in line), None)
    if index_copy is None:  # the index load is no longer asynchronous: no race to look for
        return False
    gather = next(n for n, line in enumerate(lines) if n > index_copy and "KV[" in line and "idx_s" in line)
    return not any("cp_async_wait" in line for line in lines[index_copy:gather])
