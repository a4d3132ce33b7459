"""Triton's Hopper warp specialization fails on a loop that loads a 128-row tile through a host-side TMA descriptor."""
DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "bug"
TITLE = ("on sm_90a, warp_specialize=True with host-side tensor descriptors (128-row blocks) fails: "
         "'PassManager::run failed' in NVGPUWarpSpecialization")
EXPECTED = ("a persistent GEMM whose A and C tiles (128 rows) come through host-side TensorDescriptor arguments "
            "compiles warp-specialized at num_warps=4, as it does with device-side descriptors (tl.make_tensor_descriptor)")
ACTUAL = ("RuntimeError('PassManager::run failed'); the pass splits the 128-row tile between two 64-row consumers but "
          "cannot resize a descriptor that comes from the host: 'ttng.async_tma_copy_global_to_local' op descriptor "
          "block and tensor must have the same number of elements (8192 vs 4096) on 3.9; on 3.6 'tt.descriptor_store' "
          "op tensor descriptor block and tensor types must match")
WORKAROUND = ["kernels/matmul/triton_best.py:matmul_kernel", "kernels/matmul/triton_best.py:launch_options",
              "kernels/attention/triton_best.py:head_source"]  # device-side descriptors where the loop is warp-specialized
HOW = "compile for sm_90a: a persistent bf16 GEMM over host-side descriptors (tensordesc<bf16[128,64]> ...) with tl.range(warp_specialize=True) at num_warps=4"


def reproduce():
    import triton.language as tl
    from triton import jit

    from bench.ledger.build import capturing_stderr, triton_compile

    @jit
    def gemm(a, b, c, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, SMS: tl.constexpr):
        tiles_n = tl.cdiv(N, BN)
        for t in tl.range(tl.program_id(0), tl.cdiv(M, BM) * tiles_n, SMS, warp_specialize=True):
            om, on = (t // tiles_n) * BM, (t % tiles_n) * BN
            acc = tl.zeros((BM, BN), dtype=tl.float32)
            for k in range(tl.cdiv(K, BK)):
                acc = tl.dot(a.load([om, k * BK]), b.load([k * BK, on]), acc)
            c.store([om, on], acc.to(c.dtype))

    signature = {"a": "tensordesc<bf16[128,64]>", "b": "tensordesc<bf16[64,128]>", "c": "tensordesc<bf16[128,128]>",
                 "M": "i32", "N": "i32", "K": "i32"}
    result, log = capturing_stderr(lambda: triton_compile(
        gemm, signature, {"BM": 128, "BN": 128, "BK": 64, "SMS": 132}, "sm_90a", num_warps=4, num_stages=3))
    if isinstance(result, RuntimeError):
        if ("PassManager::run failed" in str(result) and "NVGPUWarpSpecialization" in log
                and "descriptor block and tensor" in log):
            return True
        raise RuntimeError(f"{result}; MLIR said: {[l for l in log.splitlines() if 'error' in l][:2]}") from result
    if "setmaxnreg" not in result.asm["ptx"]:
        raise RuntimeError("compiled, but not warp-specialized (no setmaxnreg): the finding changed, revisit it")
    return False
