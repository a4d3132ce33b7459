"""Activation quantization to FP8 in TileLang: y = clamp(x / s, ±448), s = max(amax, 1e-4) · fp32(1/448)
per row and group of 128 columns, s rounded up to a power of two when ue8m0.

Track: matched (the only track of act_quant so far: a memory-bound op, one tile per program,
plain loads in both DSLs; see README, two tracks).

The same algorithm as kernels/act_quant/triton_matched.py: each block quantizes a block_M x 128
tile (one group of block_M rows): a row-wise absmax, the scales, then the divided and
clamped tile, converted to e4m3 on the store. x goes from global memory straight into
registers, as in Triton. T.copy zero-fills rows past M (their amax is the floor) and clips the
store; the scale store is guarded by hand.

SASS on sm_90a: no spills. Not: TMA load, cp.async.
"""
import tilelang.language as T

from kernels.act_quant.spec import AMAX_FLOOR, CONFIGS, FP8_MAX, FP8_MAX_INV, GROUP  # noqa: F401  (CONFIGS: shared)

# The matched track's code path: plain loads (no TMA) and no producer warps, as Triton's.
PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True}

MANTISSA_BITS = 23  # of fp32


def pow2_ceil(s):
    """2^ceil(log2 s) for a positive normal fp32 s, exactly, on its bits: keep the exponent,
    add one if any mantissa bit is set, clear the mantissa."""
    bits = T.reinterpret(value=s, dtype="int32")
    exponent = T.shift_right(bits, MANTISSA_BITS)
    exponent = exponent + T.if_then_else(T.bitwise_and(bits, (1 << MANTISSA_BITS) - 1) != 0, 1, 0)
    return T.reinterpret(value=T.shift_left(exponent, MANTISSA_BITS), dtype="float32")


def act_quant_kernel(M, N, ue8m0, dtype, block_M, threads):
    """Return the prim_func (X, Y, S) for one shape, scale format and config.

    dtype is Y's format, "float8_e4m3fn", with X in bfloat16; on the C backend, which has
    neither type, both are "float32" (values already rounded: the harness's emulation)."""
    x_dtype = "bfloat16" if dtype == "float8_e4m3fn" else dtype
    accum = "float32"

    @T.prim_func
    def act_quant(
        X: T.Tensor((M, N), x_dtype),
        Y: T.Tensor((M, N), dtype),
        S: T.Tensor((M, N // GROUP), accum),
    ):
        with T.Kernel(N // GROUP, T.ceildiv(M, block_M), threads=threads) as (bx, by):
            x_local = T.alloc_fragment((block_M, GROUP), accum)
            y_local = T.alloc_fragment((block_M, GROUP), dtype)
            amax = T.alloc_fragment((block_M,), accum)
            s = T.alloc_fragment((block_M,), accum)

            T.copy(X[by * block_M, bx * GROUP], x_local)  # straight to registers, as Triton's tl.load
            T.reduce_absmax(x_local, amax, dim=1)
            for i in T.Parallel(block_M):
                s[i] = T.max(amax[i], AMAX_FLOOR) * FP8_MAX_INV  # as DeepSeek's kernel
                if ue8m0:
                    s[i] = pow2_ceil(s[i])
            for i, j in T.Parallel(block_M, GROUP):
                y_local[i, j] = T.clamp(x_local[i, j] / s[i], -FP8_MAX, FP8_MAX)
            T.copy(y_local, Y[by * block_M, bx * GROUP])
            for i in T.Parallel(block_M):
                if by * block_M + i < M:
                    S[by * block_M + i, bx] = s[i]

    return act_quant
