"""Attention forward, described once: O = softmax(scale · Q Kᵀ + mask) V, and its row log-sum-exp.

Layout (B, H, S, D): q (B, Hq, Sq, D); k and v (B, Hkv, Skv, D); o (B, Hq, Sq, D) in the
input dtype; lse (B, Hq, Sq) in fp32, the natural-log logsumexp of each masked score row
(what a later backward needs). Grouped-query heads: Hq = G·Hkv and query head h reads kv
head h // G (Hkv = Hq is plain multi-head attention), as flash-attn and torch's SDPA do.

Causal convention, the mask aligned to the END of the keys (as flash-attn >= 2.1):
query i sees key j iff j <= i + (Skv - Sq). So when Sq = Skv it is the usual lower
triangle, and a decode step (Sq = 1) sees every key. When Sq > Skv the first Sq - Skv
queries see no key at all: as flash-attention 2 (the package `flash_attn`) defines it, their
o is 0 and their lse is +inf (csrc/flash_attn/src/softmax.h, normalize_softmax_lse: a row
whose sum is 0 gets INFINITY; flash_fwd_kernel.h writes INFINITY for a block of such rows;
its split-KV combine does the same). FlashAttention-3 (hopper/) writes -inf there instead.

Head dims: any D from 1 to 256 (flash-attention's range, including 40, 59, 80, 96, 111,
192). Both DSLs and both tracks pad D inside the kernel to padded_head_dim(D), the next
power of two (what Triton's tl.arange and tensor-descriptor blocks take): loads zero-fill
the padded columns, stores clip them. The caller never pads.

Shape classes: Sq <= DECODE_MAX_SQ is a decode step (shape_class "decode", a report group
of its own). The best track runs it as flash-decoding: split-KV over the cache (see
decode_splits) with the G query heads of a kv head packed into one tile, then a combine.

Every backend and every test takes shapes, inputs, FLOPs, bytes, the float64 reference and
the tolerances from here. Both DSL kernels use FlashAttention-2's algorithm: tiles over
keys, online softmax, fp32 accumulators, causal tiles above the diagonal skipped.
"""
import math

import torch

from kernels import SMEM_LIMIT, Skip, dtypes, grid_refusal

NAME = "attention"
SHAPE_KEYS = ("B", "Hq", "Hkv", "Sq", "Skv", "D", "causal")
FLAGS = ("causal",)
DTYPES = ("fp32", "fp16", "bf16")
INPUTS = ("q", "k", "v")
OUTPUTS = ("o", "lse")
# kernels/attention/baselines.py: SDPA pinned to one backend per row, flash-attn (its
# prefill entry and, for decode steps, its KV-cache entry), math SDPA.
BASELINES = ("sdpa-flash", "sdpa-cudnn", "flash-attn", "flash-kvcache", "torch")
HEAD_DIM_MAX = 256  # flash-attention's largest head dim
DECODE_MAX_SQ = 8  # query lengths up to this are decode steps (one token, or a few speculated)

# The tile configs both DSLs choose from: the same list per track, so the same tuning budget.
# block_M query rows per program, block_N keys per step; threads = 32 * Triton's num_warps.
# 128-row tiles with 2 warpgroups (256 threads) are what Hopper's wgmma wants; the
# 64-row config serves short query lengths. The best track's configs are 128-row tiles on
# two consumer warpgroups of 64 rows each (threads = 2 · block_M), as FlashAttention-3 and
# both DSLs' warp-specialized kernels split a tile (a producer warpgroup for the TMA loads
# comes on top); the last one is the one that fits fp32.
# Decode steps in the best track take block_N and num_stages from the config and run
# DECODE_ROWS packed query rows per program on one warpgroup (see decode_splits).
TRACKS = ("matched", "best")  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_M=128, block_N=128, num_stages=2, threads=256),
        dict(block_M=128, block_N=64, num_stages=3, threads=256),
        dict(block_M=128, block_N=64, num_stages=2, threads=128),
        dict(block_M=64, block_N=64, num_stages=3, threads=128),
    ],
    "best": [
        dict(block_M=128, block_N=128, num_stages=2, threads=256),
        dict(block_M=128, block_N=64, num_stages=3, threads=256),
        dict(block_M=128, block_N=64, num_stages=2, threads=256),
    ],
}
CONFIG_HEAD_DIM = 128  # configs_for() checks the budget at this head dim; fit() shrinks for larger


def padded_head_dim(D):
    """The head dim the kernels compute with: D rounded up to a power of two, at least 16 (one
    MMA k-step); the extra columns are zeros in q, k, v and never stored."""
    return max(16, 1 << (D - 1).bit_length())


def smem_bytes(config, dtype, D=CONFIG_HEAD_DIM):
    """Shared memory of the Q tile plus num_stages K and V tiles at head dim D (padded); fp32
    also stages P (block_M x block_N), see kernels/attention/tilelang_matched.py."""
    c = config
    tiles = (c["block_M"] + 2 * c["num_stages"] * c["block_N"]) * padded_head_dim(D)
    if dtype == "fp32":
        tiles += c["block_M"] * c["block_N"]
    return tiles * dtypes.BYTES[dtype]


def configs_for(dtype, track):
    """The configs that fit on the GPU for this dtype at CONFIG_HEAD_DIM (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype) <= SMEM_LIMIT]


def fit(config, dtype, D):
    """The config a kernel runs at head dim D: itself when its tiles fit the shared memory,
    else block_N halved down to 32, then block_M down to 64 (and never below threads / 2:
    16 rows a warp), then block_N down to 16. Both DSLs call this, so a large head dim shrinks
    a config the same way in both; a config that still does not fit is a Skip."""
    c = dict(config)
    while smem_bytes(c, dtype, D) > SMEM_LIMIT:
        if c["block_N"] > 32:
            c["block_N"] //= 2
        elif c["block_M"] > max(64, c["threads"] // 2):
            c["block_M"] //= 2
        elif c["block_N"] > 16:
            c["block_N"] //= 2
        else:
            raise Skip(f"config {config} does not fit {SMEM_LIMIT} bytes of shared memory at D={D}")
    return c


def shape_class(shape):
    """'decode' for a decode step (Sq <= DECODE_MAX_SQ, reported as a group of its own), else None."""
    return "decode" if shape["Sq"] <= DECODE_MAX_SQ else None


# Flash-decoding: a decode step has too few query rows to fill the GPU, so the keys are split
# into chunks, one program per (chunk, packed row tile, batch, kv head), each writing a partial
# output and its lse; a second kernel combines them. The G query heads of one kv head and the
# Sq queries of each are packed into rows r = g * Sq + i (that is query head kv_head * G + r // Sq,
# query r % Sq), so K and V are read once per kv head. DECODE_ROWS rows a tile: one warpgroup's
# MMA M (64) on DECODE_THREADS threads.
DECODE_ROWS = 64
DECODE_THREADS = 128
COMBINE_THREADS = 128  # the combine: one output row per program, its D columns across the threads
SMS = 132  # streaming multiprocessors of an H100 SXM / H200: the split count targets one of them
MAX_SPLITS = 128


def decode_rows(shape):
    """Packed query rows per kv head: G query heads x Sq queries."""
    return shape["Hq"] // shape["Hkv"] * shape["Sq"]


def decode_config(config, dtype, D):
    """The decode tiling of a config: DECODE_ROWS packed rows on DECODE_THREADS threads, the
    config's block_N (halved until the tiles fit the shared memory at head dim D) and num_stages."""
    c = dict(config, block_M=DECODE_ROWS, threads=DECODE_THREADS)
    while smem_bytes(c, dtype, D) > SMEM_LIMIT and c["block_N"] > 16:
        c["block_N"] //= 2
    return c


def decode_splits(shape, block_N):
    """How many key chunks a decode step is split into (both DSLs take it from here): with
    P = B·Hkv·row tiles programs per chunk, the fewest splits whose waves over SMS SMs are
    at least 85% as full as the best eligible count's, as flash-attention's
    num_splits_heuristic chooses; one when P already fills 80% of the SMs; never more than
    there are key tiles. Eligible: a count whose chunks differ from one split fewer (more
    splits of the same chunk size only add empty ones). The best is taken over the eligible
    counts alone, so one always qualifies (an ineligible best crashed 2% of decode steps)."""
    programs = shape["B"] * shape["Hkv"] * math.ceil(decode_rows(shape) / DECODE_ROWS)
    tiles = math.ceil(shape["Skv"] / block_N)
    if programs >= 0.8 * SMS:
        return 1
    most = min(MAX_SPLITS, SMS, tiles)

    def fill(n):  # share of the SMs busy, averaged over the waves
        waves = programs * n / SMS
        return waves / math.ceil(waves)

    eligible = [n for n in range(1, most + 1) if n == 1 or math.ceil(tiles / n) != math.ceil(tiles / (n - 1))]
    best = max(fill(n) for n in eligible)
    return next(n for n in eligible if fill(n) >= 0.85 * best)


def decode_chunk(Skv, block_N, splits):
    """Keys per split: whole key tiles, so only the last split can be ragged (and splits past
    the keys are empty: their lse is -inf, the combine weighs them 0)."""
    return math.ceil(math.ceil(Skv / block_N) / splits) * block_N


def decode_workspace(shape, dtype, config, device):
    """The split-KV partials both DSLs' best-track decode writes and its combine reads:
    o_partial (B, Hkv, splits, G·Sq, D) and lse_partial (B, Hkv, splits, G·Sq), fp32; {} for a
    shape that is not a decode step. lse_partial is base 2 (log2 Σ exp2 of the scaled
    scores), -inf for a split whose keys a row cannot see. The kernels read the split count
    from o_partial's shape."""
    if shape_class(shape) != "decode":
        return {}
    splits = decode_splits(shape, decode_config(config, dtype, shape["D"])["block_N"])
    B, Hkv, R, D = shape["B"], shape["Hkv"], decode_rows(shape), shape["D"]
    return {"o_partial": torch.empty((B, Hkv, splits, R, D), dtype=torch.float32, device=device),
            "lse_partial": torch.empty((B, Hkv, splits, R), dtype=torch.float32, device=device)}


def validate(shape):
    """Constraints beyond 'every size >= 1, causal 0 or 1': a one-line problem, or None."""
    if shape["Hq"] % shape["Hkv"]:
        return f"Hq={shape['Hq']} must be a multiple of Hkv={shape['Hkv']} (grouped-query heads)"
    if shape["D"] > HEAD_DIM_MAX:
        return f"head dim D={shape['D']} is not supported; the kernels take D up to {HEAD_DIM_MAX}, as flash-attention does"
    # Triton's kernels put batch x query heads on grid y (TileLang's: heads on y, batch on z);
    # the decode kernels batch x kv heads on z: one limit for both DSLs.
    return grid_refusal(B_times_Hq=shape["B"] * shape["Hq"])


def default_scale(D):
    return 1.0 / math.sqrt(D)


def kernel_flags(shape):
    """Arguments other than tensors and tile sizes that the kernels (and the reference) take.

    The softmax scale is not one: both kernels default it to 1/sqrt(D) and accept an override."""
    return {"causal": bool(shape["causal"])}


def make_inputs(shape, dtype, seed, device="cpu"):
    """Seeded standard-normal q, k, v (never zeros), in `dtype`: scores are then ~N(0, 1)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    B, Hq, Hkv, Sq, Skv, D = (shape[k] for k in SHAPE_KEYS[:6])
    sizes = {"q": (B, Hq, Sq, D), "k": (B, Hkv, Skv, D), "v": (B, Hkv, Skv, D)}
    t = dtypes.TORCH[dtype]
    return {n: torch.randn(s, generator=g, dtype=torch.float32).to(device=device, dtype=t) for n, s in sizes.items()}


def make_outputs(shape, dtype, device="cpu"):
    """o and lse, poisoned with NaN so that an element the kernel never writes cannot pass."""
    B, Hq, Sq, D = shape["B"], shape["Hq"], shape["Sq"], shape["D"]
    nan = float("nan")
    return {"o": torch.full((B, Hq, Sq, D), nan, dtype=dtypes.TORCH[dtype], device=device),
            "lse": torch.full((B, Hq, Sq), nan, dtype=torch.float32, device=device)}


def visible(Sq, Skv, causal, rows=None, device="cpu"):
    """Boolean (len(rows), Skv) mask: may query i (rows: query indices) see key j."""
    i = torch.arange(Sq, device=device) if rows is None else rows
    j = torch.arange(Skv, device=device)
    if not causal:
        return torch.ones(len(i), Skv, dtype=torch.bool, device=device)
    return j[None, :] <= i[:, None] + (Skv - Sq)


# The lse of a query that sees no key: flash-attention 2 writes INFINITY (see the docstring above).
EMPTY_ROW_LSE = float("inf")

# float64 scores held at once by the reference: 2^26 of them = 512 MiB, so a 16k x 16k
# GPU case is computed a slice of query rows at a time instead of in 2 GiB per head.
REFERENCE_CHUNK = 1 << 26


def reference(inputs, causal=False, sm_scale=None):
    """The float64 truth, on the inputs' device: o = softmax(scale · q kᵀ, masked) v and
    lse = logsumexp of the same masked row. Each kv head's G query heads are stacked into
    the rows (no copy of k, v per query head); rows are done in chunks."""
    q, k, v = (inputs[n].double() for n in INPUTS)
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    scale = default_scale(D) if sm_scale is None else sm_scale
    rows = q.reshape(B, Hkv, (Hq // Hkv) * Sq, D)  # row r is query r % Sq of head group r // Sq
    o, lse = torch.empty_like(rows), torch.empty(rows.shape[:3], dtype=torch.float64, device=q.device)
    step = max(1, REFERENCE_CHUNK // (B * Hkv * Skv))
    for r0 in range(0, rows.shape[2], step):
        r = slice(r0, r0 + step)
        scores = scale * rows[:, :, r] @ k.transpose(-1, -2)
        queries = torch.arange(r0, min(r0 + step, rows.shape[2]), device=q.device) % Sq
        seen = visible(Sq, Skv, causal, queries, q.device)
        scores.masked_fill_(~seen, float("-inf"))
        # A query that sees no key (causal, Sq > Skv) gets o = 0 and lse = +inf, as flash-attention 2.
        empty = ~seen.any(dim=-1)
        o[:, :, r] = (torch.softmax(scores, dim=-1) @ v).masked_fill_(empty[:, None], 0.0)
        lse[:, :, r] = torch.logsumexp(scores, dim=-1).masked_fill_(empty, EMPTY_ROW_LSE)
    return {"o": o.reshape(B, Hq, Sq, D), "lse": lse.reshape(B, Hq, Sq)}


def visible_pairs(shape):
    """Query-key pairs the mask lets through, per (batch, query head)."""
    Sq, Skv = shape["Sq"], shape["Skv"]
    if not shape["causal"]:
        return Sq * Skv
    return sum(min(Skv, max(0, i + Skv - Sq + 1)) for i in range(Sq))


def flops(shape):
    """Two matmuls (q kᵀ and p v), 2·D each per visible pair; masked pairs are not counted."""
    return 4 * shape["B"] * shape["Hq"] * shape["D"] * visible_pairs(shape)


def bytes_moved(shape, dtype):
    """Compulsory traffic: read q, k, v once, write o once (all in dtype) and lse (fp32)."""
    B, Hq, Hkv, Sq, Skv, D = (shape[k] for k in SHAPE_KEYS[:6])
    return (2 * B * Hq * Sq * D + 2 * B * Hkv * Skv * D) * dtypes.BYTES[dtype] + B * Hq * Sq * 4


# Allowed error per output, as (normwise relative, max-abs relative to max|ref|).
# o: the kernels round P (the softmax weights) to the input dtype before P·V and round o
# at the end, with unit roundoff u = 2^-11 (fp16) or 2^-8 (bf16); fp32 dots run as TF32
# on a GPU (both DSLs; the tensor cores drop the low 13 bits of q, k, P and v). A float64
# model of exactly that rounding, over S = 1..32k, causal or not, D = 128, gives normwise
# errors of 3.3e-4 (fp16), 2.3e-3 (bf16), 1.6e-3 (fp32/TF32) and max-abs errors of
# 5e-4, 3.6e-3, 3.4e-3 of max|o|; the bounds leave 4-6x room.
# lse: fp32 sums of exact fp16/bf16 products (error ~1e-6); with TF32 the scores carry
# ~1e-3 relative error, which the model puts at <= 3e-4 normwise, 1e-3 when Skv = 1.
TOLERANCE = {
    "fp32": {"o": (6e-3, 1.5e-2), "lse": (3e-3, 5e-3)},
    "fp16": {"o": (1.5e-3, 3e-3), "lse": (1e-4, 4e-4)},
    "bf16": {"o": (1e-2, 2e-2), "lse": (1e-4, 4e-4)},
}

# Small cases for the CPU paths: block multiples, ragged lengths (17, 100, 257),
# Sq != Skv both ways (causal Sq > Skv: queries that see no key), GQA 2:1 and 4:1, decode
# (Sq = 1, and Sq = 4 causal: split-KV in the best track), head dims 32, 64, 96 and 128.
# `dslbench smoke`'s one shape (on the GPU and on the CPU paths): small, and every config's 128 x 128 tile fits, so each
# kernel it compiles is the one a real shape gets.
SMOKE_SHAPE = dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=64, causal=0)

CPU_SUITE = [
    dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=64, causal=0),
    dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=64, causal=1),
    dict(B=1, Hq=4, Hkv=2, Sq=100, Skv=257, D=64, causal=1),
    dict(B=2, Hq=4, Hkv=1, Sq=17, Skv=17, D=128, causal=1),
    dict(B=1, Hq=8, Hkv=2, Sq=1, Skv=200, D=128, causal=1),
    dict(B=1, Hq=2, Hkv=1, Sq=257, Skv=100, D=32, causal=0),
    dict(B=1, Hq=2, Hkv=1, Sq=150, Skv=40, D=96, causal=1),
    dict(B=1, Hq=8, Hkv=2, Sq=4, Skv=150, D=64, causal=1),
]
# FlashAttention's own benchmark grid: 16k tokens (B·S = 16384) and a model width of
# 2048 (Hq = 2048 / D), S from 512 to 16k, causal and not; then Llama-3-8B-like grouped
# heads (32 : 8, D = 128); then decode steps over a KV cache with Llama-3-8B (32 : 8) and
# Llama-3-70B (64 : 8) heads, D = 128: batch 1 over 32k..128k, 8 over 8k..32k, 64 over
# 1k..4k; one token, and 4 speculated tokens (causal).
# `--suite headline` (and the start of gpu-full): FlashAttention forward in bf16 at head dim 128,
# 4k and 16k tokens (16k tokens a batch), causal and not, and one decode step (Llama-3-8B's heads
# over a 128k cache), cuDNN and flash SDPA beside both DSLs in both tracks.
HEADLINE_SUITE = [dict(B=16384 // S, Hq=16, Hkv=16, Sq=S, Skv=S, D=128, causal=c) for S in (4096, 16384) for c in (0, 1)
                  ] + [dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=131072, D=128, causal=0)]


def headline(shape, dtype):
    """Whether a case is one of the headline's (HEADLINE_SUITE, in bf16)."""
    return dtype == "bf16" and dict(shape) in HEADLINE_SUITE


# the decode step inspect checks a header's decode claims at (bench/inspect/claims.py): Llama-3-8B heads, 32k cache
INSPECT_DECODE_SHAPE = dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=32768, D=128, causal=0)
GPU_SUITE = [
    dict(B=16384 // S, Hq=2048 // D, Hkv=2048 // D, Sq=S, Skv=S, D=D, causal=c)
    for D in (64, 128) for c in (0, 1) for S in (512, 1024, 2048, 4096, 8192, 16384)
] + [
    dict(B=16384 // S, Hq=32, Hkv=8, Sq=S, Skv=S, D=128, causal=1) for S in (2048, 8192)
] + [
    dict(B=B, Hq=Hq, Hkv=8, Sq=Sq, Skv=S, D=128, causal=int(Sq > 1))
    for Hq in (32, 64) for Sq in (1, 4)
    for B, S in ((1, 32768), (1, 131072), (8, 8192), (8, 32768), (64, 1024), (64, 4096))
]
# `--suite gpu-full` (every op within ~10 minutes on one H100): bf16, D=128 at 1k/4k/16k,
# causal and not, one GQA prefill, and three decode steps (8B heads over a 128k cache at
# batch 1, 70B heads at batch 64 over 4k, 4 speculated tokens at batch 8 over 32k).
GPU_DTYPES = ("bf16",)
GPU_FULL_SUITE = [
    dict(B=16384 // S, Hq=16, Hkv=16, Sq=S, Skv=S, D=128, causal=c) for c in (0, 1) for S in (1024, 4096, 16384)
] + [dict(B=2, Hq=32, Hkv=8, Sq=8192, Skv=8192, D=128, causal=1)] + [
    dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=131072, D=128, causal=0),
    dict(B=64, Hq=64, Hkv=8, Sq=1, Skv=4096, D=128, causal=0),
    dict(B=8, Hq=32, Hkv=8, Sq=4, Skv=32768, D=128, causal=1),
]
