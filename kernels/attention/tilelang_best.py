"""Attention forward in TileLang, best track: written as TileLang's own best attention kernels
are (examples/flash_attention and examples/flash_decoding for Hopper), plus the causal stage
split of Triton's tutorial.

Techniques:
- TMA and warp specialization, TileLang's defaults on Hopper: each T.copy of a global tile
  into shared memory becomes a TMA load (UTMALDG) issued by a producer warpgroup TileLang adds
  to the block, with mbarriers between it and the consumer warpgroups (the config's threads:
  two of 64 query rows each), registers rebalanced between them (setmaxnreg). O is scaled by
  1/l in its accumulator fragment, copied whole into shared memory (stmatrix, as TileLang's
  examples do) and leaves from there by plain stores: TileLang 0.1.15 lowers that copy to
  STG, not a TMA store, at prefill (Triton's best has one); the decode pass's partials do
  leave by TMA store.
- Softmax in base 2 with the scale folded in: p = exp2(s · scale·log2(e) - m), one FMA and
  one exp2 per score; the row max is taken on the raw scores and scaled once per row; fast
  math (PASS_CONFIGS), as TileLang's examples compile it.
- Causal masking only on the diagonal tiles: the loop runs over the key tiles the block may
  see and only those from `unmasked` on (the diagonal ones, a ragged last one) run the mask,
  a branch per tile; tiles above the diagonal are never visited. (One loop, not two: a second
  T.Pipelined over the same shared buffers fails TileLang 0.1.15's layout inference, and
  buffers of their own do not fit the shared memory.)
- Softmax/MMA overlap: the two consumer warpgroups' softmax and MMAs interleave on the SM.
  The intra-warpgroup overlap of FlashAttention-3 (tile k's softmax while tile k-1's P·V runs)
  is not expressible safely here in TileLang 0.1.15: T.Pipelined's order/stage leave the
  consumer's gemms in program order under automatic warp specialization (the generated CUDA
  issues Q·Kᵀ, waits, softmax, P·V, waits), and asynchronous T.wgmma_gemm inside that loop
  makes the pass release the K/V buffers to the producer before the wgmma that reads them has
  finished. TileLang's wgmma-pipelined flash-attention examples that used order/stage/group
  were removed upstream; the remaining route is hand-written producer/consumer code with
  explicit mbarriers (as its examples/deepseek_mla/example_mla_decode_ws.py), which the CPU
  C path cannot run.
- Decode steps (spec.shape_class: Sq <= 8): flash-decoding, as TileLang's
  example_gqa_decode: the G query heads of one kv head and their Sq queries packed into the
  rows of one tile (K and V read once per kv head), the keys split into spec.decode_splits
  chunks writing partial outputs and base-2 lse into the harness's workspace, then a second
  T.Kernel in the same prim_func combines them.
Head dims: padded to the next power of two (spec.padded_head_dim); T.copy zero-fills the
padded columns and ragged rows and clips the stores; the tiles shrink for the largest head
dims (spec.fit). The shape is part of the kernel (TileLang specializes on it).

SASS on sm_90a: TMA load, warp specialization, setmaxnreg, HGMMA 64x64, stmatrix, no spills. Not: TMA store.

SASS on sm_90a at decode: 2 kernels, TMA load, TMA store, setmaxnreg, no spills.
"""
import tilelang.language as T

from kernels import dtypes
from kernels.attention import spec
from kernels.attention.spec import CONFIGS, default_scale  # noqa: F401  (the config list both DSLs share)

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x · log2(e))
LN2 = 0.6931471805599453  # ln(2): converts the base-2 log-sum-exp back to natural log
# TMA lowering and warp specialization stay on (TileLang's defaults); approximate exp2, log2 and
# division (nvcc --use_fast_math), as TileLang's flash-attention examples compile. Loops
# unrolled explicitly for the head dims TMA cannot take (D = 59, 111, ... in 16-bit): their
# cp.async pipeline hits the codegen failure described in tilelang_matched.py.
# finding: findings/tilelang_pipelined_dynamic_trip_count.py
PASS_CONFIGS = {"tl.enable_fast_math": True, "tl.UnrollLoop": {"explicit_unroll": True}}
DTYPE_NAME = {t: name for name, t in dtypes.TILELANG.items()}  # "float16" -> "fp16"
ACCUM = "float32"


def workspace(shape, dtype, config, device):
    """The split-KV partials of a decode step (spec.decode_workspace); none otherwise."""
    return spec.decode_workspace(shape, dtype, config, device)


def attention_kernel(B, Hq, Hkv, Sq, Skv, D, causal, dtype, block_M, block_N, num_stages, threads, sm_scale=None):
    """Return the prim_func (q, k, v) -> (o, lse) for one shape, dtype ("float16", ...) and
    config, and for a decode step (q, k, v) -> (o, lse, o_partial, lse_partial):
    o[i] = Σ_j p_ij v_j with p_ij = exp(s_ij - lse_i), s_ij = scale · q_i·k_j (j visible to i),
    lse_i = log Σ_j exp(s_ij); visible: j < Skv and, if causal, j <= i + Skv - Sq. A row that
    sees no key gets o = 0, lse = +inf."""
    shape = dict(B=B, Hq=Hq, Hkv=Hkv, Sq=Sq, Skv=Skv, D=D, causal=causal)
    config = dict(block_M=block_M, block_N=block_N, num_stages=num_stages, threads=threads)
    scale = default_scale(D) if sm_scale is None else sm_scale
    assert scale > 0, "the row max is taken before scaling: the scale must be positive"
    if spec.shape_class(shape) == "decode":
        return decode_kernel(shape, dtype, spec.decode_config(config, DTYPE_NAME[dtype], D), scale * LOG2E)
    return prefill_kernel(shape, dtype, spec.fit(config, DTYPE_NAME[dtype], D), scale * LOG2E)


def prefill_kernel(shape, dtype, c, qk_scale):
    B, Hq, Hkv, Sq, Skv, D, causal = (shape[k] for k in spec.SHAPE_KEYS)
    block_M, block_N, threads = c["block_M"], c["block_N"], c["threads"]
    Dp = spec.padded_head_dim(D)
    group = Hq // Hkv
    causal_offset = Skv - Sq
    # fp32 runs as TF32, whose MMA wants P in a register layout the score accumulator does not
    # have: P goes through shared memory (see tilelang_matched.py).
    alloc_p = T.alloc_shared if dtype == ACCUM else T.alloc_fragment

    def stages(bx):
        """(unmasked, end): key tiles 0 .. unmasked need no mask (every row of block bx sees
        them whole), unmasked .. end are masked; later tiles are never visited."""
        whole = Skv // block_N
        if not causal:
            return whole, T.ceildiv(Skv, block_N)
        first_row_sees = T.max(0, bx * block_M + causal_offset + 1)
        end = T.max(0, T.min(T.ceildiv(Skv, block_N), T.ceildiv(bx * block_M + block_M + causal_offset, block_N)))
        return T.min(whole, first_row_sees // block_N), end

    def visible(i, j):  # may query i see key j
        if causal:
            return (j < Skv) & (j <= i + causal_offset)
        return j < Skv

    @T.macro
    def mask(acc_s, bx, t):  # -inf where query bx·block_M + i may not see key t·block_N + j
        for i, j in T.Parallel(block_M, block_N):
            acc_s[i, j] = T.if_then_else(visible(bx * block_M + i, t * block_N + j), acc_s[i, j], -T.infinity(ACCUM))

    @T.prim_func
    def attention(
        Q: T.Tensor((B, Hq, Sq, D), dtype),
        K: T.Tensor((B, Hkv, Skv, D), dtype),
        V: T.Tensor((B, Hkv, Skv, D), dtype),
        O: T.Tensor((B, Hq, Sq, D), dtype),
        LSE: T.Tensor((B, Hq, Sq), ACCUM),
    ):
        with T.Kernel(T.ceildiv(Sq, block_M), Hq, B, threads=threads) as (bx, by, bz):
            Q_shared = T.alloc_shared((block_M, Dp), dtype)
            K_shared = T.alloc_shared((block_N, Dp), dtype)
            V_shared = T.alloc_shared((block_N, Dp), dtype)
            O_shared = T.alloc_shared((block_M, Dp), dtype)
            acc_s = T.alloc_fragment((block_M, block_N), ACCUM)
            acc_p = alloc_p((block_M, block_N), dtype)
            acc_o = T.alloc_fragment((block_M, Dp), ACCUM)
            m_i = T.alloc_fragment((block_M,), ACCUM)
            m_prev = T.alloc_fragment((block_M,), ACCUM)
            m_use = T.alloc_fragment((block_M,), ACCUM)
            alpha = T.alloc_fragment((block_M,), ACCUM)
            l_tile = T.alloc_fragment((block_M,), ACCUM)
            l_i = T.alloc_fragment((block_M,), ACCUM)
            hkv = by // group

            T.copy(Q[bz, by, bx * block_M, 0], Q_shared)
            T.fill(acc_o, 0)
            T.fill(l_i, 0)
            T.fill(m_i, -T.infinity(ACCUM))
            unmasked, end = stages(bx)
            # One pipelined loop over the key tiles the block may see; only the tiles from
            # `unmasked` on (the diagonal ones, a ragged last one) run the mask, after the gemm.
            # One loop, not two (module docstring); finding: findings/tilelang_second_pipelined_same_buffers.py
            for k in T.Pipelined(end, num_stages=c["num_stages"]):
                T.copy(K[bz, hkv, k * block_N, 0], K_shared)
                T.gemm(Q_shared, K_shared, acc_s, transpose_B=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
                if k >= unmasked:
                    mask(acc_s, bx, k)
                softmax(acc_s, m_i, m_prev, m_use, alpha, l_tile, l_i, block_M, block_N, qk_scale)
                for i, j in T.Parallel(block_M, Dp):
                    acc_o[i, j] *= alpha[i]  # rescale what was summed under the old max
                T.copy(acc_s, acc_p)
                T.copy(V[bz, hkv, k * block_N, 0], V_shared)
                T.gemm(acc_p, V_shared, acc_o, policy=T.GemmWarpPolicy.FullRow)

            # A row that saw no key has l = 0: o = 0 and lse = +inf, as flash-attention 2 writes.
            for i in T.Parallel(block_M):
                alpha[i] = T.if_then_else(l_i[i] > 0, 1.0 / l_i[i], 0.0)  # reusing alpha as 1 / l
            for i, j in T.Parallel(block_M, Dp):
                acc_o[i, j] *= alpha[i]  # scaled in registers, then one fragment copy (STSM), then plain stores
            T.copy(acc_o, O_shared)
            T.copy(O_shared, O[bz, by, bx * block_M, 0])
            for i in T.Parallel(block_M):  # natural-log lse, reusing l_tile
                l_tile[i] = T.if_then_else(l_i[i] > 0, (m_i[i] + T.log2(l_i[i])) * LN2, T.infinity(ACCUM))
            T.copy(l_tile, LSE[bz, by, bx * block_M])

    return attention


@T.macro
def softmax(acc_s, m_i, m_prev, m_use, alpha, l_tile, l_i, rows, cols, qk_scale):
    """Raw scores acc_s -> p = exp2(s · qk_scale - m) under the new running max m (scaled
    base-2 units; the max is taken on the raw scores, qk_scale > 0): one FMA and one exp2 per
    score; l_i updated, alpha = exp2(m_old - m) rescales the old state. A row that has seen
    no key yet keeps m = -inf and subtracts m_use = 0 instead, so its weights are exp2(-inf) = 0,
    not NaN (flash-attention's Check_inf)."""
    T.copy(m_i, m_prev)
    T.reduce_max(acc_s, m_i, dim=1)
    for i in T.Parallel(rows):
        m_i[i] = T.max(m_prev[i], m_i[i] * qk_scale)
    for i in T.Parallel(rows):
        m_use[i] = T.if_then_else(m_i[i] == -T.infinity(ACCUM), 0, m_i[i])
    for i in T.Parallel(rows):
        alpha[i] = T.exp2(m_prev[i] - m_use[i])
    for i, j in T.Parallel(rows, cols):
        acc_s[i, j] = T.exp2(acc_s[i, j] * qk_scale - m_use[i])
    T.reduce_sum(acc_s, l_tile, dim=1)
    for i in T.Parallel(rows):
        l_i[i] = l_i[i] * alpha[i] + l_tile[i]


def decode_kernel(shape, dtype, c, qk_scale):
    """Flash-decoding: the split pass (one block per key chunk, packed row tile, batch and kv
    head) and the combine pass (one block per output row), two T.Kernels of one prim_func."""
    B, Hq, Hkv, Sq, Skv, D, causal = (shape[k] for k in spec.SHAPE_KEYS)
    rows, block_N, threads = spec.DECODE_ROWS, c["block_N"], c["threads"]
    Dp = spec.padded_head_dim(D)
    group = Hq // Hkv
    R = group * Sq  # packed rows per kv head: r = g · Sq + i is query i of query head kv_head · G + g
    splits = spec.decode_splits(shape, block_N)
    chunk_tiles = spec.decode_chunk(Skv, block_N, splits) // block_N
    causal_offset = Skv - Sq
    seen_by_all = Skv - Sq + 1 if causal else Skv  # keys every row sees (causal: query 0's, 0 .. Skv - Sq)
    alloc_p = T.alloc_shared if dtype == ACCUM else T.alloc_fragment

    def visible(r, j):  # may packed row r (query r % Sq) see key j
        if causal:
            return (j < Skv) & (j <= r % Sq + causal_offset)
        return j < Skv

    @T.macro
    def split_pass(Q, K, V, O_part, LSE_part):
        with T.Kernel(splits, T.ceildiv(R, rows), B * Hkv, threads=threads) as (bs, br, bbh):
            Q_shared = T.alloc_shared((rows, Dp), dtype)
            K_shared = T.alloc_shared((block_N, Dp), dtype)
            V_shared = T.alloc_shared((block_N, Dp), dtype)
            O_shared = T.alloc_shared((rows, Dp), ACCUM)
            acc_s = T.alloc_fragment((rows, block_N), ACCUM)
            acc_p = alloc_p((rows, block_N), dtype)
            acc_o = T.alloc_fragment((rows, Dp), ACCUM)
            m_i = T.alloc_fragment((rows,), ACCUM)
            m_prev = T.alloc_fragment((rows,), ACCUM)
            m_use = T.alloc_fragment((rows,), ACCUM)
            alpha = T.alloc_fragment((rows,), ACCUM)
            l_tile = T.alloc_fragment((rows,), ACCUM)
            l_i = T.alloc_fragment((rows,), ACCUM)
            b = bbh // Hkv
            hkv = bbh % Hkv
            r0 = br * rows

            for i, d in T.Parallel(rows, Dp):  # gather the G·Sq query rows of kv head hkv
                Q_shared[i, d] = T.if_then_else((r0 + i < R) & (d < D),
                                                Q[b, hkv * group + (r0 + i) // Sq, (r0 + i) % Sq, d], 0)
            T.fill(acc_o, 0)
            T.fill(l_i, 0)
            T.fill(m_i, -T.infinity(ACCUM))
            first = bs * chunk_tiles
            tiles = T.max(0, T.min(chunk_tiles, T.ceildiv(Skv, block_N) - first))
            unmasked = T.max(0, T.min(tiles, seen_by_all // block_N - first))  # whole tiles every row sees
            for k in T.Pipelined(tiles, num_stages=c["num_stages"]):
                T.copy(K[b, hkv, (first + k) * block_N, 0], K_shared)
                T.gemm(Q_shared, K_shared, acc_s, transpose_B=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
                if k >= unmasked:
                    for i, j in T.Parallel(rows, block_N):
                        acc_s[i, j] = T.if_then_else(visible(r0 + i, (first + k) * block_N + j), acc_s[i, j],
                                                     -T.infinity(ACCUM))
                softmax(acc_s, m_i, m_prev, m_use, alpha, l_tile, l_i, rows, block_N, qk_scale)
                for i, j in T.Parallel(rows, Dp):
                    acc_o[i, j] *= alpha[i]
                T.copy(acc_s, acc_p)
                T.copy(V[b, hkv, (first + k) * block_N, 0], V_shared)
                T.gemm(acc_p, V_shared, acc_o, policy=T.GemmWarpPolicy.FullRow)

            # normalized partial output and its base-2 lse; a row that saw none of these keys: 0, -inf
            for i in T.Parallel(rows):
                alpha[i] = T.if_then_else(l_i[i] > 0, 1.0 / l_i[i], 0.0)
            for i, d in T.Parallel(rows, Dp):
                O_shared[i, d] = acc_o[i, d] * alpha[i]
            T.copy(O_shared, O_part[b, hkv, bs, r0, 0])
            for i in T.Parallel(rows):
                l_tile[i] = T.if_then_else(l_i[i] > 0, m_i[i] + T.log2(l_i[i]), -T.infinity(ACCUM))
            T.copy(l_tile, LSE_part[b, hkv, bs, r0])

    @T.macro
    def combine_pass(O, LSE, O_part, LSE_part):
        with T.Kernel(Sq, Hq, B, threads=spec.COMBINE_THREADS) as (i, h, b):
            o_acc = T.alloc_fragment((Dp,), ACCUM)
            top = T.alloc_var(ACCUM)
            total = T.alloc_var(ACCUM)
            lse2 = T.alloc_var(ACCUM)
            weight = T.alloc_var(ACCUM)
            hkv = h // group
            r = (h % group) * Sq + i
            top = -T.infinity(ACCUM)
            for s in T.serial(splits):
                top = T.max(top, LSE_part[b, hkv, s, r])
            top = T.if_then_else(top == -T.infinity(ACCUM), 0, top)  # no split saw a key: every weight is 0
            total = 0
            for s in T.serial(splits):
                total += T.exp2(LSE_part[b, hkv, s, r] - top)
            lse2 = top + T.log2(total)
            T.clear(o_acc)
            for s in T.serial(splits):
                weight = T.exp2(LSE_part[b, hkv, s, r] - lse2)
                for d in T.Parallel(Dp):
                    o_acc[d] += weight * T.if_then_else(d < D, O_part[b, hkv, s, r, d], 0)
            for d in T.Parallel(Dp):
                if d < D:
                    O[b, h, i, d] = o_acc[d]
            LSE[b, h, i] = T.if_then_else(total > 0, lse2 * LN2, T.infinity(ACCUM))

    @T.prim_func
    def attention(
        Q: T.Tensor((B, Hq, Sq, D), dtype),
        K: T.Tensor((B, Hkv, Skv, D), dtype),
        V: T.Tensor((B, Hkv, Skv, D), dtype),
        O: T.Tensor((B, Hq, Sq, D), dtype),
        LSE: T.Tensor((B, Hq, Sq), ACCUM),
        O_part: T.Tensor((B, Hkv, splits, R, D), ACCUM),
        LSE_part: T.Tensor((B, Hkv, splits, R), ACCUM),
    ):
        split_pass(Q, K, V, O_part, LSE_part)
        combine_pass(O, LSE, O_part, LSE_part)

    return attention
