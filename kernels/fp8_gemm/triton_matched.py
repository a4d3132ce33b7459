"""Block-scaled FP8 GEMM in Triton, matched track: C = sum_k (A_k · B_kᵀ) * sa[:, k] * sb[n // 128, k].

Track: matched, the same code path as kernels/fp8_gemm/tilelang_matched.py, so that a gap on
a GPU is code generation. Each program computes one block_M x 128 tile of C, walking K in
128-deep blocks (one scale each) through a num_stages-deep pipeline; each block's product
starts from zero in fp32 (the tensor-core chain), is scaled by sa * sb and added into the
fp32 tile accumulator (the promotion, DeepSeek-V3's two-level accumulation).
- loads: pointers with masks (A, B, and the scales), pipelined as cp.async (LDGSTS);
  TileLang's PASS_CONFIGS turn its TMA lowering and warp specialization off to do the same;
- sizes: specialized in both DSLs, M, N and K compile-time constants (here tl.constexpr,
  there Python ints); every stride follows from them (contiguous operands); bounds are
  checked only where a size is not a multiple of its tile (EVEN_M, EVEN_N, EVEN_K here);
- the same grouped tile order, written out in both; no persistence, no warp specialization;
- epilogue: the fp32 tile goes through shared memory to global, in bf16;
- MMA: warps stacked along M, one warpgroup per 64 rows (TileLang: GemmWarpPolicy.FullRow),
  so both issue QGMMA 64x128x32;
- fast math off in both (no division or transcendental here: ue8m0 scales are decoded by
  shifting the exponent byte into place);
- split_k > 1: each K slice writes an fp32 partial to the workspace and a second kernel sums
  the slices in order (the same method as TileLang's).

SASS on sm_90a: cp.async, QGMMA 64x128, no spills. Not: TMA load, warp specialization.
"""
import torch
import triton
import triton.language as tl

# the config list both DSLs share; the split-K workspace both take (spec.workspace)
from kernels.fp8_gemm.spec import BLOCK, COMBINE_M, COMBINE_N, CONFIGS, GROUP_M  # noqa: F401
from kernels.fp8_gemm.spec import workspace as shared_workspace


@triton.jit
def scale_value(s, UE8M0: tl.constexpr):
    """A scale as stored -> fp32: an exponent byte goes into fp32's exponent field."""
    if UE8M0:
        value = (s.to(tl.int32) << 23).to(tl.float32, bitcast=True)
    else:
        value = s
    return value


@triton.jit
def grouped_tile(tile, tiles_m, tiles_n, GROUP: tl.constexpr):
    """Tile number -> (row, column) of tiles: GROUP tile rows are walked down before moving right."""
    per_group = GROUP * tiles_n
    first_m = (tile // per_group) * GROUP
    group_rows = min(tiles_m - first_m, GROUP)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows


@triton.jit
def fp8_gemm_kernel(
    a_ptr, sa_ptr, b_ptr, sb_ptr, c_ptr, partial_ptr,  # A (M, K), SA (M, K/128), B (N, K), SB (cdiv(N, 128), K/128), C, partials
    M: tl.constexpr, N: tl.constexpr, K: tl.constexpr,  # sizes: compile-time constants
    BLOCK_M: tl.constexpr, BLOCK_NK: tl.constexpr, SPLIT_K: tl.constexpr, GROUP: tl.constexpr,
    UE8M0: tl.constexpr,
):
    KB: tl.constexpr = K // BLOCK_NK  # K-blocks, one scale each
    K_TILES: tl.constexpr = (KB + SPLIT_K - 1) // SPLIT_K  # per K slice
    EVEN_M: tl.constexpr = M % BLOCK_M == 0
    EVEN_N: tl.constexpr = N % BLOCK_NK == 0
    EVEN_K: tl.constexpr = KB == K_TILES * SPLIT_K
    pid_m, pid_n = grouped_tile(tl.program_id(0), tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_NK), GROUP)
    split = tl.program_id(1)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_NK + tl.arange(0, BLOCK_NK)
    offs_k = tl.arange(0, BLOCK_NK)
    k0 = split * K_TILES
    a_ptrs = a_ptr + offs_m[:, None] * K + (k0 * BLOCK_NK + offs_k)[None, :]
    # B's tile is read as Bᵀ (K-block x N-block), K contiguous: the K-major operand wgmma wants.
    b_ptrs = b_ptr + (k0 * BLOCK_NK + offs_k)[:, None] + offs_n[None, :] * K
    rows = (offs_m < M) | EVEN_M
    cols = (offs_n < N) | EVEN_N

    acc = tl.zeros((BLOCK_M, BLOCK_NK), dtype=tl.float32)
    for k in range(0, K_TILES):
        # Rows past M, columns past N and K-blocks past K load as zeros (and scale 0): they add nothing.
        in_k = (offs_k < (KB - k0 - k) * BLOCK_NK) | EVEN_K
        kb = min(k0 + k, KB - 1)  # a K-block past K multiplies zeros: any scale will do
        a = tl.load(a_ptrs, mask=rows[:, None] & in_k[None, :], other=0.0)
        b = tl.load(b_ptrs, mask=in_k[:, None] & cols[None, :], other=0.0)
        sa = scale_value(tl.load(sa_ptr + offs_m * KB + kb, mask=rows, other=0), UE8M0)
        sb = scale_value(tl.load(sb_ptr + pid_n * KB + kb), UE8M0)
        acc += tl.dot(a, b) * (sa * sb)[:, None]
        a_ptrs += BLOCK_NK
        b_ptrs += BLOCK_NK

    out = offs_m[:, None] * N + offs_n[None, :]
    inside = rows[:, None] & cols[None, :]
    if SPLIT_K == 1:
        tl.store(c_ptr + out, acc.to(c_ptr.dtype.element_ty), mask=inside)
    else:
        tl.store(partial_ptr + split * M * N + out, acc, mask=inside)


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


def fp8_gemm(a, sa, b, sb, c, partial=None, *, block_M, num_stages, threads, split_k):
    """C = A·Bᵀ with block scales, into the preallocated c, with one config of the matched
    list; `partial` is the split-K workspace when split_k > 1.

    Scales are fp32, or uint8 exponent bytes (UE8M0); both operands' in the same format."""
    M, K = a.shape
    N = b.shape[0]
    assert K % BLOCK == 0 and b.shape[1] == K and c.shape == (M, N), "shapes do not match"
    assert sa.shape == (M, K // BLOCK) and sb.shape == (triton.cdiv(N, BLOCK), K // BLOCK), "scale shapes do not match"
    assert sa.dtype == sb.dtype and sa.dtype in (torch.float32, torch.uint8), "scales: both fp32 or both uint8"
    assert all(t.is_contiguous() for t in (a, sa, b, sb, c)), "strides follow from N and K"
    tiles = triton.cdiv(M, block_M) * triton.cdiv(N, BLOCK)
    fp8_gemm_kernel[(tiles, split_k)](
        a, sa, b, sb, c, c if partial is None else partial, M, N, K,
        BLOCK_M=block_M, BLOCK_NK=BLOCK, SPLIT_K=split_k, GROUP=GROUP_M, UE8M0=sa.dtype == torch.uint8,
        num_warps=threads // 32, num_stages=num_stages,
    )
    if split_k > 1:
        grid = (triton.cdiv(N, COMBINE_N), triton.cdiv(M, COMBINE_M))
        splitk_sum_kernel[grid](partial, c, M, N, split_k, BLOCK_M=COMBINE_M, BLOCK_N=COMBINE_N, num_warps=4)
    return c


def workspace(shape, dtype, config, device):
    """The split-K partials (spec.workspace, matched track): the same buffer TileLang's kernel takes."""
    return shared_workspace(shape, dtype, config, device, "matched")
