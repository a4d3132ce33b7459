"""Triton refuses float8e4nv (e4m3) on sm_80: a kernel that loads or casts to it does not compile for Ampere."""
DSL = "triton"
FOUND_IN = "3.9.0"
KIND = "limit"
TITLE = "tl.float8e4nv (e4m3) is refused for sm_80: 'type fp8e4nv not supported in this architecture'"
EXPECTED = ("a kernel that reads e4m3 and widens it to fp32 compiles for sm_80 (in software, as Triton does for "
            "fp8e5 and fp8e4b15 there; Ampere has no fp8 convert or MMA instruction)")
ACTUAL = ("CompilationError: ValueError(\"type fp8e4nv not supported in this architecture. The supported fp8 dtypes "
          "are ('fp8e4b15', 'fp8e5')\"): e4m3 needs sm_89 or newer")
WORKAROUND = []  # none: our e4m3 kernels are simply not built for sm_80 (the portability matrix records the failure)
HOW = "compile for sm_80: a 128-element kernel loading *fp8e4nv and storing it as fp32"


def reproduce():
    import triton.language as tl
    from triton import jit
    from triton.compiler.errors import CompilationError

    from bench.ledger.build import triton_compile

    @jit
    def widen(x_ptr, y_ptr, N: tl.constexpr):
        i = tl.arange(0, N)
        tl.store(y_ptr + i, tl.load(x_ptr + i).to(tl.float32))

    try:
        triton_compile(widen, {"x_ptr": "*fp8e4nv", "y_ptr": "*fp32"}, {"N": 128}, "sm_80", num_warps=4)
    except CompilationError as exc:
        if "fp8e4nv not supported in this architecture" in str(exc):
            return True
        raise
    return False
