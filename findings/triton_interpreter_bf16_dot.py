"""Triton's interpreter multiplies bf16 bit patterns in tl.dot: a bf16 product is garbage on the CPU."""
import numpy as np

DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "bug"
TITLE = "the interpreter's tl.dot on bf16 operands multiplies their bit patterns, not their values"
EXPECTED = "tl.dot of two bf16 blocks equals their product in fp32 (as on a GPU, and as the interpreter does for fp16)"
ACTUAL = "the result is orders of magnitude off: the bf16 words are reinterpreted as 16-bit integers or fp16"
WORKAROUND = ["bench/run/backends.py:CPU_NATIVE"]  # bf16 runs emulated in fp32 storage on the CPU paths
HOW = "Triton interpreter (TRITON_INTERPRET=1): an 16x16x16 bf16 tl.dot against torch"
ENV = {"TRITON_INTERPRET": "1"}


def reproduce():
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def dot(a_ptr, b_ptr, c_ptr, N: tl.constexpr):
        rows, cols = tl.arange(0, N)[:, None], tl.arange(0, N)[None, :]
        a = tl.load(a_ptr + rows * N + cols)
        b = tl.load(b_ptr + rows * N + cols)
        tl.store(c_ptr + rows * N + cols, tl.dot(a, b))

    torch.manual_seed(0)
    a, b = (torch.randn(16, 16).to(torch.bfloat16) for _ in range(2))
    c = torch.full((16, 16), float("nan"))
    dot[(1,)](a, b, c, N=16)
    expected = a.double() @ b.double()
    error = (c.double() - expected).norm() / expected.norm()
    return not bool(error < 1e-2)
