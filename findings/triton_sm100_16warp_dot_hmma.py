"""Triton on sm_100a: an e4m3 tl.dot in a 16-warp kernel falls back to HMMA instead of tcgen05 (UTCQMMA)."""
DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "limit"
TITLE = "on sm_100a a 16-warp (512-thread) kernel's tl.dot is not lowered to tcgen05: HMMA, not UTCQMMA"
EXPECTED = ("the 256x128x128 e4m3 tl.dot of dsa_index's best config (block_N=256, 512 threads) becomes tcgen05 MMAs "
            "(UTCQMMA) on sm_100a, as it does at 8 warps, and as it becomes QGMMA on sm_90a at 16 warps")
ACTUAL = ("at num_warps=16 Triton's sm_100a lowering falls back to mma.sync: the e4m3 operands are converted to "
          "fp16 (F2FP) and multiplied by 128 HMMA.16816.F32, no UTC*MMA; the same dot at num_warps=8 gets UTCQMMA. "
          "The portability matrix records dsa_index triton-best on sm_100a as 'fallback HMMA (1 fallback, 1 native configs)'")
WORKAROUND = []  # none: the best track's configs are shared by every arch; the 256-thread config gets UTCQMMA
HOW = "compile for sm_100a: one 256x128x128 e4m3 tl.dot (k · qᵀ, fp32 out) at num_warps=16 and, as a control, 8; count the SASS MMAs"


def reproduce():
    import triton.language as tl
    from triton import jit

    from bench.ledger.build import triton_compile, triton_sass

    @jit
    def scores(k_ptr, q_ptr, out_ptr, BLOCK_N: tl.constexpr, QH: tl.constexpr, D: tl.constexpr):
        # dsa_index best's step: block_N keys x (block_Q * H = 128) query heads, D = 128 deep, e4m3
        n = tl.arange(0, BLOCK_N)[:, None]
        d = tl.arange(0, D)[None, :]
        k = tl.load(k_ptr + n * D + d)
        qt = tl.trans(tl.load(q_ptr + tl.arange(0, QH)[:, None] * D + d))
        tl.store(out_ptr + n * QH + tl.arange(0, QH)[None, :], tl.dot(k, qt))

    def mmas(num_warps):
        compiled = triton_compile(scores, {"k_ptr": "*fp8e4nv", "q_ptr": "*fp8e4nv", "out_ptr": "*fp32"},
                                  {"BLOCK_N": 256, "QH": 128, "D": 128}, "sm_100a", num_warps=num_warps, num_stages=3)
        ops = triton_sass(compiled)
        return ops.get("HMMA", 0), sum(v for k, v in ops.items() if k.startswith("UTC") and k.endswith("MMA"))

    hmma, tcgen05 = mmas(8)
    if hmma or not tcgen05:  # the control: at 8 warps this dot is tcgen05, or the reproducer tests nothing
        raise RuntimeError(f"control (num_warps=8) did not compile to tcgen05 alone: HMMA {hmma}, UTC*MMA {tcgen05}")
    hmma, tcgen05 = mmas(16)
    if hmma and not tcgen05:
        return True
    if tcgen05 and not hmma:
        return False
    raise RuntimeError(f"num_warps=16: unexpected MMA mix, HMMA {hmma}, UTC*MMA {tcgen05}")
