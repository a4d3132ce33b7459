"""TileLang's Ascend T.gemm on L1 operands takes only B stored as (N, K): a plain A·B with B as (K, N)
is refused, so a port stages L0A/L0B by hand."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "limit"
TITLE = "Ascend: T.gemm on L1 operands supports only transpose_A=False, transpose_B=True (B stored as N x K)"
EXPECTED = ("T.gemm(A_l1, B_l1, C_l0c) with B_l1 a (K, N) tile multiplies as on CUDA, where T.gemm takes either "
            "layout of B")
ACTUAL = ("AssertionError 'Ascend L1 GEMM currently only supports trans_A=False, trans_B=True (NT).'; the same "
          "gemm with B as (N, K) and transpose_B=True lowers")
WORKAROUND = ["kernels/matmul/tilelang_matched_ascend.py:matmul_kernel"]  # L1 -> L0A/L0B by hand, then the MAD
HOW = "lower for TileLang's Ascend target (kind ascend, no CANN needed): a 128^3 fp16 gemm on L1 tiles, B as (K, N) vs (N, K)"
M = N = K = 128


def gemm(b_stored_nk):
    import tilelang.ascend.language as A

    shape = (N, K) if b_stored_nk else (K, N)

    @A.prim_func
    def matmul(X: A.Tensor((M, K), "float16"), W: A.Tensor(shape, "float16"), C: A.Tensor((M, N), "float32")):
        with A.Kernel(1) as bx:
            x_l1 = A.alloc_l1((M, K), "float16")
            w_l1 = A.alloc_l1(shape, "float16")
            c_l0c = A.alloc_l0c((M, N), "float32")
            A.copy(X, x_l1)
            A.copy(W, w_l1)
            A.gemm(x_l1, w_l1, c_l0c, transpose_B=b_stored_nk, clear_accum=True)
            A.copy(c_l0c, C)
    return matmul


def reproduce():
    from bench.ledger.build import tilelang_lower

    tilelang_lower(gemm(True), {"kind": "ascend"})  # the control: NT lowers
    try:
        tilelang_lower(gemm(False), {"kind": "ascend"})
    except AssertionError as exc:
        if "only supports trans_A=False, trans_B=True" in str(exc):
            return True
        raise
    return False
