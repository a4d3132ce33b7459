"""MoE grouped GEMM in Triton, matched track: C[rows of expert e] = A[those rows] · B[e]ᵀ.

Track: matched, the same code path as kernels/grouped_gemm/tilelang_matched.py, so that a gap
on a GPU is code generation. One program computes one block_M x block_N tile of C for one
expert: grid (column tiles, row tiles, experts), the row tiles of the contiguous layout
R / block_M (block_M divides ALIGN_M: a tile never spans two experts), of the masked one
cdiv(M_max, block_M) per expert (grid axis 2).
- tile -> expert: contiguous, the expert of the tile's first row (grouped_layout; -1: a tile
  of padding rows, which returns at once); masked, the grid's expert, whose count ends its
  rows (a tile at or past the count returns at once);
- loads: pointers with masks (A, B as its (N, K) rows of expert e, transposed in the dot, and
  the scales), which Triton pipelines as cp.async (LDGSTS) num_stages deep; TileLang's
  PASS_CONFIGS turn its TMA lowering and warp specialization off to do the same. Contiguous:
  every row of the tile is read and written (padding rows are don't-care), columns past N
  masked; masked: rows past the count are neither read nor written;
- sizes: specialized in both DSLs, the rows (R or M_max), N and K compile-time constants (here
  tl.constexpr, there Python ints); every stride follows from them (contiguous operands);
- e4m3: each 128-deep K-block's product starts from zero in fp32 (the tensor-core chain), is
  scaled by sa[row, k] * sb[e, n // 128, k] (block_N divides 128: one sb per K-block) and
  added into the fp32 tile accumulator (fp8_gemm's two-level sum); ue8m0 scales are
  decoded by shifting the exponent byte into place. bf16: one fp32 accumulator, 64-deep steps;
- epilogue: the fp32 tile cast to bf16 and written with tl.store, masked as the loads (Triton
  converts the accumulator's layout through shared memory for 128-bit stores);
- no persistence, no warp specialization;
- MMA: warps stacked along M, one warpgroup per 64 rows (TileLang: GemmWarpPolicy.FullRow),
  so both issue the same warpgroup MMA shape (bf16: HGMMA 64 x block_N; e4m3: QGMMA);
- fast math off in both (no division or transcendental here).

SASS on sm_90a: cp.async, HGMMA 64x128, no spills. Not: TMA load, TMA store, warp specialization.
"""
import torch
import triton
import triton.language as tl

# the config list both DSLs share; block_K is the dtype's (64 bf16, 128 e4m3: one scale block)
from kernels.fp8_gemm.triton_matched import scale_value  # fp8_gemm matched's scale decoder
from kernels.grouped_gemm.spec import BLOCK, CONFIGS, block_k  # noqa: F401

SCALE_BLOCK = tl.constexpr(BLOCK)  # 128: one scale per 128 K-values (sa) and per 128x128 block (sb)


@triton.jit
def grouped_gemm_kernel(
    a_ptr, sa_ptr, b_ptr, sb_ptr, layout_ptr, c_ptr,  # A, SA, B (G, N, K), SB (G, cdiv(N, 128), K/128), grouped_layout, C
    ROWS: tl.constexpr, N: tl.constexpr, K: tl.constexpr,  # ROWS: R (contiguous) or M_max (masked)
    MASKED: tl.constexpr, SCALED: tl.constexpr, UE8M0: tl.constexpr,  # layout; e4m3 with scales; their format
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    KB: tl.constexpr = K // SCALE_BLOCK  # scale blocks along K
    NB: tl.constexpr = (N + SCALE_BLOCK - 1) // SCALE_BLOCK  # scale blocks along N
    EVEN_N: tl.constexpr = N % BLOCK_N == 0
    pid_n, pid_m = tl.program_id(0), tl.program_id(1)
    if MASKED:  # A, SA and C are (G, M_max, ...): this expert's rows start at expert * M_max
        expert = tl.program_id(2)
        count = tl.load(layout_ptr + expert)
        if pid_m * BLOCK_M >= count:
            return
        first = expert.to(tl.int64) * ROWS
    else:  # one (R, ...) run of rows: the tile's first row names its expert
        expert = tl.load(layout_ptr + pid_m * BLOCK_M)
        if expert < 0:
            return
        count = ROWS
        first = 0

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # rows within the expert's (masked) or all rows
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + first * K + offs_m[:, None] * K + offs_k[None, :]
    b_ptrs = b_ptr + expert.to(tl.int64) * N * K + offs_n[:, None] * K + offs_k[None, :]  # B[e]'s rows n
    sa_ptrs = sa_ptr + first * KB + offs_m * KB
    sb_ptrs = sb_ptr + expert * NB * KB + (pid_n * BLOCK_N // SCALE_BLOCK) * KB  # one scale per K-block
    rows = (offs_m < count) | (not MASKED)  # contiguous: every row (padding rows are don't-care)
    cols = (offs_n < N) | EVEN_N

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K // BLOCK_K):
        # Rows past the count and columns past N load as zeros: they add nothing.
        a = tl.load(a_ptrs, mask=rows[:, None], other=0.0)
        b = tl.load(b_ptrs, mask=cols[:, None], other=0.0)
        if SCALED:
            sa = scale_value(tl.load(sa_ptrs + k, mask=rows, other=0), UE8M0)
            sb = scale_value(tl.load(sb_ptrs + k), UE8M0)
            acc += tl.dot(a, tl.trans(b)) * (sa * sb)[:, None]  # scales multiplied first, as TileLang's
        else:
            acc += tl.dot(a, tl.trans(b))
        a_ptrs += BLOCK_K
        b_ptrs += BLOCK_K

    c_ptrs = c_ptr + first * N + offs_m[:, None] * N + offs_n[None, :]
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=rows[:, None] & cols[None, :])


def grouped_gemm(a, sa, b, sb, grouped_layout, c, masked, *, block_M, block_N, num_stages, threads):
    """C = A · B[e]ᵀ per expert into the preallocated c, with one config of the matched list.

    bf16: sa and sb are empty (never read). e4m3: scales fp32, or uint8 exponent bytes (UE8M0)."""
    G, N, K = b.shape
    rows = a.shape[-2]
    scaled = a.dtype == torch.float8_e4m3fn
    assert K % BLOCK == 0 and a.shape[-1] == K and c.shape == (*a.shape[:-1], N), "shapes do not match"
    assert a.dim() == (3 if masked else 2) and grouped_layout.shape == ((G,) if masked else (rows,)), "layout"
    assert masked or rows % block_M == 0, "contiguous: rows padded to ALIGN_M, which block_M divides"
    assert BLOCK % block_N == 0, "one sb per K-block of a tile"
    if scaled:
        assert sa.shape == (*a.shape[:-1], K // BLOCK) and sb.shape == (G, triton.cdiv(N, BLOCK), K // BLOCK)
        assert sa.dtype == sb.dtype and sa.dtype in (torch.float32, torch.uint8), "scales: both fp32 or both uint8"
    else:
        sa = sb = a  # no scales: any pointer stands in for the empty tensors
    assert all(t.is_contiguous() for t in (a, sa, b, sb, grouped_layout, c)), "strides follow from the sizes"
    grid = (triton.cdiv(N, block_N), triton.cdiv(rows, block_M), G if masked else 1)
    grouped_gemm_kernel[grid](
        a, sa, b, sb, grouped_layout, c, rows, N, K,
        MASKED=bool(masked), SCALED=scaled, UE8M0=sa.dtype == torch.uint8,
        BLOCK_M=block_M, BLOCK_N=block_N, BLOCK_K=block_k("e4m3" if scaled else "bf16"),
        num_warps=threads // 32, num_stages=num_stages,
    )
    return c
