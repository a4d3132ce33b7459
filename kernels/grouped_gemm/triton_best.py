"""MoE grouped GEMM in Triton, best track: C[rows of expert e] = A[those rows] · B[e]ᵀ, written
as Triton's persistent grouped GEMM is (tutorial 08: one fixed grid walking every problem's
tiles, scheduled on the device) with tutorial 09's TMA pipeline and DeepGEMM's FP8 scale
handling and block skipping.

Track: best (each DSL as its best public kernels; kernels/grouped_gemm/tilelang_best.py is TileLang's).
Techniques:
- a persistent grid: min(tiles, SMs) programs (the device's SM count, spec.H100_SMS where none
  can be asked) walk one flat tile index over every expert's output tiles, a grid's stride at a
  time. The contiguous layout is one run of R / block_M row tiles, the masked one G runs (one
  per expert) of cdiv(M_max, block_M); within a run the grouped order (GROUP_M tile rows
  before moving right) keeps B[e] and A's rows in L2. A tile's expert is read on the device,
  as DeepGEMM's scheduler does: contiguous, grouped_layout at the tile's first row (-1: a tile
  of padding rows only, since block_M divides ALIGN_M and an expert's padding follows its
  rows); masked, the run's, whose count ends its rows. A tile of padding rows, or at or past
  its expert's count (an expert with no token: all of its tiles), is skipped without a load,
  an MMA or a store;
- TMA loads through device-side tensor descriptors (tl.make_tensor_descriptor; their global
  scratch from triton.set_allocator): A as (rows, K) (masked: (G * M_max, K), expert e's rows
  from e * M_max), B as (G * N, K) (expert e's rows from e * N), both K-major, B transposed
  in the dot. A tile may load rows past its expert's count (seeded values), the next expert's
  rows, or past the end TMA's zero fill: row i of C depends on row i of A alone, and those
  rows are never stored. Columns past N read the next expert's B rows the same way and are
  clipped (TMA) or masked (pointers) at the store;
- the K loop software-pipelined num_stages deep (Triton's pipeliner: A's and B's TMA copies
  run num_stages - 1 K-blocks ahead of the wgmma, waited on by mbarriers);
- e4m3: a first kernel decodes A's scales to fp32 and transposes them to sa_t (K/128, rows),
  DeepGEMM's MN-major layout, so that a tile's scales of one K-block are one contiguous row.
  Triton's pipeliner leaves a scale load in this loop synchronous (a TMA load of the scales
  waits on its own mbarrier every K-block), so the kernel prefetches them itself: each step
  issues plain loads of the next K-block's A scales (one coalesced row of sa_t) and B scale
  (one a tile: block_N divides 128 or is 128) before its wgmma, carried to the next step in
  registers (two K-blocks ahead un-pipelines A's and B's copies: not done). Two-level
  accumulation: each 128-deep K-block's product starts from zero in fp32 (the tensor cores'
  chain), then sum += product * (sa[row] * sb); ue8m0 bytes are shifted into an fp32
  exponent. bf16: one fp32 accumulator, 64-deep steps. MMA: one warpgroup per 64 rows
  (bf16 HGMMA, e4m3 QGMMA, 64 x block_N);
- epilogue subtiling: the fp32 tile goes to bf16 in two halves along N, each stored by TMA:
  contiguous, whole tiles (padding rows are don't-care, as DeepGEMM writes them); masked, a
  tile whose rows are all under the count is TMA-stored, one the count cuts (a TMA box cannot
  stop at a row, and rows past the count must keep their poison) through masked pointers.
  C rows TMA cannot store (N not a multiple of 8: fp8_gemm's spec.tma_store_compatible) are
  stored through masked pointers; the loads stay TMA. The wrapper returns which path ran
  ("tma", or "tma loads, pointer store");
- warp specialization: not used. Asked for as kernels/matmul/triton_best.py asks
  (tl.range(..., warp_specialize=True), 4 warps, device-side descriptors, the persistent loop
  not flattened), Triton 3.9's partitioner on sm_90a splits the contiguous bf16 loop (384
  threads, setmaxnreg) but not the masked one (its cut-tile store branch: a plain 128-thread
  kernel), fails on e4m3 (PassManager error: not the dtype but the scales it prefetches one
  K-block ahead and carries; findings/triton_hopper_ws_prefetch_carry.py), and Triton 3.6 (the GPU
  image's) fails on bf16 too; on sm_100a the pass fails for both dtypes, flattened or not. So
  every arch runs the software-pipelined loop at threads / 32 warps; the persistent loop is
  not flattened (Triton 3.9 does not fuse it around the skip branch anyway);
- sizes at run time (rows, N, K): Triton's way; TMA does the bounds.

SASS on sm_90a: TMA load, TMA store, HGMMA 64x128, no spills. Not: cp.async, warp specialization, setmaxnreg.
"""
import torch
import triton
import triton.language as tl

from kernels import descriptor_scratch
# the config list both DSLs share; block_K is the dtype's (64 bf16, 128 e4m3: one scale block)
from kernels.fp8_gemm.spec import GROUP_M, TMA_ALIGN, padded_rows, tma_store_compatible
# fp8_gemm best's scale decoder and its transpose of A's scales to fp32 sa_t (DeepGEMM's MN-major layout)
from kernels.fp8_gemm.triton_best import SCALE_TILE, scale_value, transpose_scales_kernel
from kernels.grouped_gemm.spec import BLOCK, CONFIGS, H100_SMS, block_k, rows  # noqa: F401

SUBTILES = 2  # the epilogue stores the tile in this many slices along N


@triton.jit
def work_item(tile, tiles_m, tiles_n, GROUP: tl.constexpr):
    """Tile index within a run -> (tile row, tile column), in the grouped order (GROUP tile
    rows walked down before moving right)."""
    per_group = GROUP * tiles_n
    first_m = (tile // per_group) * GROUP
    group_rows = min(tiles_m - first_m, GROUP)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows


@triton.jit
def store_slice(c, value, row, col, row_end, N, TMA: tl.constexpr):
    """Store one fp32 epilogue slice at (row, col) of C in C's dtype: by TMA (C's descriptor,
    clipped at C's edges), or through masked pointers (rows below row_end, columns below N)."""
    if TMA:
        c.store([row, col], value.to(c.dtype))
    else:
        r = row + tl.arange(0, value.shape[0])
        n = col + tl.arange(0, value.shape[1])
        tl.store(c + r.to(tl.int64)[:, None] * N + n[None, :], value.to(c.dtype.element_ty),
                 mask=(r[:, None] < row_end) & (n[None, :] < N))


@triton.jit
def store_tile(c, acc, row, col, row_end, N, BLOCK_N: tl.constexpr, SUBTILE: tl.constexpr, TMA: tl.constexpr):
    """The fp32 tile stored in SUBTILE slices along N (epilogue subtiling)."""
    if SUBTILE == 2:
        left, right = tl.split(acc.reshape((acc.shape[0], 2, BLOCK_N // 2)).permute(0, 2, 1))
        store_slice(c, left, row, col, row_end, N, TMA)
        store_slice(c, right, row, col + BLOCK_N // 2, row_end, N, TMA)
    else:
        store_slice(c, acc, row, col, row_end, N, TMA)


# finding: findings/triton_hopper_ws_prefetch_carry.py
@triton.jit
def grouped_gemm_kernel(
    a_ptr, sa_t_ptr, b_ptr, sb_ptr, layout_ptr, c_ptr,  # A (ROWS, K), sa_t (K/128, MP), B (G*N, K),
                                                        # SB (G, cdiv(N, 128), K/128), grouped_layout, C (ROWS, N)
    ROWS, MP, RUN, RUNS, G, N, K,  # ROWS = RUNS * RUN rows: contiguous one run of R, masked G runs of M_max
    MASKED: tl.constexpr, SCALED: tl.constexpr, UE8M0: tl.constexpr, TMA_STORE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP: tl.constexpr,
    NUM_SMS: tl.constexpr, SUBTILE: tl.constexpr,
):
    KB = K // BLOCK_K  # K-blocks (e4m3: one scale each)
    NSB = tl.cdiv(N, 128)  # B's scale blocks along N
    a_desc = tl.make_tensor_descriptor(a_ptr, [ROWS, K], [K, 1], [BLOCK_M, BLOCK_K])
    b_desc = tl.make_tensor_descriptor(b_ptr, [G * N, K], [K, 1], [BLOCK_N, BLOCK_K])
    if TMA_STORE:
        c_desc = tl.make_tensor_descriptor(c_ptr, [ROWS, N], [N, 1], [BLOCK_M, BLOCK_N // SUBTILE])
    tiles_m, tiles_n = tl.cdiv(RUN, BLOCK_M), tl.cdiv(N, BLOCK_N)
    per_run = tiles_m * tiles_n
    for tile in tl.range(tl.program_id(0), RUNS * per_run, NUM_SMS):  # the persistent walk
        run = tile // per_run
        pid_m, pid_n = work_item(tile % per_run, tiles_m, tiles_n, GROUP)
        first = pid_m * BLOCK_M  # the tile's first row within its run
        row, off_n = run * RUN + first, pid_n * BLOCK_N
        if MASKED:  # run = expert; rows from its count on are never stored
            expert = run
            count = tl.load(layout_ptr + run)
        else:  # the expert of the tile's first row (-1: padding rows only)
            expert = tl.load(layout_ptr + row)
            count = tl.where(expert >= 0, RUN, 0)
        if first < count:
            b_row = expert * N + off_n
            acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
            if SCALED:  # K-block 0's scales; each step loads the next one's (see the module docstring)
                sa_at = sa_t_ptr + row + tl.arange(0, BLOCK_M)  # sa_t[k, row:row + BLOCK_M]: one coalesced row
                sb_at = sb_ptr + (expert * NSB + off_n // 128) * KB  # this tile's B scale, one per K-block
                sa_next, sb_next = tl.load(sa_at), tl.load(sb_at)
            for k in range(KB):
                a = a_desc.load([row, k * BLOCK_K])
                b = b_desc.load([b_row, k * BLOCK_K])
                if SCALED:  # the K-block's product on its own, then promoted with its scales
                    sa, sb = sa_next, scale_value(sb_next, UE8M0)
                    ahead = tl.minimum(k + 1, KB - 1)
                    sa_next, sb_next = tl.load(sa_at + ahead * MP), tl.load(sb_at + ahead)
                    acc += tl.dot(a, b.T) * (sa * sb)[:, None]
                else:
                    acc = tl.dot(a, b.T, acc)

            row_end = run * RUN + count  # masked: the count's end; contiguous: the run's
            if TMA_STORE and MASKED:
                if first + BLOCK_M <= count:  # every row of the tile may be written
                    store_tile(c_desc, acc, row, off_n, row_end, N, BLOCK_N, SUBTILE, True)
                else:  # the count cuts the tile: rows past it keep their poison
                    store_tile(c_ptr, acc, row, off_n, row_end, N, BLOCK_N, SUBTILE, False)
            elif TMA_STORE:  # contiguous: the whole tile (padding rows are don't-care)
                store_tile(c_desc, acc, row, off_n, row_end, N, BLOCK_N, SUBTILE, True)
            else:
                store_tile(c_ptr, acc, row, off_n, row_end, N, BLOCK_N, SUBTILE, False)


def num_sms():
    """The persistent grid's size: this GPU's SM count, or an H100's where there is none."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    return H100_SMS


def grouped_gemm(a, sa, b, sb, grouped_layout, c, sa_t=None, *, masked, block_M, block_N, num_stages, threads):
    """C = A · B[e]ᵀ per expert into the preallocated c, with one config of the best list;
    sa_t is the e4m3 workspace (workspace below). bf16: sa and sb are empty (never read).
    e4m3: scales fp32, or uint8 exponent bytes (UE8M0). Returns the path: "tma", or "tma
    loads, pointer store" where TMA cannot store C's rows (spec.tma_store_compatible)."""
    G, N, K = b.shape
    run = a.shape[-2]  # R (contiguous) or M_max (masked)
    runs = G if masked else 1
    total_rows = runs * run
    scaled = a.dtype == torch.float8_e4m3fn
    assert K % BLOCK == 0 and a.shape[-1] == K and c.shape == (*a.shape[:-1], N), "shapes do not match"
    assert a.dim() == (3 if masked else 2) and grouped_layout.shape == ((G,) if masked else (run,)), "layout"
    assert masked or run % block_M == 0, "contiguous: rows padded to ALIGN_M, which block_M divides"
    assert BLOCK % block_N == 0, "one sb per K-block of a tile"
    assert all(t.is_contiguous() for t in (a, b, grouped_layout, c)), "row-major operands"
    ue8m0 = False
    if scaled:
        KB, MP = K // BLOCK, padded_rows(total_rows)
        assert sa.shape == (*a.shape[:-1], KB) and sb.shape == (G, triton.cdiv(N, BLOCK), KB), "scale shapes"
        assert sa.dtype == sb.dtype and sa.dtype in (torch.float32, torch.uint8), "scales: both fp32 or both uint8"
        assert sa_t is not None and sa_t.shape == (KB, MP) and sa.is_contiguous() and sb.is_contiguous()
        ue8m0 = sa.dtype == torch.uint8
        transpose_scales_kernel[(triton.cdiv(MP, SCALE_TILE), KB)](sa, sa_t, total_rows, MP, KB, UE8M0=ue8m0,
                                                                   BLOCK_R=SCALE_TILE, num_warps=4)
    else:
        MP, sa_t, sb = 0, None, None  # no scales
    tma_store = tma_store_compatible(dict(N=N)) and (c.device.type == "meta" or c.data_ptr() % TMA_ALIGN == 0)
    if a.is_cuda:
        triton.set_allocator(descriptor_scratch)  # the device-side descriptors' global scratch
    sms = num_sms()
    tiles = runs * triton.cdiv(run, block_M) * triton.cdiv(N, block_N)
    grouped_gemm_kernel[(min(sms, tiles),)](
        a, sa_t, b, sb, grouped_layout, c, total_rows, MP, run, runs, G, N, K,
        MASKED=bool(masked), SCALED=scaled, UE8M0=ue8m0, TMA_STORE=tma_store,
        BLOCK_M=block_M, BLOCK_N=block_N, BLOCK_K=block_k("e4m3" if scaled else "bf16"), GROUP=GROUP_M,
        NUM_SMS=sms, SUBTILE=SUBTILES, num_warps=threads // 32, num_stages=num_stages,
    )
    return "tma" if tma_store else "tma loads, pointer store"


def workspace(shape, dtype, config, device):
    """e4m3: sa_t, A's scales decoded to fp32 and transposed (K/128, rows rounded up to 16
    bytes), DeepGEMM's MN-major layout, so that a tile's scales of one K-block are one
    contiguous row. bf16: none."""
    if dtype != "e4m3":
        return {}
    total_rows = rows(shape) * (shape["G"] if shape["masked"] else 1)
    return {"sa_t": torch.empty(shape["K"] // BLOCK, padded_rows(total_rows), dtype=torch.float32, device=device)}
