"""Triton's interpreter loses the mantissa's carry into the exponent when it rounds fp32 -> e4m3."""
DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "bug"
TITLE = "the interpreter's fp32 -> float8e4nv cast drops the rounding carry into the exponent: 1.96 -> 1.0"
EXPECTED = "x.to(tl.float8e4nv) rounds to nearest (even), as on a GPU (cvt.rn.satfinite.e4m3x2.f32) and as torch does: 1.96 -> 2.0"
ACTUAL = ("when rounding up overflows the 3-bit mantissa, the carry is OR-ed into the exponent field instead of added "
          "(interpreter._convert_float): the result keeps its exponent when that exponent is odd, 1.96 -> 1.0, "
          "0.49 -> 0.25, 7.9 -> 4.0, but 3.9 -> 4.0 is right")
WORKAROUND = ["bench/run/backends.py:CPU_NATIVE", "bench/run/backends.py:CPU_NATIVE_INPUTS"]  # e4m3 outputs emulated in fp32
HOW = "Triton interpreter (TRITON_INTERPRET=1): fp32 values that round up into the next binade cast with .to(tl.float8e4nv), against torch"
ENV = {"TRITON_INTERPRET": "1"}


def reproduce():
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def cast(x_ptr, y_ptr, N: tl.constexpr):
        i = tl.arange(0, N)
        tl.store(y_ptr + i, tl.load(x_ptr + i).to(tl.float8e4nv))

    # the first four round up across a power of two (no ties); the rest stay in their binade
    x = torch.tensor([1.96, 0.49, 7.9, -1.96, 1.0, 1.3, 3.9, 0.75], dtype=torch.float32)
    y = torch.zeros(8, dtype=torch.float8_e4m3fn)
    cast[(1,)](x, y, N=8)
    return not torch.equal(y.view(torch.uint8), x.to(torch.float8_e4m3fn).view(torch.uint8))
