"""One step of DeepSeek Sparse Attention, end to end, described once: the lightning indexer,
its top-k, and sparse MLA over the keys it chose, on the same inputs (DeepSeek-V3.2-Exp).

Inputs: the indexer's iq (B, Sq, 64, 128) e4m3, iw (B, Sq, 64) fp32, ik (B, Skv, 128) e4m3,
iks (B, Skv) fp32 (kernels/dsa_index: 64 index heads, the model's) and the attention's
q (B, Sq, H, 576), kv (B, Skv, 576) bf16 (kernels/sparse_mla). Three stages (STAGES), timed
each and together:
- index: score (B, Sq, Skv) fp32, the indexer's scores (-inf past each query's diagonal);
- topk:  indices (B, Sq, topk) int32 = dsa_index.spec.topk_indices(score): the topk best keys,
         best first, -1 in slots no visible key fills (torch.topk for every backend alike);
- mla:   o (B, Sq, H, 512) bf16 and lse (B, Sq, H) fp32, sparse MLA over those indices.
Every backend chains its own kernels of one track (kernels/dsa_step/<dsl>_<track>.py: the
indexer's and sparse MLA's kernels of that track; baselines.py: torch, and DeepGEMM's
indexer with FlashMLA's sparse kernel). The dtype axis names the attention's dtype (bf16);
the indexer is FP8 (e4m3) throughout.

The float64 reference chains the ops' references: dsa_index's scores, their top-k, and
sparse_mla's reference over those indices. Each stage's output is checked against its own
float64 reference (TOLERANCE): the scores as dsa_index's, o and lse as sparse_mla's, and the
indices exactly, except where scores tie: two keys whose float64 scores differ by less than
the band a correct indexer may err by (TIE_BAND: twice dsa_index's max-abs tolerance) may
trade places at the edge of the top-k. A backend whose indices differ from the reference's
only so is checked against the reference of its own indices (reference_for): its o and lse
against the float64 sparse MLA over the keys it chose. Any other difference fails.
"""
import torch

from kernels.dsa_index import spec as index
from kernels.sparse_mla import spec as mla

NAME = "dsa_step"
SHAPE_KEYS = ("B", "Sq", "Skv", "H", "topk")
DTYPES = ("bf16",)
# The dtypes its matrix instructions take (bench/core/mma.py): the indexer's FP8 dot (QGMMA on
# Hopper) and sparse MLA's bf16 dots (HGMMA); both are the native path of their stage.
MMA_DTYPES = ("e4m3", "bf16")
GPU_DTYPES = ("bf16",)
INPUTS = ("iq", "iw", "ik", "iks", "q", "kv")
OUTPUTS = ("score", "indices", "o", "lse")
STAGES = ("index", "topk", "mla")  # every backend's host function takes stage= (bench/run/backends.py)
# kernels/dsa_step/baselines.py: torch's indexer and sparse MLA; DeepGEMM's fp8_mqa_logits and
# FlashMLA's flash_mla_sparse_fwd when both are importable.
BASELINES = ("torch", "deepgemm-flashmla")

INDEX_HEADS = 64  # the model's index_n_heads
INDEX_DIM = index.HEAD_DIM  # 128

TRACKS = ("matched", "best")  # the kernel tracks this op has (README: two tracks)


def step_config(index_config, mla_config):
    """One config of the step: each op's, its keys prefixed (index_block_N, mla_block_N, ...)."""
    return {**{f"index_{k}": v for k, v in index_config.items()}, **{f"mla_{k}": v for k, v in mla_config.items()}}


def split_config(config):
    """(the indexer's config, sparse MLA's config) of a step config."""
    return ({k.removeprefix("index_"): v for k, v in config.items() if k.startswith("index_")},
            {k.removeprefix("mla_"): v for k, v in config.items() if k.startswith("mla_")})


# Each track's first config of both ops: the step is timed as its ops' defaults chain (the
# ops themselves are tuned in their own groups); one config keeps the CPU checks short.
CONFIGS = {track: [step_config(index.CONFIGS[track][0], mla.CONFIGS[track][0])] for track in TRACKS}


def configs_for(dtype, track):
    """The configs whose two halves fit on the GPU, by each op's own filter."""
    fits = lambda c: (index.configs_for("e4m3", track).count(split_config(c)[0])  # noqa: E731
                      and mla.configs_for(dtype, track).count(split_config(c)[1]))
    return [c for c in CONFIGS[track] if fits(c)]


def index_shape(shape):
    return dict(B=shape["B"], Sq=shape["Sq"], Skv=shape["Skv"], H=INDEX_HEADS, D=INDEX_DIM)


def mla_shape(shape):
    return {k: shape[k] for k in mla.SHAPE_KEYS}


def validate(shape):
    """Constraints beyond 'every size >= 1': the indexer's and sparse MLA's."""
    return index.validate(index_shape(shape)) or mla.validate(mla_shape(shape))


def shape_class(shape):
    """"decode" for Sq <= 4 (sparse MLA's classes), None otherwise."""
    return mla.shape_class(mla_shape(shape))


def kernel_flags(shape):
    """The number of keys each query keeps: the reference's top-k and every backend's."""
    return {"topk": shape["topk"]}


def make_inputs(shape, dtype, seed, device="cpu"):
    """The indexer's inputs (dsa_index.make_inputs, 64 heads) and sparse MLA's q and kv
    (sparse_mla.make_inputs, whose own indices are not used), from one seed."""
    idx = index.make_inputs(index_shape(shape), "e4m3", seed, device)
    att = mla.make_inputs(dict(mla_shape(shape), topk=1), dtype, seed + 1, device)
    return {"iq": idx["q"], "iw": idx["w"], "ik": idx["k"], "iks": idx["ks"], "q": att["q"], "kv": att["kv"]}


def make_outputs(shape, dtype, device="cpu"):
    """score, o, lse poisoned with NaN, and indices with a value no slot can hold (-2^31), so
    that an element a backend never writes cannot pass."""
    outputs = {"score": index.make_outputs(index_shape(shape), "e4m3", device)["score"],
               "indices": torch.full((shape["B"], shape["Sq"], shape["topk"]), -2 ** 31, dtype=torch.int32,
                                     device=device)}
    return {**outputs, **mla.make_outputs(mla_shape(shape), dtype, device)}


def reference(inputs, topk):
    """The float64 step: dsa_index's reference scores, their top-k (the shared topk_indices),
    sparse_mla's reference over those indices."""
    score = index.reference(index_inputs(inputs))["score"]
    indices = index.topk_indices(score, topk)
    return {"score": score, "indices": indices, **mla.reference(mla_inputs(inputs, indices))}


def index_inputs(inputs):
    return {"q": inputs["iq"], "w": inputs["iw"], "k": inputs["ik"], "ks": inputs["iks"]}


def mla_inputs(inputs, indices):
    return {"q": inputs["q"], "kv": inputs["kv"], "indices": indices}


def tie_band(score):
    """How far apart two keys' float64 scores may be and still count as tied: twice the error
    dsa_index's tolerance allows a correct indexer on each (its max-abs bound, relative to the
    largest finite score)."""
    finite = score[torch.isfinite(score)]
    return 2 * index.TOLERANCE["e4m3"][1] * (finite.abs().max().item() if finite.numel() else 0.0)


def tied_topk(got, want, score):
    """Whether every row of `got` selects the keys `want` selects, but for keys tied (within
    tie_band) with the row's k-th best: a key `got` has instead must score no lower than the
    k-th best minus the band, a key it lacks no higher than the k-th best plus the band, and
    both select as many keys."""
    got, want, score = (t.to(score.device) for t in (got, want, score))
    band, Skv = tie_band(score), score.shape[-1]
    chosen_got, chosen_want = (mask_of(t, Skv) for t in (got, want))
    if not torch.equal(chosen_got.sum(-1), chosen_want.sum(-1)):
        return False
    kth = torch.where(chosen_want, score, float("inf")).amin(-1, keepdim=True)  # the k-th best score
    extra = chosen_got & ~chosen_want
    missing = chosen_want & ~chosen_got
    return bool((score[extra] >= (kth - band).expand_as(score)[extra]).all()
                and (score[missing] <= (kth + band).expand_as(score)[missing]).all())


def mask_of(indices, Skv):
    """(..., Skv) boolean: the keys each row of indices selects (-1 selects none)."""
    mask = torch.zeros(*indices.shape[:-1], Skv + 1, dtype=torch.bool, device=indices.device)
    return mask.scatter_(-1, torch.where(indices >= 0, indices, Skv).long(), True)[..., :Skv]


def reference_for(inputs, outputs, reference):
    """The reference a backend's outputs are checked against (bench/run/runner.py): the
    group's, or, when its indices differ from the reference's only among tied keys
    (tied_topk), the same with its own indices and the float64 sparse MLA over them."""
    got = outputs.get("indices")
    if got is None or torch.equal(got.to(reference["indices"].device), reference["indices"]):
        return reference
    if not tied_topk(got, reference["indices"], reference["score"]):
        return reference  # compared exactly: fails
    device = reference["indices"].device
    own = mla.reference(mla_inputs({k: v.to(device) for k, v in inputs.items()}, got.to(device)))
    return dict(reference, indices=got.to(device), **own)


def flops(shape):
    """The indexer's and sparse MLA's (each op's count; the top-k's comparisons not counted)."""
    return index.flops(index_shape(shape)) + mla.flops(mla_shape(shape))


def bytes_moved(shape, dtype):
    """Each op's compulsory traffic, plus the top-k's: the scores read once, the indices
    written once (sparse MLA's count reads them)."""
    B, Sq, Skv, topk = shape["B"], shape["Sq"], shape["Skv"], shape["topk"]
    return (index.bytes_moved(index_shape(shape), "e4m3") + mla.bytes_moved(mla_shape(shape), dtype)
            + B * Sq * (Skv + topk) * 4)


# Allowed error per output: the ops' own (see kernels/dsa_index/spec.py and
# kernels/sparse_mla/spec.py); the indices exactly (ties: see the module docstring).
TOLERANCE = {"bf16": {"score": index.TOLERANCE["e4m3"], "indices": (0.0, 0.0), **mla.TOLERANCE["bf16"]}}

# CPU: the model's 64 index heads, 16 attention heads; a ragged prefill (Sq < Skv, more
# visible keys than topk for most queries) and a decode batch whose top-k the best track's
# sparse MLA splits (and whose keys its indexer cuts into chunks).
# `dslbench smoke`'s one shape (on the GPU and on the CPU paths): small, and every config's index block (256 keys) and MLA block_N fit, so each
# kernel it compiles is the one a real shape gets.
SMOKE_SHAPE = dict(B=1, Sq=16, Skv=256, H=16, topk=64)

CPU_SUITE = [
    dict(B=1, Sq=20, Skv=70, H=16, topk=32),
    dict(B=1, Sq=2, Skv=300, H=16, topk=128),
]
# GPU: the model's step, topk = 2048: a 4k-token prefill with 128 heads, and decode (one
# sequence over a 128k-token cache with 128 heads; 8 sequences, two tokens each with
# multi-token prediction, over 64k with 64 heads).
GPU_SUITE = [
    dict(B=1, Sq=4096, Skv=4096, H=128, topk=2048),
    dict(B=1, Sq=1, Skv=131072, H=128, topk=2048),
    dict(B=8, Sq=2, Skv=65536, H=64, topk=2048),
]
GPU_FULL_SUITE = GPU_SUITE
# `dslbench inspect` compiles one shape: a decode batch (each track's indexer, sparse MLA and,
# in the best track, its combine)
INSPECT_SHAPE = GPU_SUITE[2]
