"""Triton 3.6's interpreter cannot start a tl.range at tl.program_id(0): the persistent-kernel loop fails on the CPU."""
DSL = "triton"
FOUND_IN = "3.6.0"
KIND = "bug"
TITLE = "the interpreter fails on `tl.range(tl.program_id(0), n, step)`: 'only 0-dimensional arrays can be converted to Python scalars'"
EXPECTED = ("a persistent loop `for i in tl.range(tl.program_id(0), n, NUM_PROGRAMS)` runs in the interpreter as on a GPU "
            "(program p visits p, p + step, ...), as Triton 3.9's interpreter does")
ACTUAL = ("InterpreterError(TypeError('only 0-dimensional arrays can be converted to Python scalars')): the interpreter's "
          "program_id is a 1-element array and tensor.__index__ calls int() on it, which NumPy 2 refuses (seen with "
          "NumPy 2.4.6; 3.9's __index__ squeezes it first)")
WORKAROUND = []  # none: our persistent kernels (matmul, fp8_gemm, grouped_gemm best) loop this way; 3.9 runs them
HOW = "Triton interpreter (TRITON_INTERPRET=1): a 3-program grid-stride tl.range loop from tl.program_id(0) storing its program's id"
ENV = {"TRITON_INTERPRET": "1"}


def reproduce():
    import torch
    import triton
    import triton.language as tl
    from triton.runtime.errors import InterpreterError

    @triton.jit
    def stride_loop(x_ptr, n, STEP: tl.constexpr):
        pid = tl.program_id(0)
        for i in tl.range(tl.program_id(0), n, STEP):
            tl.store(x_ptr + i, pid + 1.0)

    x = torch.full((10,), -1.0)
    try:
        stride_loop[(3,)](x, 10, STEP=3)
    except InterpreterError as exc:
        if "only 0-dimensional arrays can be converted to Python scalars" in str(exc):
            return True
        raise
    expected = torch.arange(10) % 3 + 1.0
    if not torch.equal(x, expected):
        raise AssertionError(f"the loop ran but wrote {x.tolist()}, not {expected.tolist()}: another interpreter bug")
    return False
