"""Triton ignores tl.range(warp_specialize=True) on Hopper when the kernel has 8 warps: no producer, no setmaxnreg."""
DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "limit"
TITLE = "on sm_90a, warp_specialize=True on a persistent TMA GEMM loop is silently dropped at num_warps=8"
EXPECTED = ("the loop is partitioned into a TMA producer warp group and MMA consumer warp groups with registers rebalanced "
            "(setmaxnreg), as the same kernel is at num_warps=4 (a 128x128 tile: two 64-row consumers, 12 warps)")
ACTUAL = ("at num_warps=8 the kernel compiles as if warp_specialize were False: no ttg.warp_specialize in the TTGIR, "
          "no setmaxnreg in the PTX, 8 warps; the partitioner takes only num_warps=4 and makes one consumer warp "
          "group per 64 rows itself, so a 256-thread (8-warp) tile has to be asked for as 4 warps")
WORKAROUND = ["kernels/matmul/triton_best.py:launch_options", "kernels/attention/triton_best.py:launch_options"]
HOW = "compile for sm_90a: a persistent bf16 GEMM (device-side TMA descriptors, 128x128x64 tile) with tl.range(warp_specialize=True), at num_warps=4 (control) and 8"


def reproduce():
    import triton.language as tl
    from triton import jit

    from bench.ledger.build import triton_compile

    @jit
    def gemm(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, SMS: tl.constexpr):
        a = tl.make_tensor_descriptor(a_ptr, [M, K], [K, 1], [BM, BK])
        b = tl.make_tensor_descriptor(b_ptr, [K, N], [N, 1], [BK, BN])
        c = tl.make_tensor_descriptor(c_ptr, [M, N], [N, 1], [BM, BN])
        tiles_n = tl.cdiv(N, BN)
        for t in tl.range(tl.program_id(0), tl.cdiv(M, BM) * tiles_n, SMS, warp_specialize=True):
            om, on = (t // tiles_n) * BM, (t % tiles_n) * BN
            acc = tl.zeros((BM, BN), dtype=tl.float32)
            for k in range(tl.cdiv(K, BK)):
                acc = tl.dot(a.load([om, k * BK]), b.load([k * BK, on]), acc)
            c.store([om, on], acc.to(c.dtype))

    def partitioned(num_warps):
        compiled = triton_compile(gemm, {"a_ptr": "*bf16", "b_ptr": "*bf16", "c_ptr": "*bf16", "M": "i32", "N": "i32",
                                         "K": "i32"}, {"BM": 128, "BN": 128, "BK": 64, "SMS": 132}, "sm_90a",
                                  num_warps=num_warps, num_stages=3)
        ttgir, ptx = compiled.asm["ttgir"], compiled.asm["ptx"]
        return ("ttg.warp_specialize" in ttgir) and ("setmaxnreg" in ptx), compiled.metadata.num_warps

    ws4, warps4 = partitioned(4)
    if not ws4 or warps4 <= 4:  # the control: at 4 warps the loop is partitioned, or this tests nothing
        raise RuntimeError(f"control (num_warps=4) was not warp-specialized (num_warps after compile: {warps4})")
    ws8, _ = partitioned(8)
    return not ws8
