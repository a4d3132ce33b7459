"""Attention forward, described once: O = softmax(scale · Q Kᵀ + mask) V, and its row log-sum-exp.

Layout (B, H, S, D): q (B, Hq, Sq, D); k and v (B, Hkv, Skv, D); o (B, Hq, Sq, D) in the
input dtype; lse (B, Hq, Sq) in fp32, the natural-log logsumexp of each masked score row
(what a later backward needs). Grouped-query heads: Hq = G·Hkv and query head h reads kv
head h // G (Hkv = Hq is plain multi-head attention), as flash-attn and torch's SDPA do.

Causal convention, the mask aligned to the END of the keys (as flash-attn >= 2.1):
query i sees key j iff j <= i + (Skv - Sq). So when Sq = Skv it is the usual lower
triangle, and a decode step (Sq = 1) sees every key. Causal needs Sq <= Skv, otherwise the
first Sq - Skv queries would see no key at all (validate() refuses it).

Every backend and every test takes shapes, inputs, FLOPs, bytes, the float64 reference and
the tolerances from here. Both DSL kernels use FlashAttention-2's algorithm: tiles over
keys, online softmax, fp32 accumulators, causal tiles above the diagonal skipped.
"""
import math

import torch

from kernels import SMEM_LIMIT, dtypes

NAME = "attention"
SHAPE_KEYS = ("B", "Hq", "Hkv", "Sq", "Skv", "D", "causal")
FLAGS = ("causal",)
DTYPES = ("fp32", "fp16", "bf16")
INPUTS = ("q", "k", "v")
OUTPUTS = ("o", "lse")
# kernels/attention/baselines.py: SDPA pinned to one backend per row, flash-attn, math SDPA.
BASELINES = ("sdpa-flash", "sdpa-cudnn", "flash-attn", "torch")
HEAD_DIMS = (32, 64, 128)  # powers of two (tl.arange), and the configs below fit them

# The tile configs both DSLs choose from: the same list, so the same tuning budget.
# block_M query rows per program, block_N keys per step; threads = 32 * Triton's num_warps.
# 128-row tiles with 2 warpgroups (256 threads) are what Hopper's wgmma wants; the
# 64-row config serves short and decode-like query lengths.
TRACKS = ("matched",)  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_M=128, block_N=128, num_stages=2, threads=256),
        dict(block_M=128, block_N=64, num_stages=3, threads=256),
        dict(block_M=128, block_N=64, num_stages=2, threads=128),
        dict(block_M=64, block_N=64, num_stages=3, threads=128),
    ],
}


def smem_bytes(config, dtype, D=max(HEAD_DIMS)):
    """Shared memory of the Q tile plus num_stages K and V tiles, at the largest head dim;
    fp32 also stages P (block_M x block_N), see kernels/attention/tilelang_matched.py."""
    c = config
    tiles = (c["block_M"] + 2 * c["num_stages"] * c["block_N"]) * D
    if dtype == "fp32":
        tiles += c["block_M"] * c["block_N"]
    return tiles * dtypes.BYTES[dtype]


def configs_for(dtype, track):
    """The configs that fit on the GPU for this dtype (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype) <= SMEM_LIMIT]


def validate(shape):
    """Constraints beyond 'every size >= 1, causal 0 or 1': a one-line problem, or None."""
    if shape["Hq"] % shape["Hkv"]:
        return f"Hq={shape['Hq']} must be a multiple of Hkv={shape['Hkv']} (grouped-query heads)"
    if shape["D"] not in HEAD_DIMS:
        return f"head dim D={shape['D']} is not supported; the kernels take D in {', '.join(map(str, HEAD_DIMS))}"
    if shape["causal"] and shape["Sq"] > shape["Skv"]:
        return (f"causal=1 needs Sq <= Skv (Sq={shape['Sq']}, Skv={shape['Skv']}): the mask is aligned "
                "to the end of the keys, so the first Sq-Skv queries would see no key")
    return None


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
        scores.masked_fill_(~visible(Sq, Skv, causal, queries, q.device), float("-inf"))
        o[:, :, r] = torch.softmax(scores, dim=-1) @ v
        lse[:, :, r] = torch.logsumexp(scores, dim=-1)
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
# Sq != Skv both ways, GQA 2:1 and 4:1, decode (Sq = 1), every head dim.
CPU_SUITE = [
    dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=64, causal=0),
    dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=64, causal=1),
    dict(B=1, Hq=4, Hkv=2, Sq=100, Skv=257, D=64, causal=1),
    dict(B=2, Hq=4, Hkv=1, Sq=17, Skv=17, D=128, causal=1),
    dict(B=1, Hq=8, Hkv=2, Sq=1, Skv=200, D=128, causal=1),
    dict(B=1, Hq=2, Hkv=1, Sq=257, Skv=100, D=32, causal=0),
]
# FlashAttention's own benchmark grid: 16k tokens (B·S = 16384) and a model width of
# 2048 (Hq = 2048 / D), S from 512 to 16k, causal and not; then Llama-3-8B-like grouped
# heads (32 : 8, D = 128), then decode steps (Sq = 1) over a 1k..32k cache.
GPU_SUITE = [
    dict(B=16384 // S, Hq=2048 // D, Hkv=2048 // D, Sq=S, Skv=S, D=D, causal=c)
    for D in (64, 128) for c in (0, 1) for S in (512, 1024, 2048, 4096, 8192, 16384)
] + [
    dict(B=16384 // S, Hq=32, Hkv=8, Sq=S, Skv=S, D=128, causal=1) for S in (2048, 8192)
] + [
    dict(B=8, Hq=32, Hkv=8, Sq=1, Skv=S, D=128, causal=0) for S in (1024, 4096, 16384, 32768)
]
# `--suite gpu-full` (every op within ~10 minutes on one H100): bf16, D=128 at 1k/4k/16k,
# causal and not, one GQA prefill and two decode steps.
GPU_DTYPES = ("bf16",)
GPU_FULL_SUITE = [
    dict(B=16384 // S, Hq=16, Hkv=16, Sq=S, Skv=S, D=128, causal=c) for c in (0, 1) for S in (1024, 4096, 16384)
] + [dict(B=2, Hq=32, Hkv=8, Sq=8192, Skv=8192, D=128, causal=1)] + [
    dict(B=8, Hq=32, Hkv=8, Sq=1, Skv=S, D=128, causal=0) for S in (4096, 32768)
]
