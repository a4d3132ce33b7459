"""Block-scaled FP8 GEMM in Triton: C = sum_k (A_k · B_kᵀ) * sa[:, k] * sb[n // 128, k].

The same algorithm as kernels/fp8_gemm/tilelang_matched.py: each program computes one block_M x 128
tile of C, walking K in 128-deep blocks (one scale each) through a num_stages-deep
pipeline; each block's product starts from zero in fp32 (the tensor-core chain), is scaled
by sa * sb and added into the fp32 tile accumulator (the promotion). Tiles are visited in
groups of rows so that neighbours share B in L2.
"""
import torch
import triton
import triton.language as tl

from kernels.fp8_gemm.spec import BLOCK, CONFIGS  # noqa: F401  (the config list both DSLs share)

GROUP_M = 8  # tile rows visited together, so that their B tiles stay in L2


@triton.jit
def scale_value(s, UE8M0: tl.constexpr):
    """A scale as stored -> fp32: an exponent byte goes into fp32's exponent field."""
    if UE8M0:
        value = (s.to(tl.int32) << 23).to(tl.float32, bitcast=True)
    else:
        value = s
    return value


@triton.jit
def fp8_gemm_kernel(
    # pointers to A (M, K), its scales SA (M, K / BLOCK), B (N, K), SB (cdiv(N, BLOCK), K / BLOCK), C (M, N)
    a_ptr, sa_ptr, b_ptr, sb_ptr, c_ptr,
    # problem size: any M, N >= 1; K a multiple of BLOCK
    M, N, K,
    # strides, in elements
    stride_am, stride_ak, stride_sam, stride_sak, stride_bn, stride_bk, stride_sbn, stride_sbk,
    stride_cm, stride_cn,
    # tile sizes; the scale format (exponent bytes or fp32)
    BLOCK_M: tl.constexpr, BLOCK_NK: tl.constexpr, GROUP: tl.constexpr, UE8M0: tl.constexpr,
):
    # Grouped ordering: consecutive programs walk down GROUP tile rows before moving right.
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_NK)
    per_group = GROUP * tiles_n
    first_m = (pid // per_group) * GROUP
    group_rows = min(tiles_m - first_m, GROUP)
    pid_m = first_m + (pid % per_group) % group_rows
    pid_n = (pid % per_group) // group_rows

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_NK + tl.arange(0, BLOCK_NK)
    offs_k = tl.arange(0, BLOCK_NK)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    # B's tile is read as Bᵀ (K-block x N-block), K contiguous: the K-major operand wgmma wants.
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
    sa_ptrs = sa_ptr + offs_m * stride_sam
    sb_ptrs = sb_ptr + pid_n * stride_sbn
    rows, cols = offs_m < M, offs_n < N

    acc = tl.zeros((BLOCK_M, BLOCK_NK), dtype=tl.float32)
    for k in range(0, K // BLOCK_NK):
        # Rows past M and columns past N load as zeros (and scale 0): they add nothing.
        a = tl.load(a_ptrs, mask=rows[:, None], other=0.0)
        b = tl.load(b_ptrs, mask=cols[None, :], other=0.0)
        sa = scale_value(tl.load(sa_ptrs + k * stride_sak, mask=rows, other=0), UE8M0)
        sb = scale_value(tl.load(sb_ptrs + k * stride_sbk), UE8M0)
        acc += tl.dot(a, b) * (sa * sb)[:, None]
        a_ptrs += BLOCK_NK * stride_ak
        b_ptrs += BLOCK_NK * stride_bk

    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=rows[:, None] & cols[None, :])


def fp8_gemm(a, sa, b, sb, c, block_M, num_stages, threads):
    """C = A·Bᵀ with block scales, into the preallocated c, with one config of the shared list.

    Scales are fp32, or uint8 exponent bytes (UE8M0); both operands' in the same format."""
    M, K = a.shape
    N = b.shape[0]
    assert K % BLOCK == 0 and b.shape[1] == K and c.shape == (M, N), "shapes do not match"
    assert sa.shape == (M, K // BLOCK) and sb.shape == (triton.cdiv(N, BLOCK), K // BLOCK), "scale shapes do not match"
    assert sa.dtype == sb.dtype and sa.dtype in (torch.float32, torch.uint8), "scales: both fp32 or both uint8"
    grid = (triton.cdiv(M, block_M) * triton.cdiv(N, BLOCK),)
    fp8_gemm_kernel[grid](
        a, sa, b, sb, c, M, N, K,
        a.stride(0), a.stride(1), sa.stride(0), sa.stride(1), b.stride(0), b.stride(1), sb.stride(0), sb.stride(1),
        c.stride(0), c.stride(1),
        BLOCK_M=block_M, BLOCK_NK=BLOCK, GROUP=GROUP_M, UE8M0=sa.dtype == torch.uint8,
        num_warps=threads // 32, num_stages=num_stages,
    )
    return c
