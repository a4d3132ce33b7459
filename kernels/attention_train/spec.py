"""One training step of attention, end to end, described once: the FlashAttention forward
(kernels/attention) and its backward (kernels/attention_bwd) on the same inputs, timed as a
whole beside each half, so a report shows where a step's time goes.

Inputs: q (B, Hq, Sq, D), k, v (B, Hkv, Skv, D) as the forward's and the upstream gradient do
(B, Hq, Sq, D), as the backward's, all in the input dtype. Two stages (STAGES), timed each and
together:
- forward:  o (B, Hq, Sq, D) and lse (B, Hq, Sq) fp32, the forward's outputs;
- backward: dq, dk, dv from q, k, v, do and the o and lse the forward just wrote.
Every backend chains its own kernels of one track (kernels/attention_train/<dsl>_<track>.py:
the forward's and the backward's kernels of that track; baselines.py: the vendors' forward and
backward). Each output is checked against its float64 reference with its op's tolerance: o and
lse as the forward's, dq, dk and dv as the backward's (whose rounding model takes o rounded to
the input dtype, as the forward writes it).

A training step has no decode: Sq must exceed the forward's decode size (its decode steps run
another kernel, split-KV, that no backward follows).
"""
from kernels.attention import spec as forward
from kernels.attention_bwd import spec as backward

NAME = "attention_train"
SHAPE_KEYS = forward.SHAPE_KEYS
FLAGS = forward.FLAGS
DTYPES = backward.DTYPES
GPU_DTYPES = ("bf16",)
INPUTS = ("q", "k", "v", "do")
OUTPUTS = ("o", "lse", "dq", "dk", "dv")
STAGES = ("forward", "backward")  # every backend's host function takes stage= (bench/run/backends.py)
# kernels/attention_train/baselines.py: each vendor's forward, then its backward.
BASELINES = ("sdpa-flash", "sdpa-cudnn", "flash-attn", "torch")
TRACKS = tuple(t for t in forward.TRACKS if t in backward.TRACKS)
CHAINS = ("attention", "attention_bwd")  # the ops whose kernels a step runs (compiled in their own right)


def step_config(forward_config, backward_config):
    """One config of the step: each op's, its keys prefixed (fwd_block_M, bwd_block_M, ...)."""
    return {**{f"fwd_{k}": v for k, v in forward_config.items()}, **{f"bwd_{k}": v for k, v in backward_config.items()}}


def split_config(config):
    """(the forward's config, the backward's config) of a step config."""
    return ({k.removeprefix("fwd_"): v for k, v in config.items() if k.startswith("fwd_")},
            {k.removeprefix("bwd_"): v for k, v in config.items() if k.startswith("bwd_")})


# Each track's first config of both ops, and (where that one does not fit fp32) the first of
# each that fits every dtype: the step is timed as its ops' defaults chain (each op is tuned
# over its own list in its own groups); one or two configs keep the CPU checks short.
def first_fitting(op, track, dtypes):
    return next(c for c in op.CONFIGS[track] if all(c in op.configs_for(d, track) for d in dtypes))


CONFIGS = {track: list({str(c): c for c in (
    step_config(forward.CONFIGS[track][0], backward.CONFIGS[track][0]),
    step_config(first_fitting(forward, track, DTYPES), first_fitting(backward, track, DTYPES)))}.values())
    for track in TRACKS}


def configs_for(dtype, track):
    """The configs whose two halves fit on the GPU, by each op's own filter."""
    def fits(config):
        fwd, bwd = split_config(config)
        return fwd in forward.configs_for(dtype, track) and bwd in backward.configs_for(dtype, track)
    return [c for c in CONFIGS[track] if fits(c)]


def validate(shape):
    """The forward's constraints, and no decode step (see the module docstring)."""
    if shape["Sq"] <= forward.DECODE_MAX_SQ:
        return (f"Sq={shape['Sq']}: a training step needs Sq > {forward.DECODE_MAX_SQ} "
                "(shorter queries are the forward's decode steps, which no backward follows)")
    return forward.validate(shape)


kernel_flags = forward.kernel_flags
padded_head_dim = forward.padded_head_dim


def make_inputs(shape, dtype, seed, device="cpu"):
    """q, k, v and do exactly as the backward's (kernels/attention_bwd/spec.py make_inputs), without its o and lse."""
    qkv = forward.make_inputs(shape, dtype, seed, device)
    return {**qkv, "do": backward.upstream_gradient(qkv["q"], dtype, seed)}


def make_outputs(shape, dtype, device="cpu"):
    """o, lse, dq, dk, dv, poisoned with NaN (each op's make_outputs)."""
    return {**forward.make_outputs(shape, dtype, device), **backward.make_outputs(shape, dtype, device)}


def reference(inputs, causal=False, sm_scale=None):
    """The float64 step: the forward's reference o and lse, the backward's reference gradients."""
    return {**forward.reference(inputs, causal=causal, sm_scale=sm_scale),
            **backward.reference(inputs, causal=causal, sm_scale=sm_scale)}


def flops(shape):
    """The forward's and the backward's (3.5 times the forward's, as flash-attention counts a step)."""
    return forward.flops(shape) + backward.flops(shape)


def bytes_moved(shape, dtype):
    """Each half's compulsory traffic (the backward reads back the o and lse the forward wrote)."""
    return forward.bytes_moved(shape, dtype) + backward.bytes_moved(shape, dtype)


TOLERANCE = {dtype: {**forward.TOLERANCE[dtype], **backward.TOLERANCE[dtype]} for dtype in DTYPES}

# CPU: GQA 4:1 ragged causal with Sq < Skv, and MHA non-causal at head dim 64 with Sq > Skv.
CPU_SUITE = [
    dict(B=1, Hq=4, Hkv=1, Sq=37, Skv=70, D=40, causal=1),
    dict(B=1, Hq=2, Hkv=2, Sq=50, Skv=33, D=64, causal=0),
]
# GPU: Llama-3 8B's heads at 4k and 16k tokens a batch, causal; D=64 MHA at 8k.
GPU_SUITE = [
    dict(B=4, Hq=32, Hkv=8, Sq=4096, Skv=4096, D=128, causal=1),
    dict(B=1, Hq=32, Hkv=8, Sq=16384, Skv=16384, D=128, causal=1),
    dict(B=2, Hq=16, Hkv=16, Sq=8192, Skv=8192, D=64, causal=1),
]
GPU_FULL_SUITE = GPU_SUITE[:1]
INSPECT_SHAPE = GPU_SUITE[0]
SMOKE_SHAPE = backward.SMOKE_SHAPE
