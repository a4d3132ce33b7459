"""Activation quantization to FP8 in Triton: y = clamp(x / s, ±448), s = max(amax, 1e-4) · fp32(1/448)
per row and group of 128 columns, s rounded up to a power of two when ue8m0.

Track: matched (the only track of act_quant so far: a memory-bound op, one tile per program,
plain loads in both DSLs; see README, two tracks).

The same algorithm as kernels/act_quant/tilelang_matched.py: each program quantizes a block_M x 128
tile (one group of block_M rows): a row-wise absmax, the scales, then the divided and
clamped tile, converted to e4m3 on the store. Divisions are IEEE-rounded (div_rn), as
TileLang's `/` is: Triton's plain `/` on fp32 is an approximation.

SASS on sm_90a: no spills. Not: TMA load, cp.async.
"""
import torch
import triton
import triton.language as tl

from kernels.act_quant.spec import AMAX_FLOOR, CONFIGS, FP8_MAX, FP8_MAX_INV, GROUP  # noqa: F401  (CONFIGS: shared)


@triton.jit
def pow2_ceil(s):
    """2^ceil(log2 s) for a positive normal fp32 s, exactly, on its bits: keep the exponent,
    add one if any mantissa bit is set, clear the mantissa."""
    bits = s.to(tl.int32, bitcast=True)
    exponent = (bits >> 23) + ((bits & 0x7FFFFF) != 0).to(tl.int32)
    return (exponent << 23).to(tl.float32, bitcast=True)


@triton.jit
def act_quant_kernel(
    # pointers to X (M, N), Y (M, N) and S (M, N / GROUP)
    x_ptr, y_ptr, s_ptr,
    # problem size: any M >= 1; N a multiple of GROUP
    M, N,
    # strides, in elements
    stride_xm, stride_xn, stride_ym, stride_yn, stride_sm, stride_sg,
    # scale format, tile size
    UE8M0: tl.constexpr, BLOCK_M: tl.constexpr, GROUP_N: tl.constexpr,
    AMAX_MIN: tl.constexpr, QMAX: tl.constexpr, QMAX_INV: tl.constexpr,
):
    pid_g = tl.program_id(0)
    pid_m = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_g * GROUP_N + tl.arange(0, GROUP_N)
    rows = offs_m[:, None] < M
    # Rows past M load as zeros: their amax is the floor, and they are not stored.
    x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_n[None, :] * stride_xn, mask=rows, other=0.0)
    x = x.to(tl.float32)
    amax = tl.maximum(tl.max(tl.abs(x), axis=1), AMAX_MIN)
    s = amax * QMAX_INV  # an fp32 multiply by the reciprocal, as DeepSeek's kernel
    if UE8M0:
        s = pow2_ceil(s)
    y = tl.math.div_rn(x, s[:, None])
    y = tl.minimum(tl.maximum(y, -QMAX), QMAX)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn, y.to(y_ptr.dtype.element_ty), mask=rows)
    tl.store(s_ptr + offs_m * stride_sm + pid_g * stride_sg, s, mask=offs_m < M)


def act_quant(x, y, s, ue8m0, block_M, threads):
    """Quantize x into the preallocated y and s, with one config of the shared list."""
    M, N = x.shape
    assert N % GROUP == 0, f"N={N} must be a multiple of {GROUP}"
    assert y.shape == (M, N) and s.shape == (M, N // GROUP), "shapes do not match"
    assert s.dtype == torch.float32, "scales are stored in fp32"
    grid = (N // GROUP, triton.cdiv(M, block_M))
    act_quant_kernel[grid](
        x, y, s, M, N,
        x.stride(0), x.stride(1), y.stride(0), y.stride(1), s.stride(0), s.stride(1),
        UE8M0=ue8m0, BLOCK_M=block_M, GROUP_N=GROUP, AMAX_MIN=AMAX_FLOOR, QMAX=FP8_MAX, QMAX_INV=FP8_MAX_INV,
        num_warps=threads // 32,
    )
    return s
