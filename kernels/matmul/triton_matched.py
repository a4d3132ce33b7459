"""Matmul in Triton, matched track: C = A·B, tiled, software-pipelined, fp32 accumulation.

Track: matched, the same code path as kernels/matmul/tilelang_matched.py, so that a gap on a
GPU is code generation:
- loads: pointers with masks, which Triton pipelines as cp.async (LDGSTS) num_stages deep;
  TileLang's PASS_CONFIGS turn its TMA lowering and warp specialization off to do the same;
- sizes: specialized in both DSLs, M, N and K compile-time constants (here tl.constexpr,
  there Python ints; TileLang's symbolic sizes cost 2.5x its CPU-path compile time), so every
  stride follows from them (contiguous operands) and a bounds check is emitted only where a
  size is not a multiple of its tile (EVEN_M, EVEN_N, EVEN_K here; TileLang proves it);
- the same grouped tile order, written out in both; no persistence, no warp specialization;
- epilogue: the fp32 tile goes through shared memory to global (Triton's layout conversion
  for the store; TileLang's explicit C_shared), in the output dtype;
- MMA: the warps of a 128-row tile are stacked along M, one warpgroup per 64 rows (Triton's
  wgmma layout; TileLang's GemmWarpPolicy.FullRow), so both issue the same HGMMA shape;
- fast math off in both (Triton has no such mode and fuses mul+add into FMA as nvcc does);
- split_k > 1: each K slice writes an fp32 partial to the workspace and a second kernel sums
  the slices in order (the same method as TileLang's).

SASS on sm_90a: cp.async, HGMMA 64x128, no spills. Not: TMA load, TMA store, warp specialization.
"""
import torch
import triton
import triton.language as tl

# the config list both DSLs share; the split-K workspace both take (spec.workspace)
from kernels.matmul.spec import COMBINE_M, COMBINE_N, CONFIGS, GROUP_M, workspace  # noqa: F401

@triton.jit
def grouped_tile(tile, tiles_m, tiles_n, GROUP: tl.constexpr):
    """Tile number -> (row, column) of tiles: GROUP tile rows are walked down before moving right."""
    per_group = GROUP * tiles_n
    first_m = (tile // per_group) * GROUP
    group_rows = min(tiles_m - first_m, GROUP)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows


@triton.jit
def matmul_kernel(
    a_ptr, b_ptr, c_ptr, partial_ptr,  # A (M, K), B (K, N), C (M, N), fp32 partials (SPLIT_K, M, N)
    M: tl.constexpr, N: tl.constexpr, K: tl.constexpr,  # sizes: compile-time constants
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, SPLIT_K: tl.constexpr,
    GROUP: tl.constexpr,
):
    K_TILES: tl.constexpr = (K + BLOCK_K * SPLIT_K - 1) // (BLOCK_K * SPLIT_K)  # per K slice
    EVEN_M: tl.constexpr = M % BLOCK_M == 0
    EVEN_N: tl.constexpr = N % BLOCK_N == 0
    EVEN_K: tl.constexpr = K == K_TILES * BLOCK_K * SPLIT_K
    pid_m, pid_n = grouped_tile(tl.program_id(0), tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N), GROUP)
    split = tl.program_id(1)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = split * K_TILES * BLOCK_K + tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * K + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * N + offs_n[None, :]
    rows = (offs_m[:, None] < M) | EVEN_M
    cols = (offs_n[None, :] < N) | EVEN_N

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K_TILES):
        # Out-of-range rows, columns and the K tail load as zeros, which add nothing.
        in_k = (offs_k < K - k * BLOCK_K) | EVEN_K
        a = tl.load(a_ptrs, mask=rows & in_k[None, :], other=0.0)
        b = tl.load(b_ptrs, mask=in_k[:, None] & cols, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K * N

    out = offs_m[:, None] * N + offs_n[None, :]
    if SPLIT_K == 1:
        tl.store(c_ptr + out, acc.to(c_ptr.dtype.element_ty), mask=rows & cols)
    else:
        tl.store(partial_ptr + split * M * N + out, acc, mask=rows & cols)


@triton.jit
def splitk_sum_kernel(partial_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, SPLIT_K: tl.constexpr,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """C = sum over s of partial[s], in order s = 0, 1, ... (deterministic), in C's dtype."""
    offs_m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    inside = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    out = offs_m[:, None] * N + offs_n[None, :]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for s in range(SPLIT_K):
        acc += tl.load(partial_ptr + s * M * N + out, mask=inside, other=0.0)
    tl.store(c_ptr + out, acc.to(c_ptr.dtype.element_ty), mask=inside)


def matmul(a, b, c, partial=None, *, block_M, block_N, block_K, num_stages, threads, split_k):
    """C = A·B into the preallocated c, with one config of the matched list; `partial` is the
    split-K workspace (spec.workspace) when split_k > 1."""
    M, K = a.shape
    N = b.shape[1]
    assert b.shape[0] == K and c.shape == (M, N), "shapes do not match"
    assert a.dtype == b.dtype == c.dtype, "A, B and C must share one dtype"
    assert a.is_contiguous() and b.is_contiguous() and c.is_contiguous(), "strides follow from N and K"
    tiles = triton.cdiv(M, block_M) * triton.cdiv(N, block_N)
    matmul_kernel[(tiles, split_k)](
        a, b, c, c if partial is None else partial, M, N, K,
        BLOCK_M=block_M, BLOCK_N=block_N, BLOCK_K=block_K, SPLIT_K=split_k, GROUP=GROUP_M,
        num_warps=threads // 32, num_stages=num_stages,
    )
    if split_k > 1:
        grid = (triton.cdiv(N, COMBINE_N), triton.cdiv(M, COMBINE_M))
        splitk_sum_kernel[grid](partial, c, M, N, split_k, BLOCK_M=COMBINE_M, BLOCK_N=COMBINE_N, num_warps=4)
    return c

