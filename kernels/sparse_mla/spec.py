"""DeepSeek Sparse Attention's sparse MLA forward, described once (DeepSeek-V3.2-Exp).

MLA in its latent (absorbed) form: q (B, Sq, H, 576) bf16, 512 latent + 64 rotary dims; one
kv (B, Skv, 576) bf16 shared by every head, whose first 512 dims are also the values;
indices (B, Sq, topk) int32, the keys each query attends to (the indexer's top-k). For each
query i and head h, over the valid slots j (0 <= indices[b, i, j] < Skv; the inputs use
-1 for an unused slot):
    s_j = scale · q[b, i, h] · kv[b, idx_j],   o[b, i, h] = Σ_j softmax(s)_j · kv[b, idx_j, :512]
and lse[b, i, h] = log Σ_j exp(s_j) (natural log, fp32). o is bf16, (B, Sq, H, 512).
scale defaults to 1/sqrt(576) (the kernels and the reference take an override, sm_scale).
A query with no valid slot gets o = 0 and lse = -inf (bench/run/check.py compares equal
infinities as equal).

Duplicates: each row's valid indices must be distinct, as a top-k gives them. The reference
(dense scores plus an index mask, as DeepSeek's reference model computes sparse attention)
would count a repeated key once while a gathering kernel counts it twice, so the reference
refuses such rows (ValueError) rather than pass either reading silently.

Inputs: indices are the top-k of a seeded hash score per visible key (causal, end-aligned as
in kernels/attention: query i sees keys 0 .. i + Skv - Sq), through the indexer's own top-k
helper (kernels/dsa_index/spec.py): every visible key when at most topk are, -1 after them;
Sq > Skv gives queries with no key at all. The hash is integer arithmetic, so the indices
are the same on every device. Both DSL kernels: FlashAttention-style online softmax over
gathered key blocks, heads as the MMA's M dimension (see CONFIGS).
"""
import math

import torch

from kernels import SMEM_LIMIT, dtypes, grid_refusal
from kernels.dsa_index.spec import H100_SMS, topk_indices

NAME = "sparse_mla"
SHAPE_KEYS = ("B", "Sq", "Skv", "H", "topk")
DTYPES = ("bf16",)
GPU_DTYPES = ("bf16",)
INPUTS = ("q", "kv", "indices")
OUTPUTS = ("o", "lse")
# kernels/sparse_mla/baselines.py: gather + matmuls in eager torch; FlashMLA's sparse
# prefill kernel when importable.
BASELINES = ("torch", "flashmla")

D_V = 512  # latent dims: the values, and the first part of every key
D_ROPE = 64  # rotary dims, keys only
D_QK = D_V + D_ROPE
BLOCK_H = 64  # heads per program: one warpgroup's MMA M; fewer heads are padded with zeros

# The configs both DSLs choose from: block_N gathered keys per step through a num_stages-deep
# pipeline (num_stages key buffers), threads = the two consumer warpgroups (32 * Triton's
# num_warps). Each program holds BLOCK_H = 64 heads of one query: the 64 x block_N scores and
# the 64 x 512 fp32 output accumulator, which the two warpgroups split by columns (128 fp32
# registers a thread; one warpgroup alone would need 256, four leave 128 registers a thread
# for everything and spill more). The first config just fits Hopper's 227 KiB of shared
# memory (q, two 64-key stages, P); smaller key blocks take less room and fewer registers.
# matched: the same code path in both DSLs (cp.async gathers, no warp specialization).
# best: TileLang adds a producer warpgroup that gathers (FlashMLA's schedule, 384 threads);
# Triton cannot (see kernels/sparse_mla/triton_best.py). Both split decode over the top-k.
# The best list is the union of what each DSL's best kernels use (README: Fairness): our
# 32-key blocks in three and four stages, and FlashMLA's 64-key blocks in two stages, which
# TileLang's kernel takes (224 KiB) and Triton's cannot: it needs more than the 227 KiB an
# H100 block has (q, two key stages and P, plus its layout conversion of P and its softmax
# reductions across the two warpgroups), so on a GPU Triton's autotune records it `skipped`
# with its launch's reason (tests/test_inspect_dsa.py compiles it for sm_90a and checks).
TRACKS = ("matched", "best")  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_N=64, num_stages=2, threads=256),
        dict(block_N=32, num_stages=2, threads=256),
        dict(block_N=32, num_stages=3, threads=256),
        dict(block_N=16, num_stages=4, threads=256),
    ],
    "best": [
        dict(block_N=32, num_stages=3, threads=256),
        dict(block_N=32, num_stages=4, threads=256),
        dict(block_N=64, num_stages=2, threads=256),  # FlashMLA's sparse prefill tile
    ],
}


def smem_bytes(config, dtype):
    """The q tile, num_stages gathered key tiles (576 wide) and the P tile (64 x block_N)."""
    c = config
    return (BLOCK_H * D_QK + c["num_stages"] * c["block_N"] * D_QK + BLOCK_H * c["block_N"]) * dtypes.BYTES[dtype]


def configs_for(dtype, track):
    """The configs that fit on the GPU (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype) <= SMEM_LIMIT]


def shape_class(shape):
    """"decode" for a few new tokens (Sq <= 4: one step, or a few with multi-token
    prediction) over a cache, reported apart from prefill; None otherwise."""
    return "decode" if shape["Sq"] <= DECODE_SQ else None


DECODE_SQ = 4


def topk_split(shape, block_N):
    """(splits, chunk): how the best track cuts each query's top-k slots so that a small batch
    still fills the GPU: B * Sq * ceil(H / 64) programs are fewer than the H100's 132 SMs at
    decode, so each query's slots are cut into `splits` chunks of `chunk` slots (a multiple
    of block_N), one program each, whose partial outputs a combine step merges (at least one
    key block per program). Prefill has programs to spare: one split, no combine. Both DSLs
    use this one rule."""
    programs = shape["B"] * shape["Sq"] * math.ceil(shape["H"] / BLOCK_H)
    blocks = math.ceil(shape["topk"] / block_N)
    wanted = max(1, min(math.ceil(H100_SMS / programs), blocks))
    chunk = math.ceil(blocks / wanted) * block_N
    return math.ceil(shape["topk"] / chunk), chunk


def decode_workspace(shape, dtype, config, device):
    """The split partials both DSLs' best track writes at decode and its combine reads: each
    split's normalized output o_partial (B, Sq, splits, H, 512) and log-sum-exp lse_partial
    (B, Sq, splits, H), fp32; {} when a query is one split (topk_split)."""
    splits, _ = topk_split(shape, config["block_N"])
    if splits == 1:
        return {}
    B, Sq, H = shape["B"], shape["Sq"], shape["H"]
    return {"o_partial": torch.empty(B, Sq, splits, H, D_V, dtype=torch.float32, device=device),
            "lse_partial": torch.empty(B, Sq, splits, H, dtype=torch.float32, device=device)}


def validate(shape):
    """Constraints beyond 'every size >= 1': q, kv and the indices of fewer than 2^31 elements,
    which the TileLang kernels index in 32 bits (any heads, keys, topk; Sq > Skv gives queries without
    a key)."""
    B, Sq, Skv, H = shape["B"], shape["Sq"], shape["Skv"], shape["H"]
    if B * max(Sq * H, Skv) * D_QK >= 2 ** 31:
        return "q or kv reaches 2^31 elements; the TileLang kernels index them in 32 bits"
    if B * Sq * shape["topk"] >= 2 ** 31:
        return "the top-k indices reach 2^31 elements; the TileLang kernels index them in 32 bits"
    # grid z: the batch; grid y: head tiles times the decode splits (the most any config makes)
    splits = max(topk_split(shape, c["block_N"])[0] for track in TRACKS for c in CONFIGS[track])
    return grid_refusal(batch=B, head_tiles_times_splits=math.ceil(H / BLOCK_H) * splits)


def default_scale():
    return 1.0 / math.sqrt(D_QK)


def kernel_flags(shape):
    """Arguments other than tensors and tile sizes: none (sm_scale is an override)."""
    return {}


def hash32(x):
    """A 32-bit integer hash (two multiply-xorshift rounds), a bijection on [0, 2^32):
    no two keys of a row tie. int64 arithmetic stays below 2^59, exact on every device."""
    for _ in range(2):
        x = ((x >> 16) ^ x) * 0x45D9F3B & 0xFFFFFFFF
    return (x >> 16) ^ x


def make_indices(B, Sq, Skv, topk, seed, device):
    """(B, Sq, topk) int32: each query's top-k of a hash score over the keys it sees."""
    index = torch.empty(B, Sq, topk, dtype=torch.int32, device=device)
    keys = torch.arange(Skv, device=device)
    step = max(1, (1 << 24) // Skv)
    for b in range(B):
        for i0 in range(0, Sq, step):
            rows = torch.arange(i0, min(Sq, i0 + step), device=device)
            salt = (seed * 0x9E3779B1 + b * 0x85EBCA77) & 0xFFFFFFFF
            score = hash32(((rows[:, None] * Skv + keys) ^ salt) & 0xFFFFFFFF).double()
            score.masked_fill_(keys > rows[:, None] + (Skv - Sq), float("-inf"))
            index[b, i0:i0 + len(rows)] = topk_indices(score, topk)
    return index


def make_inputs(shape, dtype, seed, device="cpu"):
    """Seeded standard-normal q and kv in bf16 (scores ~ N(0, 1) under the default scale,
    never zeros) and the top-k indices of make_indices."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    B, Sq, Skv, H, topk = (shape[k] for k in SHAPE_KEYS)
    t = dtypes.TORCH[dtype]
    q = torch.randn(B, Sq, H, D_QK, generator=g, dtype=torch.float32).to(device=device, dtype=t)
    kv = torch.randn(B, Skv, D_QK, generator=g, dtype=torch.float32).to(device=device, dtype=t)
    return {"q": q, "kv": kv, "indices": make_indices(B, Sq, Skv, topk, seed, device)}


def make_outputs(shape, dtype, device="cpu"):
    """o and lse, poisoned with NaN so that an element the kernel never writes cannot pass."""
    B, Sq, H = shape["B"], shape["Sq"], shape["H"]
    nan = float("nan")
    return {"o": torch.full((B, Sq, H, D_V), nan, dtype=dtypes.TORCH[dtype], device=device),
            "lse": torch.full((B, Sq, H), nan, dtype=torch.float32, device=device)}


def valid_slots(indices, Skv):
    return (indices >= 0) & (indices < Skv)


def refuse_duplicates(indices, Skv):
    """Raise ValueError if a row selects one key twice (see the module docstring)."""
    topk = indices.shape[-1]
    spare = -1 - torch.arange(topk, device=indices.device, dtype=indices.dtype)  # distinct, invalid
    keys = torch.where(valid_slots(indices, Skv), indices, spare).sort(dim=-1).values
    repeated = keys[..., 1:] == keys[..., :-1]
    if repeated.any():
        b, i, _ = (int(x) for x in repeated.nonzero()[0])
        raise ValueError(f"sparse_mla: query {i} of batch {b} selects a key twice; indices must be distinct per row")


def index_mask(indices, hi):
    """(rows, hi) boolean: which of the keys 0..hi-1 each row selects (invalid slots none)."""
    mask = torch.zeros(indices.shape[0], hi + 1, dtype=torch.bool, device=indices.device)
    spill = torch.where(valid_slots(indices, hi), indices, hi).long()  # invalid -> column hi
    return mask.scatter_(1, spill, True)[:, :hi]


# float64 scores held at once by the reference: 2^26 of them = 512 MiB.
REFERENCE_CHUNK = 1 << 26


def reference(inputs, sm_scale=None):
    """The float64 truth, on the inputs' device, as DeepSeek's reference model computes sparse
    attention: dense scores q·kv of every key up to the highest one a slice of queries
    selects, -inf where the index mask leaves a key out, softmax, times the values."""
    q, kv, indices = inputs["q"], inputs["kv"], inputs["indices"]
    B, Sq, H, _ = q.shape
    Skv = kv.shape[1]
    refuse_duplicates(indices, Skv)
    scale = default_scale() if sm_scale is None else sm_scale
    o = torch.zeros(B, Sq, H, D_V, dtype=torch.float64, device=q.device)
    lse = torch.full((B, Sq, H), float("-inf"), dtype=torch.float64, device=q.device)
    step = max(1, REFERENCE_CHUNK // (H * Skv))
    for b in range(B):
        keys = kv[b].double()
        for i0 in range(0, Sq, step):
            rows = slice(i0, min(Sq, i0 + step))
            selected = torch.where(valid_slots(indices[b, rows], Skv), indices[b, rows], -1)
            hi = int(selected.max()) + 1  # keys past the highest selected one never count
            if hi == 0:
                continue  # no query of the slice selects a key: o = 0, lse = -inf
            scores = scale * torch.einsum("ihd,sd->ihs", q[b, rows].double(), keys[:hi])
            chosen = index_mask(indices[b, rows], hi)[:, None, :]
            scores.masked_fill_(~chosen, float("-inf"))
            lse[b, rows] = torch.logsumexp(scores, dim=-1)
            p = torch.exp(scores - lse[b, rows, :, None]).masked_fill_(~chosen, 0.0)  # empty rows: 0, not NaN
            o[b, rows] = p @ keys[:hi, :D_V]
    return {"o": o, "lse": lse}


def valid_counts(shape):
    """Valid slots per query, as make_indices fills them: every visible key, at most topk."""
    Sq, Skv, topk = shape["Sq"], shape["Skv"], shape["topk"]
    return [min(topk, Skv, max(0, i + Skv - Sq + 1)) for i in range(Sq)]


def flops(shape):
    """Per valid (query, index) pair and head: 2·576 for q·k and 2·512 for p·v. Unused slots
    and the padded heads of a 64-head tile are not counted."""
    return 2 * shape["B"] * shape["H"] * (D_QK + D_V) * sum(valid_counts(shape))


def bytes_moved(shape, dtype):
    """Compulsory traffic: q, the indices, o (dtype) and lse (fp32) once, and each selected
    kv row once per batch at best (a row several queries select is fetched once, from
    cache): at most Skv rows of 576."""
    B, Sq, Skv, H, topk = (shape[k] for k in SHAPE_KEYS)
    rows = min(Skv, sum(valid_counts(shape)))
    per_batch = (Sq * H * (D_QK + D_V) + rows * D_QK) * dtypes.BYTES[dtype] + Sq * topk * 4 + Sq * H * 4
    return B * per_batch


# Allowed error per output, as (normwise relative, max-abs relative to max|ref|).
# o: as kernels/attention's bf16 (the same rounding: P in bf16 before P·V, o rounded to
# bf16, u = 2^-8; a float64 model of it gives ~2.3e-3 normwise, 3.6e-3 of max|o|), 4-6x room.
# lse: fp32 sums of exact bf16 products over 576 dims, ~1e-6. Empty rows: lse -inf, o 0.
TOLERANCE = {"bf16": {"o": (1e-2, 2e-2), "lse": (1e-4, 4e-4)}}

# CPU: H = 16 (a tensor-parallel shard), topk 64, Skv <= 512. Every key selected (Skv <= topk:
# sparse = dense), ragged Sq < Skv with topk < visible keys, decode steps (Sq = 2; the best
# track cuts the top-k of the last one into splits and combines them), Sq > Skv (queries with
# no index, o = 0 and lse = -inf), topk not a multiple of any block_N, and H > 64 not a
# multiple of it (two head tiles, the second partial).
# `dslbench smoke`'s one shape (on the GPU and on the CPU paths): small, and every config's block_N (up to 64) fits in topk, so each
# kernel it compiles is the one a real shape gets.
SMOKE_SHAPE = dict(B=1, Sq=64, Skv=64, H=16, topk=64)

CPU_SUITE = [
    dict(B=1, Sq=64, Skv=64, H=16, topk=64),
    dict(B=1, Sq=100, Skv=300, H=16, topk=64),
    dict(B=2, Sq=2, Skv=500, H=16, topk=64),
    dict(B=1, Sq=2, Skv=300, H=16, topk=128),
    dict(B=1, Sq=40, Skv=24, H=16, topk=64),
    dict(B=1, Sq=33, Skv=200, H=16, topk=40),
    dict(B=1, Sq=5, Skv=100, H=72, topk=64),
]
# GPU: the model's topk = 2048 with its 128 heads and 64 (a tensor-parallel split of two): one
# sequence at prefill, 4k tokens with 128 heads and 16k with 64; decode, one step (Sq = 1) or
# a few with multi-token prediction (Sq = 2, 4), from one sequence over a 128k-token cache to
# 128 sequences over 16k.
GPU_SUITE = [
    dict(B=1, Sq=4096, Skv=4096, H=128, topk=2048),
    dict(B=1, Sq=16384, Skv=16384, H=64, topk=2048),
    dict(B=1, Sq=1, Skv=131072, H=128, topk=2048),
    dict(B=8, Sq=2, Skv=65536, H=64, topk=2048),
    dict(B=64, Sq=1, Skv=32768, H=128, topk=2048),
    dict(B=128, Sq=4, Skv=16384, H=64, topk=2048),
]
# `--suite gpu-full` (every op within ~10 minutes on one H100): the 4k prefill and two decode
# batches; the dense float64 reference of the 16k prefill and of the large decode batches
# (10^14 multiply-adds and more) takes minutes each.
GPU_FULL_SUITE = [s for s in GPU_SUITE if s["Sq"] <= 4096 and s["B"] <= 8]
# `dslbench inspect` compiles one shape: the 4k prefill with 128 heads
INSPECT_SHAPE = GPU_SUITE[0]
