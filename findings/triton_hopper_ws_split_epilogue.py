"""Triton 3.6's Hopper warp specialization fails on a persistent GEMM whose epilogue stores the tile in two halves."""
DSL = "triton"
FOUND_IN = "3.6.0"
KIND = "bug"
TITLE = ("on sm_90a, Triton 3.6 cannot warp-specialize a persistent GEMM loop with a subtiled epilogue "
         "(reshape/permute/split of the accumulator): 'PassManager::run failed' in NVGPUWarpSpecialization")
EXPECTED = ("the loop of matmul triton-best's 256-thread configs (device-side TMA descriptors, 128x128 tile, 4 warps, "
            "the accumulator stored in two 128x64 halves) is partitioned into a producer and two consumer warp groups, "
            "as Triton 3.9 does")
ACTUAL = ("RuntimeError('PassManager::run failed'): the data partitioner stops at 'unsupported op type' "
          "(UNREACHABLE in WSDataPartition.cpp) at the epilogue's reshape / permute / split of the accumulator; the same loop "
          "with a whole-tile store is partitioned")
WORKAROUND = ["kernels/matmul/triton_best.py:HOPPER_WS_TRITON", "kernels/matmul/triton_best.py:partitions_hopper_loop"]
HOW = "compile for sm_90a: a persistent bf16 GEMM (device-side descriptors, 128x128x64, num_warps=4) with tl.range(warp_specialize=True) and a two-halves epilogue"


def reproduce():
    import triton.language as tl
    from triton import jit

    from bench.ledger.build import capturing_stderr, triton_compile

    @jit
    def gemm(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, SMS: tl.constexpr):
        a = tl.make_tensor_descriptor(a_ptr, [M, K], [K, 1], [BM, BK])
        b = tl.make_tensor_descriptor(b_ptr, [K, N], [N, 1], [BK, BN])
        c = tl.make_tensor_descriptor(c_ptr, [M, N], [N, 1], [BM, BN // 2])
        tiles_n = tl.cdiv(N, BN)
        for t in tl.range(tl.program_id(0), tl.cdiv(M, BM) * tiles_n, SMS, warp_specialize=True):
            om, on = (t // tiles_n) * BM, (t % tiles_n) * BN
            acc = tl.zeros((BM, BN), dtype=tl.float32)
            for k in range(tl.cdiv(K, BK)):
                acc = tl.dot(a.load([om, k * BK]), b.load([k * BK, on]), acc)
            left, right = tl.split(acc.reshape((BM, 2, BN // 2)).permute(0, 2, 1))  # the epilogue in two halves
            c.store([om, on], left.to(c.dtype))
            c.store([om, on + BN // 2], right.to(c.dtype))

    result, log = capturing_stderr(lambda: triton_compile(
        gemm, {"a_ptr": "*bf16", "b_ptr": "*bf16", "c_ptr": "*bf16", "M": "i32", "N": "i32", "K": "i32"},
        {"BM": 128, "BN": 128, "BK": 64, "SMS": 132}, "sm_90a", num_warps=4, num_stages=3))
    if isinstance(result, RuntimeError):
        if ("PassManager::run failed" in str(result) and "NVGPUWarpSpecialization" in log
                and "unsupported op type" in log):
            return True
        raise RuntimeError(f"{result}; MLIR said: {[l for l in log.splitlines() if 'error' in l][:2]}") from result
    if "setmaxnreg" not in result.asm["ptx"]:
        raise RuntimeError("compiled, but not warp-specialized (no setmaxnreg): the finding changed, revisit it")
    return False
