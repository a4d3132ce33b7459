"""Matmul in Triton, best track: C = A·B as Triton's own Hopper GEMMs are written (tutorial 09).

Track: best (each DSL as its best public kernels; kernels/matmul/tilelang_best.py is TileLang's).
Techniques:
- TMA: tensor descriptors for A, B and C (and the split-K partials), device-side
  (tl.make_tensor_descriptor) where the kernel is warp-specialized on Hopper, host-side
  otherwise; the loads are TMA copies (UTMALDG), the stores TMA stores (UTMASTG). TMA clips
  and zero-fills the edges, so no tile is masked;
- a persistent grid: one program per SM, each walking the work items (tile, K slice) in the
  grouped order (GROUP_M tile rows before moving right) that keeps B in L2;
- warp specialization (`tl.range(..., warp_specialize=True)`): on Hopper, Triton's partitioner
  splits the persistent loop into a TMA producer warpgroup and two 64-row consumer
  warpgroups (384 threads, registers rebalanced with setmaxnreg) when the loop is not
  flattened and the kernel asks for 4 warps; it then always makes two consumers, so it is
  taken for the configs of 256 consumer threads (128-row tiles), with 16-bit operands (with
  fp32, TF32, the partitioner fails: PassManager error). It needs device-side descriptors:
  with host-side ones the pass fails on a 128-row TMA tile ("descriptor block and tensor must
  have the same number of elements"). The other configs (64-row tiles: one consumer
  warpgroup asked for) and fp32 are software-pipelined num_stages deep instead, with
  threads / 32 warps (launch_options says which; the wrapper returns it). Triton before 3.9
  cannot partition this loop (3.6.0, the GPU image's: "PassManager::run failed" in
  NVGPUWarpSpecialization, checked for sm_90a), so there the 256-thread configs run
  software-pipelined at 8 warps, path "tma" in the record. On Blackwell the flattened loop is
  warp-specialized, as tutorial 09 does there;
- epilogue subtiling: the fp32 accumulator is stored in two halves along N, so each half's
  conversion and shared-memory staging needs half the registers and smem;
- split_k > 1 (decode shapes): each K slice's tile goes to an fp32 partial through TMA and
  a second kernel sums the slices in order (the same method as TileLang's);
- sizes at run time (M, N, K): Triton's way; TMA does the bounds.
Shapes TMA cannot take (a row stride not a multiple of 16 bytes, e.g. K=100 in fp16, or a
base not 16-byte aligned) run the same persistent kernel with masked pointer loads and stores
instead (cp.async), chosen on the host by spec.tma_compatible as TileLang's kernel chooses;
the wrapper returns which path ran ("tma-ws", "tma" or "pointers").

SASS on sm_90a: TMA load, TMA store, warp specialization, setmaxnreg, HGMMA 64x128, no spills. Not: cp.async.
"""
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from kernels import cuda_major, descriptor_scratch
# the config list both DSLs share; the split-K workspace both take (spec.workspace)
from kernels.matmul.spec import (CONFIGS, COMBINE_M, COMBINE_N, GROUP_M, TMA_ALIGN, num_sms,  # noqa: F401
                                 tma_compatible, workspace)

SUBTILES = 2  # the epilogue stores the tile in this many slices along N


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
def load_tile(src, row, col, rows, cols, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, TMA: tl.constexpr):
    """The (BLOCK_R, BLOCK_C) tile at (row, col) of a rows x cols contiguous matrix, zeros
    past its edges: a TMA load through the descriptor, or a masked pointer load."""
    if TMA:
        tile = src.load([row, col])
    else:
        r = row + tl.arange(0, BLOCK_R)
        c = col + tl.arange(0, BLOCK_C)
        tile = tl.load(src + r[:, None] * cols + c[None, :], mask=(r[:, None] < rows) & (c[None, :] < cols), other=0.0)
    return tile


@triton.jit
def store_slice(dst, value, split, row, col, rows, cols, SPLIT_K: tl.constexpr, TMA: tl.constexpr):
    """Store one fp32 epilogue slice at (row, col) of C (in C's dtype), or of the fp32
    partial[split] when K is split."""
    if TMA:
        if SPLIT_K == 1:
            dst.store([row, col], value.to(dst.dtype))
        else:
            dst.store([split, row, col], tl.expand_dims(value, 0))
    else:
        value = value.to(dst.dtype.element_ty)
        r = row + tl.arange(0, value.shape[0])
        c = col + tl.arange(0, value.shape[1])
        base = dst + split * rows * cols
        tl.store(base + r[:, None] * cols + c[None, :], value, mask=(r[:, None] < rows) & (c[None, :] < cols))


# finding: findings/triton_hopper_ws_host_descriptor_128_rows.py
@triton.jit
def matmul_kernel(
    a, b, out,  # host-side descriptors (TMA), or pointers: A (M, K), B (K, N), C (M, N) or fp32 partials (SPLIT_K, M, N)
    M, N, K,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, SPLIT_K: tl.constexpr,
    GROUP: tl.constexpr, NUM_SMS: tl.constexpr, SUBTILE: tl.constexpr, TMA: tl.constexpr,
    WARP_SPECIALIZE: tl.constexpr, FLATTEN: tl.constexpr, DEVICE_DESCRIPTORS: tl.constexpr,
):
    if DEVICE_DESCRIPTORS:  # made here from the pointers: what Triton's Hopper warp specialization takes
        a = tl.make_tensor_descriptor(a, [M, K], [K, 1], [BLOCK_M, BLOCK_K])
        b = tl.make_tensor_descriptor(b, [K, N], [N, 1], [BLOCK_K, BLOCK_N])
        if SPLIT_K == 1:
            out = tl.make_tensor_descriptor(out, [M, N], [N, 1], [BLOCK_M, BLOCK_N // SUBTILE])
        else:
            out = tl.make_tensor_descriptor(out, [SPLIT_K, M, N], [M * N, N, 1], [1, BLOCK_M, BLOCK_N // SUBTILE])
    tiles_m, tiles_n = tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N)
    k_tiles = tl.cdiv(tl.cdiv(K, BLOCK_K), SPLIT_K)  # per K slice; TMA zero-fills past K
    items = tiles_m * tiles_n * SPLIT_K
    for item in tl.range(tl.program_id(0), items, NUM_SMS, flatten=FLATTEN, warp_specialize=WARP_SPECIALIZE):
        pid_m, pid_n, split = work_item(item, tiles_m, tiles_n, SPLIT_K, GROUP)
        off_m, off_n = pid_m * BLOCK_M, pid_n * BLOCK_N
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k in range(k_tiles):
            off_k = (split * k_tiles + k) * BLOCK_K
            a_tile = load_tile(a, off_m, off_k, M, K, BLOCK_M, BLOCK_K, TMA)
            b_tile = load_tile(b, off_k, off_n, K, N, BLOCK_K, BLOCK_N, TMA)
            acc = tl.dot(a_tile, b_tile, acc)

        if SUBTILE == 2:
            halves = acc.reshape((BLOCK_M, 2, BLOCK_N // 2)).permute(0, 2, 1)
            left, right = tl.split(halves)
            store_slice(out, left, split, off_m, off_n, M, N, SPLIT_K, TMA)
            store_slice(out, right, split, off_m, off_n + BLOCK_N // 2, M, N, SPLIT_K, TMA)
        else:
            store_slice(out, acc, split, off_m, off_n, M, N, SPLIT_K, TMA)


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


# finding: findings/triton_hopper_ws_split_epilogue.py
HOPPER_WS_TRITON = (3, 9)  # the first release seen to partition this loop on sm_90a (3.6.0 fails)


# finding: findings/triton_hopper_ws_split_epilogue.py
def partitions_hopper_loop(version=None):
    """Whether the installed Triton's Hopper partitioner takes this kernel's persistent loop."""
    version = version or triton.__version__
    return tuple(int(part) for part in version.split("+")[0].split(".")[:2]) >= HOPPER_WS_TRITON


# finding: findings/triton_hopper_ws_ignored_8_warps.py
# finding: findings/triton_hopper_ws_host_descriptor_128_rows.py
def launch_options(device, tma, threads, num_stages, element_size):
    """The constexprs and launch options that choose the code path, and its name. On Hopper,
    warp specialization where Triton's partitioner takes the kernel: TMA loads through
    device-side descriptors, 16-bit operands, the loop not flattened, 4 warps, from which it
    makes a producer warpgroup and two consumer warpgroups, i.e. the configs of 256 consumer
    threads. On Blackwell the flattened loop at threads / 32 warps, warp-specialized, host-side
    descriptors (tutorial 09). Otherwise threads / 32 warps, software-pipelined num_stages
    deep, host-side descriptors (no descriptor to build in the kernel)."""
    major = cuda_major(device)
    hopper_ws = tma and major == 9 and element_size == 2 and threads == 256 and partitions_hopper_loop()
    ws = hopper_ws or (tma and major >= 10)
    options = dict(TMA=tma, WARP_SPECIALIZE=ws, FLATTEN=not hopper_ws, DEVICE_DESCRIPTORS=hopper_ws,
                   num_warps=4 if hopper_ws else threads // 32, num_stages=num_stages)
    return options, ("tma-ws" if ws else "tma") if tma else "pointers"


def matmul(a, b, c, partial=None, *, block_M, block_N, block_K, num_stages, threads, split_k):
    """C = A·B into the preallocated c, with one config of the best list; `partial` is the
    split-K workspace (spec.workspace) when split_k > 1. Returns the code path: "tma-ws"
    (warp-specialized), "tma", or "pointers" where TMA cannot address the operands
    (spec.tma_compatible)."""
    M, K = a.shape
    N = b.shape[1]
    assert b.shape[0] == K and c.shape == (M, N), "shapes do not match"
    assert a.dtype == b.dtype == c.dtype, "A, B and C must share one dtype"
    assert all(t.is_contiguous() for t in (a, b, c)), "row-major operands"
    out = c if split_k == 1 else partial
    tma = tma_compatible(dict(M=M, N=N, K=K), a.element_size()) and all(
        t.device.type == "meta" or t.data_ptr() % TMA_ALIGN == 0 for t in (a, b, out))
    options, path = launch_options(a.device, tma, threads, num_stages, a.element_size())
    args = (a, b, out)
    if options["DEVICE_DESCRIPTORS"]:
        if a.is_cuda:
            triton.set_allocator(descriptor_scratch)
    elif tma:
        out_block = [block_M, block_N // SUBTILES] if split_k == 1 else [1, block_M, block_N // SUBTILES]
        args = (TensorDescriptor.from_tensor(a, [block_M, block_K]), TensorDescriptor.from_tensor(b, [block_K, block_N]),
                TensorDescriptor.from_tensor(out, out_block))
    sms = num_sms()
    items = triton.cdiv(M, block_M) * triton.cdiv(N, block_N) * split_k
    matmul_kernel[(min(sms, items),)](
        *args, M, N, K,
        BLOCK_M=block_M, BLOCK_N=block_N, BLOCK_K=block_K, SPLIT_K=split_k, GROUP=GROUP_M, NUM_SMS=sms,
        SUBTILE=SUBTILES, **options,
    )
    if split_k > 1:
        grid = (triton.cdiv(N, COMBINE_N), triton.cdiv(M, COMBINE_M))
        splitk_sum_kernel[grid](partial, c, M, N, split_k, BLOCK_M=COMBINE_M, BLOCK_N=COMBINE_N, num_warps=4)
    return path
