"""DeepSeek Sparse Attention's lightning indexer, described once (DeepSeek-V3.2-Exp's `fp8_index`).

q (B, Sq, H, D) e4m3 with per-(token, head) weights w (B, Sq, H) fp32 (the indexer's head
weight and q's quantization scale folded together, as the model does); k (B, Skv, D) e4m3
with a per-token scale ks (B, Skv) fp32. The output score (B, Sq, Skv) fp32 is
    score[b, i, s] = ks[b, s] * sum_h w[b, i, h] * ReLU(q[b, i, h] · k[b, s])
for every key s that query i sees, and -inf for the others. The mask is causal and aligned
to the END of the keys, as in kernels/attention: query i sees key s iff s <= i + (Skv - Sq).
Sq > Skv is allowed: its first Sq - Skv queries see no key (a row of -inf), which is how
the rows without any index reach kernels/sparse_mla.

Design: the op's kernel is the score computation only. The top-k step that follows it in
the model (keep the 2048 best keys per query) is `topk_indices` below, torch.topk for both
DSLs alike (a DSL top-k kernel would be a separate op); kernels/sparse_mla's input generator
uses the same helper, so the indices it attends over have the indexer's format.

The dtype axis names the FP8 format, "e4m3"; the scores and scales are fp32 with it.
"""
import math

import torch

from kernels import SMEM_LIMIT, dtypes, grid_refusal
from kernels.act_quant.spec import GROUP, quantize
from kernels.attention.spec import visible, visible_pairs

NAME = "dsa_index"
SHAPE_KEYS = ("B", "Sq", "Skv", "H", "D")
DTYPES = ("e4m3",)
GPU_DTYPES = ("e4m3",)
INPUTS = ("q", "w", "k", "ks")
OUTPUTS = ("score",)
# kernels/dsa_index/baselines.py: the same formula in eager torch (fp32 matmuls on the exact
# e4m3 values); DeepGEMM's fp8_mqa_logits (DeepSeek's own indexer kernel) when importable.
BASELINES = ("torch", "deepgemm")

H100_SMS = 132  # streaming multiprocessors of an H100 SXM: what the decode splits aim to fill
TOPK = 2048  # the model's index_topk: keys kept per query
HEAD_DIM = GROUP  # the model's index_head_dim, 128: q and k rows are one act_quant group each
HEAD_COUNTS = (16, 32, 64, 128)  # powers of two (a tile dimension); the model has 64

# The configs both DSLs choose from. threads = 32 * Triton's num_warps.
# matched: a program scores one query against chunk_N keys, block_N keys per step through a
# num_stages-deep pipeline. Keys are the MMA's M dimension (64 rows per warpgroup of 128
# threads), heads its N, D its K: the per-key sum over heads is then a reduction along each
# accumulator row, inside a thread and its quad.
# best: as DeepSeek's indexer kernels (TileLang's examples/deepseek_v32 fp8_lighting_indexer,
# DeepGEMM's fp8_mqa_logits): a program scores block_Q = 128 / H queries at once (the MMA's N
# is 128 wide: queries x heads), so each key block is read once per query block; block_N =
# 256 keys on four warpgroups; TMA loads (TileLang: its producer warpgroup on top of threads);
# the keys a program scores are cut by key_split so that decode fills the GPU.
TRACKS = ("matched", "best")  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_N=128, chunk_N=512, num_stages=2, threads=256),
        dict(block_N=128, chunk_N=1024, num_stages=3, threads=256),
        dict(block_N=128, chunk_N=256, num_stages=2, threads=128),
        dict(block_N=64, chunk_N=256, num_stages=3, threads=128),
    ],
    "best": [
        dict(block_N=256, num_stages=3, threads=512),
        dict(block_N=128, num_stages=4, threads=256),
    ],
}
MMA_N = 128  # the best track's MMA width: queries x heads per program


def queries_per_block(H):
    """block_Q of the best track: as many queries as make the MMA 128 wide (2 at H = 64)."""
    return max(1, MMA_N // H)


def key_split(shape, block_N):
    """(chunks, chunk_N): the best track cuts each query block's keys into `chunks` programs of
    chunk_N keys (a multiple of block_N) when B * ceil(Sq / block_Q) programs are too few
    for the H100 (decode: 1-4 queries over a long cache), two programs per SM (each holds
    about 100 KiB of shared memory); prefill keeps one chunk of every key. Both DSLs use this
    one rule. The scores of different keys are independent: no combine step."""
    programs = shape["B"] * math.ceil(shape["Sq"] / queries_per_block(shape["H"]))
    blocks = math.ceil(shape["Skv"] / block_N)
    wanted = max(1, min(math.ceil(2 * H100_SMS / programs), blocks))
    chunk = math.ceil(blocks / wanted) * block_N
    return math.ceil(shape["Skv"] / chunk), chunk


def shape_class(shape):
    """"decode" for a few new tokens (Sq <= 4: one step, or a few with multi-token
    prediction) over a cache, reported apart from prefill; None otherwise."""
    return "decode" if shape["Sq"] <= DECODE_SQ else None


DECODE_SQ = 4


def smem_bytes(config, dtype, H=max(HEAD_COUNTS), D=HEAD_DIM):
    """The queries' tile (H x D, or 128 x D for the best track's query block) and num_stages
    key tiles, one byte an element."""
    rows = max(H, MMA_N) if "chunk_N" not in config else H
    return (rows + config["num_stages"] * config["block_N"]) * D * dtypes.BYTES[dtype]


def configs_for(dtype, track):
    """The configs that fit on the GPU (the same filter for both DSLs): all of them."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype) <= SMEM_LIMIT]


def validate(shape):
    """Constraints beyond 'every size >= 1': a one-line problem, or None."""
    if shape["D"] != HEAD_DIM:
        return f"D={shape['D']} is not supported; the indexer's head dim is {HEAD_DIM} (one FP8 scale group per row)"
    if shape["H"] not in HEAD_COUNTS:
        return f"H={shape['H']} is not supported; the kernels take H in {', '.join(map(str, HEAD_COUNTS))}"
    if shape["B"] * shape["Sq"] * shape["Skv"] >= 2 ** 31:
        return "B*Sq*Skv scores reach 2^31; the TileLang kernels index them in 32 bits"
    # grid z: the batch (both tracks); grid y: the matched track's key chunks (its smallest chunk)
    smallest = min(c["chunk_N"] for c in CONFIGS["matched"])
    return grid_refusal(batch=shape["B"], key_chunks=-(-shape["Skv"] // smallest))


def kernel_flags(shape):
    """Arguments other than tensors and tile sizes: none (the mask is always causal)."""
    return {}


def make_inputs(shape, dtype, seed, device="cpu"):
    """What the model feeds the indexer: seeded standard-normal bf16 q and k, quantized per
    row by the reference act_quant (UE8M0 scales, the model's scale_fmt); w = a random head
    weight * H^-0.5 * q's scale * D^-0.5, as DeepSeek-V3.2 folds them. Never zeros."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    B, Sq, Skv, H, D = (shape[k] for k in SHAPE_KEYS)
    # drawn on the CPU (the same numbers everywhere), quantized where they will be used
    q, q_scale = quantize(torch.randn(B * Sq * H, D, generator=g).bfloat16().to(device), ue8m0=True)
    k, k_scale = quantize(torch.randn(B * Skv, D, generator=g).bfloat16().to(device), ue8m0=True)
    head_weight = torch.randn(B, Sq, H, generator=g).to(device)
    w = head_weight * q_scale.view(B, Sq, H) * (H ** -0.5) * (D ** -0.5)
    fp8 = dtypes.TORCH[dtype]
    return {"q": q.view(B, Sq, H, D).to(fp8), "w": w.float(),
            "k": k.view(B, Skv, D).to(fp8), "ks": k_scale.view(B, Skv).float()}


def make_outputs(shape, dtype, device="cpu"):
    """score, poisoned with NaN so that an element the kernel never writes cannot pass."""
    return {"score": torch.full((shape["B"], shape["Sq"], shape["Skv"]), float("nan"), device=device)}


# float64 head logits held at once by the reference: 2^26 of them = 512 MiB.
REFERENCE_CHUNK = 1 << 26


def reference(inputs):
    """The float64 truth, on the inputs' device: every head's logits q·k exactly (e4m3
    products are exact in float64), ReLU, the weighted sum over heads, times ks; -inf where
    the mask hides the key. A slice of query rows at a time, each only against the keys
    its last row sees."""
    q, w, k, ks = (inputs[n].double() for n in INPUTS)
    B, Sq, H, _ = q.shape
    Skv = k.shape[1]
    score = torch.full((B, Sq, Skv), float("-inf"), dtype=torch.float64, device=q.device)
    step = max(1, REFERENCE_CHUNK // (H * Skv))
    for b in range(B):
        for i0 in range(0, Sq, step):
            i1 = min(Sq, i0 + step)
            hi = min(Skv, i1 + Skv - Sq)  # keys 0..hi-1: what the last row of the slice sees
            if hi <= 0:
                continue
            logits = torch.einsum("ihd,sd->ihs", q[b, i0:i1], k[b, :hi]).relu_()
            rows = torch.bmm(w[b, i0:i1, None, :], logits)[:, 0] * ks[b, :hi]
            seen = visible(Sq, Skv, True, torch.arange(i0, i1, device=q.device), q.device)[:, :hi]
            score[b, i0:i1, :hi] = rows.masked_fill_(~seen, float("-inf"))
    return {"score": score}


def topk_indices(score, topk=TOPK):
    """The indexer's top-k step, shared by both DSLs and kernels/sparse_mla's inputs:
    score (..., Skv), masked keys -inf -> (..., topk) int32 key indices, best first; a slot
    whose key is masked, or beyond the Skv keys there are, holds -1."""
    kept = min(topk, score.shape[-1])
    values, index = torch.topk(score, kept, dim=-1)
    index = index.to(torch.int32).masked_fill_(values == float("-inf"), -1)
    if kept < topk:
        index = torch.nn.functional.pad(index, (0, topk - kept), value=-1)
    return index


def flops(shape):
    """2·H·D per visible (query, key) pair: the logits' multiply-adds; the ReLU, weights and
    scale (O(H) per pair) are not counted, nor masked pairs."""
    pairs = visible_pairs(dict(Sq=shape["Sq"], Skv=shape["Skv"], causal=1))
    return 2 * shape["B"] * shape["H"] * shape["D"] * pairs


def bytes_moved(shape, dtype):
    """Compulsory traffic: q, k (one byte each), w, ks once; the fp32 scores written once."""
    B, Sq, Skv, H, D = (shape[k] for k in SHAPE_KEYS)
    return B * ((Sq * H + Skv) * D * dtypes.BYTES[dtype] + (Sq * H + Skv) * 4 + Sq * Skv * 4)


# Allowed error, as (normwise relative, max-abs relative to max|score|), over the visible
# scores; a masked score must be exactly -inf (bench/run/check.py: equal infinities match, any
# other non-finite value fails). The e4m3 products are exact and both DSLs accumulate them
# in fp32; what is left is the order of the sums (~1e-7 here) and, on Hopper, the FP8 tensor
# cores' accumulation, which keeps ~14 bits over the D = 128 terms of one logit: ~1e-4 of a
# logit's magnitude, less after the sum over heads. The bounds are ~10x that; a 1% error in a
# scale, a missing ReLU or a wrong head weight is far outside, a mask off by one key is an
# infinity where a number belongs.
TOLERANCE = {"e4m3": (1e-3, 2e-3)}

# CPU: H = 16 (the model's 64 once), D = 128, Skv <= 512. Square causal, ragged Sq < Skv,
# decode steps (Sq = 2, the model's MTP; the best track cuts its 500 keys into two chunks),
# Sq > Skv (rows that see no key), a batch of 2, and the model's 64 heads (two queries a
# program in the best track, one of them past Sq).
# `dslbench smoke`'s one shape (on the GPU and on the CPU paths): small, and every config's block_N (up to 256 keys) fits, so each
# kernel it compiles is the one a real shape gets.
SMOKE_SHAPE = dict(B=1, Sq=128, Skv=256, H=16, D=128)

CPU_SUITE = [
    dict(B=1, Sq=128, Skv=128, H=16, D=128),
    dict(B=1, Sq=100, Skv=300, H=16, D=128),
    dict(B=2, Sq=2, Skv=500, H=16, D=128),
    dict(B=1, Sq=40, Skv=24, H=16, D=128),
    dict(B=1, Sq=17, Skv=257, H=64, D=128),
]
# GPU: the model's indexer (H = 64, D = 128) at prefill (one 4k/16k/32k-token sequence: the
# scores alone are Sq*Skv*4 bytes, 4 GiB at 32k) and at decode: one step (Sq = 1) or a few
# with multi-token prediction (Sq = 2, 4), from one sequence over a 128k-token cache to 128
# sequences over 16k.
GPU_SUITE = [dict(B=1, Sq=S, Skv=S, H=64, D=128) for S in (4096, 16384, 32768)] + [
    dict(B=1, Sq=1, Skv=131072, H=64, D=128),
    dict(B=8, Sq=2, Skv=65536, H=64, D=128),
    dict(B=64, Sq=1, Skv=32768, H=64, D=128),
    dict(B=128, Sq=4, Skv=16384, H=64, D=128),
]
# `--suite gpu-full` (every op within ~10 minutes on one H100): the 4k and 16k prefills and two
# decode batches; without the 32k prefill, whose 4 GiB of scores make the float64 check the
# heaviest step of the sweep, and the large decode batches (their float64 reference alone is
# 10^14 multiply-adds).
GPU_FULL_SUITE = [s for s in GPU_SUITE if s["Skv"] != 32768 and s["B"] <= 8]
# `dslbench inspect` compiles one shape: the 4k prefill
INSPECT_SHAPE = GPU_SUITE[0]
