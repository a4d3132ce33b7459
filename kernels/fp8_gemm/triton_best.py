"""Block-scaled FP8 GEMM in Triton, best track: C = sum_k (A_k · B_kᵀ) * sa[:, k] * sb[n // 128, k],
written as Triton's persistent TMA GEMMs are (tutorial 09) with DeepGEMM's scale handling.

Track: best (each DSL as its best public kernels; kernels/fp8_gemm/tilelang_best.py is TileLang's).
Techniques:
- TMA for A, B and A's scales: a first kernel decodes A's scales to fp32 and transposes them
  to sa_t (K/128, padded M), DeepGEMM's MN-major layout, so that one K-block's scales for a
  tile are one TMA box, loaded (and software-pipelined) with the tile; B's scales (one or two
  a K-block for a tile) are plain loads, as DeepGEMM's math warps read them;
- the two-level accumulation: each K-block's product starts from zero in fp32 (the tensor
  cores' chain), then sum += product * sa[row] * sb[column's scale block];
- two consumer warpgroups (threads=256): each owns 64 rows (or 128 columns) of the tile, so
  one's promotion on the CUDA cores overlaps the other's wgmma, as in DeepGEMM;
- tile N free of the 128-wide scale block: block_N=256 spans two B scale blocks (each column
  picks its own), 64 half of one;
- a persistent grid (one program per SM) over (tile, K slice) work items in the grouped order;
- epilogue subtiling: C stored by TMA in two halves along N (bf16, or the fp32 split-K
  partial, summed by a last kernel in order, the same method as TileLang's);
- warp specialization: on for Blackwell only; Triton 3.6 and 3.9 do not warp-specialize this
  loop on sm_90 (see kernels/matmul/triton_best.py), so on Hopper it is software-pipelined;
- sizes at run time (M, N, K): Triton's way; TMA does the bounds.
C rows that TMA cannot store (N not a multiple of 8) are stored through masked pointers
instead (spec.tma_store_compatible, the same rule as TileLang's); the wrapper returns which
path ran ("tma" or "tma loads, pointer store"). The loads are always TMA.

SASS on sm_90a: TMA load, TMA store, QGMMA 64x128, no spills. Not: warp specialization.
"""
import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

# the config list both DSLs share; the workspace both take (spec.workspace, best track)
from kernels import cuda_major
from kernels.fp8_gemm.spec import (BLOCK, COMBINE_M, COMBINE_N, CONFIGS, GROUP_M, TMA_ALIGN,  # noqa: F401
                                   num_sms, padded_rows, tma_store_compatible)
from kernels.fp8_gemm.spec import workspace as shared_workspace

SUBTILES = 2  # the epilogue stores the tile in this many slices along N
SCALE_TILE = 128  # A's scales transposed per block of this many rows


@triton.jit
def scale_value(s, UE8M0: tl.constexpr):
    """A scale as stored -> fp32: an exponent byte goes into fp32's exponent field."""
    if UE8M0:
        value = (s.to(tl.int32) << 23).to(tl.float32, bitcast=True)
    else:
        value = s.to(tl.float32)
    return value


@triton.jit
def transpose_scales_kernel(sa_ptr, sa_t_ptr, M, MP, KB, UE8M0: tl.constexpr, BLOCK_R: tl.constexpr):
    """sa_t[k, m] = sa[m, k] as fp32 (0 in the padding rows M..MP)."""
    m = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    kb = tl.program_id(1)
    s = scale_value(tl.load(sa_ptr + m * KB + kb, mask=m < M, other=0), UE8M0)
    tl.store(sa_t_ptr + kb * MP + m, tl.where(m < M, s, 0.0), mask=m < MP)


@triton.jit
def work_item(item, tiles_m, tiles_n, SPLIT_K: tl.constexpr, GROUP: tl.constexpr):
    """Work item -> (tile row, tile column, K slice): a tile's K slices are adjacent items;
    tiles in the grouped order (GROUP tile rows walked down before moving right)."""
    tile, split = item // SPLIT_K, item % SPLIT_K
    per_group = GROUP * tiles_n
    first_m = (tile // per_group) * GROUP
    group_rows = min(tiles_m - first_m, GROUP)
    return first_m + (tile % per_group) % group_rows, (tile % per_group) // group_rows, split


@triton.jit
def store_slice(dst, value, split, row, col, rows, cols, SPLIT_K: tl.constexpr, TMA_STORE: tl.constexpr):
    """Store one fp32 epilogue slice at (row, col) of C (in bf16), or of the fp32 partial[split]."""
    if TMA_STORE:
        if SPLIT_K == 1:
            dst.store([row, col], value.to(dst.dtype))
        else:
            dst.store([split, row, col], tl.expand_dims(value, 0))
    else:
        r = row + tl.arange(0, value.shape[0])
        c = col + tl.arange(0, value.shape[1])
        base = dst + split * rows * cols
        tl.store(base + r[:, None] * cols + c[None, :], value.to(dst.dtype.element_ty),
                 mask=(r[:, None] < rows) & (c[None, :] < cols))


@triton.jit
def fp8_gemm_kernel(
    a_desc, sa_t_desc, b_desc, sb_ptr, out,  # A (M, K), sa_t (K/128, MP), B (N, K): descriptors; SB (cdiv(N, 128), K/128); C or partials
    M, N, K,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, SPLIT_K: tl.constexpr,
    GROUP: tl.constexpr, NUM_SMS: tl.constexpr, SUBTILE: tl.constexpr, UE8M0: tl.constexpr,
    TMA_STORE: tl.constexpr, WARP_SPECIALIZE: tl.constexpr,
):
    KB = K // BLOCK_K  # K-blocks, one scale each
    NSB = tl.cdiv(N, BLOCK_K)  # rows of SB
    tiles_m, tiles_n = tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N)
    k_tiles = tl.cdiv(KB, SPLIT_K)  # per K slice; TMA zero-fills K-blocks past K
    items = tiles_m * tiles_n * SPLIT_K
    for item in tl.range(tl.program_id(0), items, NUM_SMS, flatten=True, warp_specialize=WARP_SPECIALIZE):
        pid_m, pid_n, split = work_item(item, tiles_m, tiles_n, SPLIT_K, GROUP)
        off_m, off_n = pid_m * BLOCK_M, pid_n * BLOCK_N
        # each column's B scale block (clamped: columns past N are clipped at the store)
        sb_rows = tl.minimum((off_n + tl.arange(0, BLOCK_N)) // BLOCK_K, NSB - 1)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k in range(k_tiles):
            kk = split * k_tiles + k
            a = a_desc.load([off_m, kk * BLOCK_K])
            b = b_desc.load([off_n, kk * BLOCK_K])
            sa = sa_t_desc.load([kk, off_m]).reshape(BLOCK_M)
            sb = scale_value(tl.load(sb_ptr + sb_rows * KB + min(kk, KB - 1)), UE8M0)  # past K: A is zeros
            acc += tl.dot(a, b.T) * sa[:, None] * sb[None, :]

        if SUBTILE == 2:
            halves = acc.reshape((BLOCK_M, 2, BLOCK_N // 2)).permute(0, 2, 1)
            left, right = tl.split(halves)
            store_slice(out, left, split, off_m, off_n, M, N, SPLIT_K, TMA_STORE)
            store_slice(out, right, split, off_m, off_n + BLOCK_N // 2, M, N, SPLIT_K, TMA_STORE)
        else:
            store_slice(out, acc, split, off_m, off_n, M, N, SPLIT_K, TMA_STORE)


@triton.jit
def splitk_sum_kernel(partial_ptr, c_ptr, M, N, SPLIT_K: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """C = sum over s of partial[s], in order s = 0, 1, ... (deterministic), in C's dtype."""
    offs_m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    inside = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    out = offs_m[:, None] * N + offs_n[None, :]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for s in range(SPLIT_K):
        acc += tl.load(partial_ptr + s * M * N + out, mask=inside, other=0.0)
    tl.store(c_ptr + out, acc.to(c_ptr.dtype.element_ty), mask=inside)


def warp_specialize(device):
    """Triton warp-specializes its persistent loop on Blackwell (sm_100+) only (see above)."""
    return cuda_major(device) >= 10


def fp8_gemm(a, sa, b, sb, c, sa_t, partial=None, *, block_M, block_N, num_stages, threads, split_k):
    """C = A·Bᵀ with block scales, into the preallocated c, with one config of the best list;
    sa_t (and `partial` when split_k > 1) are the workspace (spec.workspace). Scales are
    fp32, or uint8 exponent bytes (UE8M0). Returns the path: "tma", or "tma loads, pointer
    store" where TMA cannot store C's rows (spec.tma_store_compatible)."""
    M, K = a.shape
    N = b.shape[0]
    KB, MP = K // BLOCK, padded_rows(M)
    assert K % BLOCK == 0 and b.shape[1] == K and c.shape == (M, N), "shapes do not match"
    assert sa.shape == (M, KB) and sb.shape == (triton.cdiv(N, BLOCK), KB), "scale shapes do not match"
    assert sa.dtype == sb.dtype and sa.dtype in (torch.float32, torch.uint8), "scales: both fp32 or both uint8"
    assert sa_t.shape == (KB, MP) and all(t.is_contiguous() for t in (a, sa, b, sb, c, sa_t)), "row-major operands"
    ue8m0 = sa.dtype == torch.uint8
    transpose_scales_kernel[(triton.cdiv(MP, SCALE_TILE), KB)](sa, sa_t, M, MP, KB, UE8M0=ue8m0, BLOCK_R=SCALE_TILE,
                                                               num_warps=4)

    out = c if split_k == 1 else partial
    tma_store = tma_store_compatible(dict(N=N)) and (out.device.type == "meta" or out.data_ptr() % TMA_ALIGN == 0)
    if tma_store:
        out_block = [block_M, block_N // SUBTILES] if split_k == 1 else [1, block_M, block_N // SUBTILES]
        out_arg = TensorDescriptor.from_tensor(out, out_block)
    else:
        out_arg = out
    sms = num_sms()
    items = triton.cdiv(M, block_M) * triton.cdiv(N, block_N) * split_k
    fp8_gemm_kernel[(min(sms, items),)](
        TensorDescriptor.from_tensor(a, [block_M, BLOCK]), TensorDescriptor.from_tensor(sa_t, [1, block_M]),
        TensorDescriptor.from_tensor(b, [block_N, BLOCK]), sb, out_arg, M, N, K,
        BLOCK_M=block_M, BLOCK_N=block_N, BLOCK_K=BLOCK, SPLIT_K=split_k, GROUP=GROUP_M, NUM_SMS=sms,
        SUBTILE=SUBTILES, UE8M0=ue8m0, TMA_STORE=tma_store, WARP_SPECIALIZE=warp_specialize(a.device),
        num_warps=threads // 32, num_stages=num_stages,
    )
    if split_k > 1:
        grid = (triton.cdiv(N, COMBINE_N), triton.cdiv(M, COMBINE_M))
        splitk_sum_kernel[grid](partial, c, M, N, split_k, BLOCK_M=COMBINE_M, BLOCK_N=COMBINE_N, num_warps=4)
    return "tma" if tma_store else "tma loads, pointer store"


def workspace(shape, dtype, config, device):
    """sa_t and the split-K partials (spec.workspace, best track): the buffers TileLang's kernel takes."""
    return shared_workspace(shape, dtype, config, device, "best")
