"""Triton's Hopper warp specialization fails on a K loop that carries values loaded one step ahead (a scale prefetch)."""
DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "bug"
TITLE = ("on sm_90a, warp_specialize=True fails ('PassManager::run failed' in NVGPUWarpSpecialization) when the inner "
         "K loop carries loads issued one iteration ahead, as block-scaled e4m3 GEMMs prefetch their scales")
EXPECTED = ("a persistent e4m3 GEMM whose K loop loads the next K-block's A and B scales with plain loads and carries "
            "them to the next step (grouped_gemm triton-best's e4m3 loop) is partitioned into a TMA producer and two "
            "consumer warp groups, as the same loop is when it loads each step's scales in that step")
ACTUAL = ("RuntimeError('PassManager::run failed'), 'Pipeline failed while executing [NVGPUWarpSpecialization]' "
          "with no other diagnostic; not dtype-specific (the same loop on bf16 operands fails too), so grouped_gemm's "
          "e4m3 path, which prefetches its scales this way, cannot be warp-specialized where its bf16 path can")
WORKAROUND = ["kernels/grouped_gemm/triton_best.py:grouped_gemm_kernel"]  # no warp specialization: software-pipelined
HOW = ("compile for sm_90a: a persistent e4m3 GEMM (device-side descriptors, 128x128x128, num_warps=4) with "
       "tl.range(warp_specialize=True), its scales prefetched one K-block ahead; control: the scales loaded in-step")


def reproduce():
    import triton.language as tl
    from triton import jit

    from bench.ledger.build import capturing_stderr, triton_compile

    @jit
    def gemm(a_ptr, b_ptr, sa_ptr, sb_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
             SMS: tl.constexpr, PREFETCH: tl.constexpr):
        # C = sum_k (A_k · B_kᵀ) * sa[k, rows] * sb[column block, k]: A (M, K), B (N, K) e4m3, sa (K/BK, M), sb fp32
        KB = K // BK
        a = tl.make_tensor_descriptor(a_ptr, [M, K], [K, 1], [BM, BK])
        b = tl.make_tensor_descriptor(b_ptr, [N, K], [K, 1], [BN, BK])
        c = tl.make_tensor_descriptor(c_ptr, [M, N], [N, 1], [BM, BN])
        tiles_n = tl.cdiv(N, BN)
        for t in tl.range(tl.program_id(0), tl.cdiv(M, BM) * tiles_n, SMS, warp_specialize=True):
            om, on = (t // tiles_n) * BM, (t % tiles_n) * BN
            sa_at = sa_ptr + om + tl.arange(0, BM)
            sb_at = sb_ptr + (on // 128) * KB
            acc = tl.zeros((BM, BN), dtype=tl.float32)
            if PREFETCH:  # each step loads the next K-block's scales, carried to it in registers
                sa_next, sb_next = tl.load(sa_at), tl.load(sb_at)
                for k in range(KB):
                    sa, sb = sa_next, sb_next
                    ahead = tl.minimum(k + 1, KB - 1)
                    sa_next, sb_next = tl.load(sa_at + ahead * M), tl.load(sb_at + ahead)
                    acc += tl.dot(a.load([om, k * BK]), b.load([on, k * BK]).T) * (sa * sb)[:, None]
            else:  # each step loads its own scales
                for k in range(KB):
                    sa, sb = tl.load(sa_at + k * M), tl.load(sb_at + k)
                    acc += tl.dot(a.load([om, k * BK]), b.load([on, k * BK]).T) * (sa * sb)[:, None]
            c.store([om, on], acc.to(c.dtype))

    def build(prefetch):
        return capturing_stderr(lambda: triton_compile(
            gemm, {"a_ptr": "*fp8e4nv", "b_ptr": "*fp8e4nv", "sa_ptr": "*fp32", "sb_ptr": "*fp32", "c_ptr": "*bf16",
                   "M": "i32", "N": "i32", "K": "i32"},
            {"BM": 128, "BN": 128, "BK": 128, "SMS": 132, "PREFETCH": prefetch}, "sm_90a", num_warps=4, num_stages=3))

    control, log = build(False)
    if isinstance(control, RuntimeError) or "setmaxnreg" not in control.asm["ptx"]:
        raise RuntimeError(f"control (scales loaded in-step) was not warp-specialized: {control}; "
                           f"{[l for l in log.splitlines() if 'error' in l][:2]}")
    result, log = build(True)
    if isinstance(result, RuntimeError):
        if "PassManager::run failed" in str(result) and "NVGPUWarpSpecialization" in log:
            return True
        raise RuntimeError(f"{result}; MLIR said: {[l for l in log.splitlines() if 'error' in l][:2]}") from result
    if "setmaxnreg" not in result.asm["ptx"]:
        raise RuntimeError("compiled, but not warp-specialized (no setmaxnreg): the finding changed, revisit it")
    return False
