"""MoE grouped GEMM in TileLang, best track: C[rows of expert e] = A[those rows] · B[e]ᵀ, bf16 or
block-scaled e4m3, in DeepGEMM's contiguous and masked layouts, written as TileLang's best
Hopper GEMMs are (examples/gemm/example_gemm_persistent.py's persistent TMA pipeline,
examples/deepseek_deepgemm's two-level FP8 sum, examples/grouped_gemm's per-tile expert lookup) and
DeepGEMM's grouped kernels schedule their tiles.

Track: best (each DSL as its best public kernels; kernels/grouped_gemm/triton_best.py is Triton's).
Techniques:
- a persistent grid (one block per SM: the GPU's count, spec.H100_SMS where none can be asked)
  walking every expert's output tiles, block_id, block_id + sms, ...:
  contiguous: the (R / block_M) x (N / block_N) tiles in the grouped order (GROUP_M tile rows
  walked down before moving right, so that the B[e] column tile stays in L2); a tile's expert
  is grouped_layout of its first row (block_M divides ALIGN_M: a tile never spans two
  experts); -1 (a tile of padding rows only) is skipped without a load;
  masked: DeepGEMM's masked scheduler: the work items are only the tiles below each expert's
  count (ceil(count / block_M) row tiles of every column tile), counted and looked up by a
  scan over the G counts (outside the K loop), row tiles of one column tile adjacent; tiles
  past a count are never visited, so the blocks share the real work evenly;
- the K loop is T.Pipelined(K / block_K, num_stages), its trip count a constant (a
  data-dependent trip count in a pipelined loop fails TileLang 0.1.15's codegen); the
  data-dependent part (expert lookup, skip) is around it;
- TMA and warp specialization, TileLang's defaults on Hopper: the A and B[e] tiles (and, for
  e4m3, one K-block's A scales) are TMA loads (UTMALDG) issued by a producer warpgroup that
  TileLang adds (threads + 128); the config's threads are the consumer (MMA) warpgroups;
  setmaxnreg rebalances the registers, said explicitly (DeepGEMM's 40 for the producer, what
  that frees for the consumers): TileLang's lowering sets none by itself in this kernel; masked: A (G, M_max, K) is read by a 3-D box, whose rows
  past M_max TMA zero-fills (rows past a count may be read, never stored);
- e4m3: fp8_gemm best's two-level sum: each 128-deep K-block's product starts from zero in an
  fp32 fragment, then sum += product * sa[row, k] * sb[e, n_block, k] (one sb a K-block:
  block_N divides 128, read from global by the consumers as DeepGEMM's math warps do); a first
  kernel of the e4m3 prim_func decodes A's scales to fp32 and transposes them into the
  workspace sa_t (contiguous (K/128, R), masked (G, K/128, M_max): DeepGEMM's MN-major
  layout), so a K-block's scales for a tile are one TMA box loaded with the tile in each stage;
- epilogue: contiguous: the tile goes through shared memory (C_local -> C_shared, stmatrix)
  to one TMA store (UTMASTG; padding rows are don't-care, columns past N clipped by the box);
  masked: a tile wholly below its expert's count the same way; an expert's last tile (rows
  past the count must keep C's poison) is stored from registers with a row and column guard
  (not read back from C_shared: that makes TileLang 0.1.15 put a block-wide barrier at every
  tile's start, which would hold the producer's loads of the next tile until this epilogue
  ends; checked in the CUDA source); C rows that TMA cannot store (N not a multiple of 8:
  rows not a multiple of 16 bytes) take the guarded register store too (`store_path`). The
  e4m3 kernel gets that barrier anyway (fp8 operands beside the bf16 C_shared in dynamic
  shared memory; so does kernels/fp8_gemm/tilelang_best.py): there a tile's first loads wait
  for the previous tile's epilogue (C_shared in static shared memory loses it, but is 16-byte
  aligned, short of the 1024 bytes the 128-byte-swizzled TMA store box needs: not taken);
- warp policy FullRow: each consumer warpgroup owns 64 full rows (HGMMA 64 x block_N for bf16,
  QGMMA 64 x block_N for e4m3);
- sizes specialized (Python ints), TileLang's way.
The factory returns {"bf16" or "e4m3": (prim_func, {})} (bf16 takes no scales: the host
function drops the empty sa and sb, and takes no workspace). On the C backend (the CPU check),
which has neither bf16, fp8 nor TMA, both dtypes arrive as "float32" (values already rounded:
the harness's emulation), so both kernels are built and the host function picks one by sa
(empty: bf16); the copies lower to loops there.

SASS on sm_90a: TMA load, TMA store, warp specialization, setmaxnreg, HGMMA 64x128, stmatrix, no spills. Not: cp.async.
"""
import torch
import tilelang.language as T

from kernels.fp8_gemm.tilelang_best import scale_value  # fp8_gemm best's scale decoder
from kernels.fp8_gemm.spec import GROUP_M, TMA_ALIGN
from kernels.grouped_gemm.spec import CONFIGS, H100_SMS, block_k, rows  # noqa: F401  (CONFIGS: the shared list)

SCALE_BLOCK = 128  # one sa / sb per 128 K-values (and sb per 128 columns)
SCALE_TILE = 128  # A's scales transposed per block of this many rows
ACCUM = "float32"
C_BYTES = 2  # C is bf16
PRODUCER_REGISTERS = 40  # DeepGEMM's TMA warpgroup budget: it only issues TMA copies


def consumer_registers(threads):
    """The consumers' share of the 64K-register file once the 128-thread producer keeps
    PRODUCER_REGISTERS: a multiple of 8, at most 240 (setmaxnreg's ceiling; DeepGEMM: 232)."""
    return min(240, (65536 - 128 * PRODUCER_REGISTERS) // threads // 8 * 8)


def num_sms():
    """The persistent grid's size: this GPU's SM count, or an H100's where there is none."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    return H100_SMS


def store_path(N):
    """'tma', or 'guarded' where TMA cannot store C's rows (N * 2 bytes not a multiple of 16)."""
    return "tma" if (N * C_BYTES) % TMA_ALIGN == 0 else "guarded"


def grouped_tile(item, tiles_m, tiles_n):
    """Contiguous work item -> (tile row, tile column) in the grouped order (GROUP_M tile rows
    walked down before moving right)."""
    per_group = GROUP_M * tiles_n
    first_m = (item // per_group) * GROUP_M
    group_rows = T.min(tiles_m - first_m, GROUP_M)
    return first_m + (item % per_group) % group_rows, (item % per_group) // group_rows


def workspace(shape, dtype, config, device):
    """e4m3: sa_t, A's scales decoded to fp32 and transposed (contiguous (K/128, R), masked
    (G, K/128, M_max)); bf16 none. On the C backend dtype is "fp32" (either dtype emulated):
    sa_t is made, and the host function passes it to the e4m3 kernel only."""
    if dtype == "bf16":
        return {}
    KB, R = shape["K"] // SCALE_BLOCK, rows(shape)
    size = (shape["G"], KB, R) if shape["masked"] else (KB, R)
    return {"sa_t": torch.empty(size, dtype=torch.float32, device=device)}


def grouped_gemm_kernel(G, M, N, K, masked, ue8m0, dtype, block_M, block_N, num_stages, threads):
    """{name: (prim_func, pass_configs)} for one shape and config: "bf16" (A, B, grouped_layout, C)
    or "e4m3" (A, SA, B, SB, grouped_layout, C, sa_t); both for "float32" (the C backend's
    emulation of either). dtype is A's and B's format; C is bfloat16 ("float32" on the C backend)."""
    shape = dict(G=G, M=M, N=N, K=K, masked=masked, ue8m0=ue8m0)
    if dtype == "float32":
        names = ("bf16", "e4m3")
    else:
        names = ("e4m3",) if dtype == "float8_e4m3fn" else ("bf16",)
    return {name: (build(shape, rows(shape), dtype, name == "e4m3", block_M, block_N, num_stages, threads), {})
            for name in names}


def build(shape, R, dtype, scaled, block_M, block_N, num_stages, threads):
    """The prim_func of one layout and dtype (scaled: e4m3 with its scales); R: rows of A and C
    (contiguous R, masked M_max)."""
    G, N, K, masked, ue8m0 = shape["G"], shape["N"], shape["K"], bool(shape["masked"]), shape["ue8m0"]
    assert SCALE_BLOCK % block_N == 0 or not scaled, "one B scale a K-block for a tile"
    c_dtype = "float32" if dtype == "float32" else "bfloat16"
    scale_dtype = "uint8" if ue8m0 else "float32"
    block_K = block_k("e4m3" if scaled else "bf16")
    k_tiles, KB, NB = K // block_K, K // SCALE_BLOCK, -(-N // SCALE_BLOCK)
    tiles_n = T.ceildiv(N, block_N)
    tiles_m = T.ceildiv(R, block_M)  # contiguous: all R rows (R % block_M == 0); masked: per expert
    items = (G if masked else 1) * tiles_m * tiles_n  # masked: an upper bound (every count at M_max)
    sms = min(num_sms(), items)
    waves = T.ceildiv(items, sms)
    tma_store = store_path(N) == "tma"
    lead = (G,) if masked else ()  # masked: every tensor of rows has an expert axis first
    shapes = dict(A=(*lead, R, K), SA=(*lead, R, KB), B=(G, N, K), SB=(G, NB, KB), GL=(G,) if masked else (R,),
                  C=(*lead, R, N), sa_t=(*lead, KB, R))

    @T.macro
    def transpose_scales(SA, SA_T):
        """sa_t[(e,) k, m] = sa[(e,) m, k] as fp32."""
        with T.Kernel(T.ceildiv(R, SCALE_TILE), KB, G if masked else 1, threads=SCALE_TILE) as (bx, kb, e):
            for i in T.Parallel(SCALE_TILE):
                m = bx * SCALE_TILE + i
                if m < R:
                    if masked:
                        SA_T[e, kb, m] = scale_value(SA[e, m, kb], ue8m0)
                    else:
                        SA_T[kb, m] = scale_value(SA[m, kb], ue8m0)

    @T.macro
    def tiles(A, SA_T, B, SB, GL, C):
        """Each block: the work items block_id, block_id + sms, ... (module docstring)."""
        with T.Kernel(sms, threads=threads) as (block_id,):
            A_shared = T.alloc_shared((block_M, block_K), dtype)
            B_shared = T.alloc_shared((block_N, block_K), dtype)
            C_local = T.alloc_fragment((block_M, block_N), ACCUM)
            C_shared = T.alloc_shared((block_M, block_N), c_dtype)
            if scaled:
                SA_shared = T.alloc_shared((1, block_M), ACCUM)
                C_block = T.alloc_fragment((block_M, block_N), ACCUM)
                sb = T.alloc_local((1,), ACCUM)
            expert = T.alloc_var("int32")
            pid_m = T.alloc_var("int32")
            pid_n = T.alloc_var("int32")
            limit = T.alloc_var("int32")  # masked: the expert's count (rows below it are stored)
            found = T.alloc_var("int32")  # whether the item is a tile to compute
            # TileLang's warp-specialized lowering sets no register budgets by itself here
            # (checked: no USETMAXREG): say them, DeepGEMM's split, the producer down to a few
            # registers and the consumers up to what that frees.
            T.annotate_producer_reg_dealloc(PRODUCER_REGISTERS)
            T.annotate_consumer_reg_alloc(consumer_registers(threads))
            if masked:
                start = T.alloc_var("int32")
            for wave in T.serial(waves):
                item = wave * sms + block_id
                if masked:
                    # DeepGEMM's masked scheduler: item-th tile among the experts' valid ones.
                    # The scan is the only writer of expert, pid_m, pid_n and limit: TileLang
                    # 0.1.15's warp-specialized rewrite moves a lone `expert = 0` before it
                    # into the role branches, after the scan (checked in the CUDA source).
                    # finding: findings/tilelang_ws_scan_moved_under_branch.py
                    start = 0
                    found = 0
                    for e in T.serial(G):
                        count = GL[e]
                        row_tiles = T.ceildiv(count, block_M)
                        mine = found == 0 and item >= start and item < start + row_tiles * tiles_n
                        if mine:
                            expert = e
                            pid_m = (item - start) % row_tiles
                            pid_n = (item - start) // row_tiles
                            limit = count
                            found = 1
                        start = start + row_tiles * tiles_n
                else:
                    m_tile, n_tile = grouped_tile(T.min(item, items - 1), tiles_m, tiles_n)
                    pid_m = m_tile
                    pid_n = n_tile
                    expert = GL[m_tile * block_M]
                    found = T.if_then_else(item < items and expert >= 0, 1, 0)
                if found == 1:
                    m0 = pid_m * block_M
                    n0 = pid_n * block_N
                    T.clear(C_local)
                    for k in T.Pipelined(k_tiles, num_stages=num_stages):
                        if masked:
                            T.copy(A[expert, m0:m0 + block_M, k * block_K:(k + 1) * block_K], A_shared)
                        else:
                            T.copy(A[m0:m0 + block_M, k * block_K:(k + 1) * block_K], A_shared)
                        T.copy(B[expert, n0:n0 + block_N, k * block_K:(k + 1) * block_K], B_shared)
                        if scaled:
                            if masked:
                                T.copy(SA_T[expert, k:k + 1, m0:m0 + block_M], SA_shared)
                            else:
                                T.copy(SA_T[k:k + 1, m0:m0 + block_M], SA_shared)
                            sb[0] = scale_value(SB[expert, n0 // SCALE_BLOCK, k], ue8m0)
                            T.clear(C_block)
                            T.gemm(A_shared, B_shared, C_block, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                            for i, j in T.Parallel(block_M, block_N):
                                C_local[i, j] += C_block[i, j] * SA_shared[0, i] * sb[0]
                        else:
                            T.gemm(A_shared, B_shared, C_local, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)
                    if masked:
                        if tma_store and m0 + block_M <= limit:  # the whole tile is below the count
                            T.copy(C_local, C_shared)
                            T.copy(C_shared, C[expert, m0:m0 + block_M, n0:n0 + block_N])
                        else:  # an expert's last tile: rows past the count keep C's poison
                            for i, j in T.Parallel(block_M, block_N):
                                if m0 + i < limit and n0 + j < N:
                                    C[expert, m0 + i, n0 + j] = C_local[i, j]
                    elif tma_store:
                        T.copy(C_local, C_shared)
                        T.copy(C_shared, C[m0:m0 + block_M, n0:n0 + block_N])
                    else:
                        for i, j in T.Parallel(block_M, block_N):
                            if n0 + j < N:
                                C[m0 + i, n0 + j] = C_local[i, j]

    if scaled:
        @T.prim_func
        def grouped_gemm_e4m3(A: T.Tensor(shapes["A"], dtype), SA: T.Tensor(shapes["SA"], scale_dtype),
                              B: T.Tensor(shapes["B"], dtype), SB: T.Tensor(shapes["SB"], scale_dtype),
                              GL: T.Tensor(shapes["GL"], "int32"), C: T.Tensor(shapes["C"], c_dtype),
                              sa_t: T.Tensor(shapes["sa_t"], ACCUM)):
            transpose_scales(SA, sa_t)
            tiles(A, sa_t, B, SB, GL, C)
        return grouped_gemm_e4m3

    @T.prim_func
    def grouped_gemm_bf16(A: T.Tensor(shapes["A"], dtype), B: T.Tensor(shapes["B"], dtype),
                          GL: T.Tensor(shapes["GL"], "int32"), C: T.Tensor(shapes["C"], c_dtype)):
        tiles(A, None, B, None, GL, C)
    return grouped_gemm_bf16


def grouped_gemm(kernels, a, sa, b, sb, grouped_layout, c, *workspace):
    """Run the kernel of this dtype: bf16 (sa empty) without the scales and the workspace."""
    if sa.numel() == 0:
        kernels["bf16"](a, b, grouped_layout, c)
    else:
        kernels["e4m3"](a, sa, b, sb, grouped_layout, c, *workspace)
