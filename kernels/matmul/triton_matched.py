"""Matmul in Triton: C = A·B, tiled, software-pipelined, fp32 accumulation.

The same algorithm as kernels/matmul/tilelang_matched.py: each program computes one
block_M x block_N tile of C, walking K in block_K steps through a num_stages-deep
pipeline; tiles are visited in groups of rows so that neighbours share B in L2.
"""
import torch
import triton
import triton.language as tl

from kernels.matmul.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)

GROUP_M = 8  # tile rows visited together, so that their B tiles stay in L2


@triton.jit
def matmul_kernel(
    # pointers to A (M, K), B (K, N) and C (M, N)
    a_ptr, b_ptr, c_ptr,
    # problem size: any M, N, K >= 1; edges are masked
    M, N, K,
    # strides, in elements
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    # tile sizes
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP: tl.constexpr,
):
    # Grouped ordering: consecutive programs walk down GROUP tile rows before moving right.
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP * tiles_n
    first_m = (pid // per_group) * GROUP
    group_rows = min(tiles_m - first_m, GROUP)
    pid_m = first_m + (pid % per_group) % group_rows
    pid_n = (pid % per_group) // group_rows

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        # Out-of-range rows, columns and the K tail load as zeros, which add nothing.
        k_left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < k_left), other=0.0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & (offs_n[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


def matmul(a, b, c, block_M, block_N, block_K, num_stages, threads):
    """C = A·B into the preallocated c, with one config of the shared list."""
    M, K = a.shape
    N = b.shape[1]
    assert b.shape[0] == K and c.shape == (M, N), "shapes do not match"
    assert a.dtype == b.dtype == c.dtype, "A, B and C must share one dtype"
    grid = (triton.cdiv(M, block_M) * triton.cdiv(N, block_N),)
    matmul_kernel[grid](
        a, b, c, M, N, K,
        a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0), c.stride(1),
        BLOCK_M=block_M, BLOCK_N=block_N, BLOCK_K=block_K, GROUP=GROUP_M,
        num_warps=threads // 32, num_stages=num_stages,
    )
    return c
