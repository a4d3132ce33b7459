"""Triton's interpreter truncates fp32 -> bf16 (rounds toward zero) instead of rounding to nearest even."""
DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "bug"
TITLE = "the interpreter's fp32 -> bf16 cast truncates the mantissa instead of rounding to nearest even"
EXPECTED = "x.to(tl.bfloat16) rounds to nearest even, as on a GPU (cvt.rn.bf16.f32) and as torch does: 1 + 0.75 * 2^-7 -> 1 + 2^-7"
ACTUAL = ("the low 16 bits are dropped (round toward zero): 1 + 0.75 * 2^-7 -> 1.0; the cast goes through "
          "interpreter.cast_impl, which calls _convert_float with no rounding mode")
WORKAROUND = ["bench/run/backends.py:CPU_NATIVE"]  # bf16 runs emulated in fp32 storage on the CPU paths
HOW = "Triton interpreter (TRITON_INTERPRET=1): fp32 values just above a bf16 midpoint cast with .to(tl.bfloat16), against torch"
ENV = {"TRITON_INTERPRET": "1"}


def reproduce():
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def cast(x_ptr, y_ptr, N: tl.constexpr):
        i = tl.arange(0, N)
        tl.store(y_ptr + i, tl.load(x_ptr + i).to(tl.bfloat16))

    # each past the midpoint between two bf16 neighbours (no ties): nearest is the upper one
    ulp = 2.0 ** -7
    x = torch.tensor([1 + 0.75 * ulp, -(1 + 0.75 * ulp), 3 + 1.6 * ulp, 1 + 0.5 * ulp + 2.0 ** -20,
                      1.0, 0.5, 1 + 0.25 * ulp, 2.0], dtype=torch.float32)
    y = torch.zeros(8, dtype=torch.bfloat16)
    cast[(1,)](x, y, N=8)
    return not torch.equal(y.view(torch.int16), x.to(torch.bfloat16).view(torch.int16))
