"""TileLang: T.clear of an accumulator before an fp8 T.gemm costs ~90 registers a thread more
than T.gemm(..., clear_accum=True), the same computation."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "limit"
TITLE = ("T.clear(C_block); T.gemm(A_s, B_s, C_block) in an fp8 block-scaled GEMM's K loop takes ~250 "
         "registers (at ptxas's 255 cap) where T.gemm(..., clear_accum=True) takes ~160")
EXPECTED = ("a clear directly before the gemm that overwrites the accumulator compiles as clear_accum=True "
            "does (the first MMA with scale-d 0, as Triton's tl.dot without an accumulator): the same registers")
ACTUAL = ("a 128 x 128 fp8 tile, 256 threads, 3 cp.async stages: 253 registers with T.clear, 160 with "
          "clear_accum=True (no spills in this small kernel; in our grouped GEMM's e4m3 path the T.clear "
          "form spilled 132 bytes at 128 x 128, 3 stages)")
WORKAROUND = ["kernels/grouped_gemm/tilelang_matched.py:build"]  # clear_accum=True
HOW = ("lower for sm_90a with cp.async configs and nvcc -arch sm_90a: a 256x256x512 e4m3 GEMM whose K-block "
       "product is scaled into an fp32 accumulator, with T.clear and with clear_accum=True; compare ptxas's "
       "registers and spills")


def reproduce():
    import tilelang.language as T

    from bench.ledger.build import sass, tilelang_cubin, tilelang_lower

    M, N, K, BM, BL, dt = 256, 256, 512, 128, 128, "float8_e4m3fn"

    def gemm(clear_first):
        @T.prim_func
        def scaled(A: T.Tensor((M, K), dt), SA: T.Tensor((M, K // BL), "float32"), B: T.Tensor((N, K), dt),
                   SB: T.Tensor((N // BL, K // BL), "float32"), C: T.Tensor((M, N), "bfloat16")):
            with T.Kernel(N // BL, M // BM, threads=256) as (bx, by):
                A_s = T.alloc_shared((BM, BL), dt)
                B_s = T.alloc_shared((BL, BL), dt)
                scale = T.alloc_fragment((BM,), "float32")
                C_block = T.alloc_fragment((BM, BL), "float32")
                C_local = T.alloc_fragment((BM, BL), "float32")
                C_s = T.alloc_shared((BM, BL), "bfloat16")
                T.clear(C_local)
                for k in T.Pipelined(K // BL, num_stages=3):
                    T.copy(A[by * BM, k * BL], A_s)
                    T.copy(B[bx * BL, k * BL], B_s)
                    for i in T.Parallel(BM):
                        scale[i] = SA[by * BM + i, k] * SB[bx, k]
                    if clear_first:
                        T.clear(C_block)
                        T.gemm(A_s, B_s, C_block, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                    else:
                        T.gemm(A_s, B_s, C_block, transpose_B=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
                    for i, j in T.Parallel(BM, BL):
                        C_local[i, j] += C_block[i, j] * scale[i]
                T.copy(C_local, C_s)
                T.copy(C_s, C[by * BM, bx * BL])

        source = tilelang_lower(scaled, "sm_90a", {"tl.disable_tma_lower": True,
                                                   "tl.disable_warp_specialized": True}).kernel_source
        (metrics,) = sass(*tilelang_cubin(source, "sm_90a")).values()
        return metrics["registers"], metrics["spill_store_bytes"]

    cleared, accum = gemm(True), gemm(False)
    return cleared[1] > accum[1] or cleared[0] >= accum[0] + 64
