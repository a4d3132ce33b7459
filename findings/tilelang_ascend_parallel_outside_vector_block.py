"""TileLang's Ascend target refuses the CUDA-style kernel language: a T.Parallel loop must sit in a
vector-function block, so none of our CUDA-shaped TileLang kernels lowers for Ascend as written."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "limit"
TITLE = ("for Ascend, a T.Parallel loop outside T.SimtVF()/T.SimdVF() is refused: a kernel written for CUDA "
         "(fragment epilogues, elementwise T.Parallel) does not lower until rewritten in the Ascend dialect")
EXPECTED = ("the article's portability claim read literally: the same TileLang kernel lowers for another chip, as "
            "our kernels lower for sm_80 to sm_100a and gfx942 (HIP) unchanged")
ACTUAL = ("ValueError \"[TileLang Semantic Check] T.Parallel loop 'i' must be inside a VF block (T.SimdVF() or "
          "T.SimtVF())\"; the same loop inside `with T.SimtVF(threads=128):` over a UB (shared) buffer lowers. "
          "Every TileLang matmul and attention kernel of ours fails this way (dslbench inspect --arch ascend)")
WORKAROUND = ["kernels/matmul/tilelang_matched_ascend.py:matmul_kernel"]  # a port in the Ascend dialect
HOW = "lower for TileLang's Ascend target (kind ascend, no CANN needed): x * 2 over 256 floats, CUDA-style vs in a SimtVF block"
N = 256


def reproduce():
    import tilelang.ascend.language as A
    import tilelang.language as T

    from bench.ledger.build import tilelang_lower

    @T.prim_func
    def cuda_style(X: T.Tensor((N,), "float32"), Y: T.Tensor((N,), "float32")):
        with T.Kernel(1, threads=128) as bx:
            x = T.alloc_fragment((N,), "float32")
            T.copy(X, x)
            for i in T.Parallel(N):
                x[i] = x[i] * 2.0
            T.copy(x, Y)

    @A.prim_func
    def ascend_style(X: A.Tensor((N,), "float32"), Y: A.Tensor((N,), "float32")):
        with A.Kernel(1) as bx:
            x = A.alloc_shared((N,), "float32")  # the Vector core's Unified Buffer
            A.copy(X, x)
            with A.SimtVF(threads=128):
                for i in A.Parallel(N):
                    x[i] = x[i] * 2.0
            A.copy(x, Y)

    tilelang_lower(ascend_style, {"kind": "ascend"})  # the control: the same loop in a vector block lowers
    try:
        tilelang_lower(cuda_style, {"kind": "ascend"})
    except ValueError as exc:
        if "must be inside a VF block" in str(exc):
            return True
        raise
    return False
