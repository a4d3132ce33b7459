"""Attention backward, described once: dq, dk, dv of O = softmax(scale · Q Kᵀ + mask) V for an
upstream gradient dO, given the forward's o and lse (so every backend starts from the same tensors).

Layout and flags as the forward (kernels/attention/spec.py, whose shapes, mask and conventions
this op takes): q, dq (B, Hq, Sq, D); k, v, dk, dv (B, Hkv, Skv, D); o, do (B, Hq, Sq, D), all in
the input dtype; lse (B, Hq, Sq) fp32, natural log, +inf for a query that sees no key (causal,
Sq > Skv: its row of P is all zeros, so it contributes nothing and its dq is 0). Grouped-query
heads: dk and dv of kv head h sum over its G query heads G·h .. G·h + G - 1.

The gradient, with p_ij = exp(scale · q_i·k_j - lse_i) (0 where j is masked):
    dv_j = Σ_i p_ij do_i
    dp_ij = do_i · v_j,  delta_i = Σ_j p_ij dp_ij = do_i · o_i
    ds_ij = p_ij (dp_ij - delta_i)
    dq_i = scale · Σ_j ds_ij k_j,  dk_j = scale · Σ_i ds_ij q_i
Every DSL kernel computes delta from the given o (FlashAttention-2's preprocess), p from the
given lse, accumulates in fp32 and writes dq, dk, dv in the input dtype.

FLOPs are counted as flash-attention counts them: the backward is 2.5 times the forward
(five matrix products a tile to the forward's two), masked pairs excluded.
"""
import torch

from kernels import SMEM_LIMIT, dtypes
from kernels.attention import spec as forward

NAME = "attention_bwd"
SHAPE_KEYS = forward.SHAPE_KEYS
FLAGS = forward.FLAGS
DTYPES = ("fp32", "fp16", "bf16")
GPU_DTYPES = ("bf16",)  # training runs bf16: the GPU suites', smoke's and inspect's dtype, as the forward's
INPUTS = ("q", "k", "v", "o", "lse", "do")
OUTPUTS = ("dq", "dk", "dv")
# kernels/attention_bwd/baselines.py: SDPA's backward pinned to one backend per row, flash-attn's, math SDPA's.
BASELINES = ("sdpa-flash", "sdpa-cudnn", "flash-attn", "torch")
HEAD_DIM_MAX = forward.HEAD_DIM_MAX
BACKWARD_FLOPS = 2.5  # flash-attention's count: backward FLOPs = 2.5 x forward FLOPs

# The tile configs both DSLs choose from (the same list per track for both). block_M query rows
# a step and block_N keys a program, in the dK/dV pass (which holds its block_N keys and walks
# the query tiles); threads = 32 * Triton's num_warps.
# matched: FlashAttention-2's two passes at the same tiles; the dQ pass holds block_M queries and
# walks block_N-key tiles.
# best: the union of the tiles the upstream backward kernels use on Hopper at head dim 128:
# Triton's tutorial 06-fused-attention (dK/dV 32 queries x 128 keys, 4 warps, 5 stages; its dQ
# pass swaps them: 128 queries x 32 keys), TileLang's examples/flash_attention/example_gqa_bwd*
# (128 keys x 32 queries, 256 threads, 2 stages; dQ by atomics into fp32), and FlashAttention-3's
# hd128 backward (64 queries x 128 keys, two MMA warpgroups). A pass that owns queries (dQ)
# takes the same config with the roles swapped: block_N queries, block_M keys a step.
# The tutorial's 128 keys at 4 warps are sized for its head dim 64: at 128 the fp32 dK and dV
# of 128 keys would take 256 registers a thread, so fit (best track) halves block_N to 64 there.
TRACKS = ("matched", "best")
CONFIGS = {
    "matched": [
        dict(block_M=64, block_N=64, num_stages=2, threads=128),
        dict(block_M=32, block_N=64, num_stages=2, threads=128),
        dict(block_M=64, block_N=128, num_stages=2, threads=256),
    ],
    "best": [
        dict(block_M=32, block_N=128, num_stages=5, threads=128),
        dict(block_M=32, block_N=128, num_stages=2, threads=256),
        dict(block_M=64, block_N=128, num_stages=2, threads=256),
    ],
}
CONFIG_HEAD_DIM = 128
padded_head_dim = forward.padded_head_dim
default_scale = forward.default_scale
validate = forward.validate
kernel_flags = forward.kernel_flags
shape_class = forward.shape_class
visible = forward.visible
visible_pairs = forward.visible_pairs


def smem_bytes(config, dtype, D=CONFIG_HEAD_DIM, track="matched"):
    """Shared memory of the larger pass at head dim D (padded).
    matched: the dK/dV pass holds its K and V tiles (block_N) and streams num_stages Q and dO
    tiles (block_M); the dQ pass holds Q and dO (block_M) and streams num_stages K and V tiles
    (block_N).
    best: a pass holds two block_N tiles and streams num_stages pairs of block_M tiles (the dQ
    pass with the roles swapped: the same bytes), plus one block_M x block_N dS tile in the
    input dtype (staged for the product that reads it transposed)."""
    c, row = config, padded_head_dim(D) * dtypes.BYTES[dtype]
    if track == "best":
        return (2 * c["block_N"] + 2 * c["num_stages"] * c["block_M"]) * row + c["block_M"] * c["block_N"] * dtypes.BYTES[dtype]
    dkdv = 2 * c["block_N"] + 2 * c["num_stages"] * c["block_M"]
    dq = 2 * c["block_M"] + 2 * c["num_stages"] * c["block_N"]
    return max(dkdv, dq) * row


def configs_for(dtype, track):
    """The configs that fit on the GPU for this dtype at CONFIG_HEAD_DIM (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype, track=track) <= SMEM_LIMIT]


ACC_REGISTERS = 128  # fp32 registers a thread may give the dK and dV accumulators (best track)


def accumulator_registers(config, D):
    """fp32 registers a thread holds for dK and dV (block_N x padded D each) through the walk."""
    return 2 * config["block_N"] * padded_head_dim(D) // config["threads"]


def fit(config, dtype, D, track="matched"):
    """The config a kernel runs at head dim D. Best track first: block_N halved (down to 16)
    while dK and dV would take more than ACC_REGISTERS registers a thread (past it they spill:
    128 keys at head dim 128 and 128 threads need 256). Then, until the tiles fit the shared
    memory: block_M halved (down to 16), then (best track) num_stages down to 2, then block_N
    (down to 16). Both DSLs call this, so a large head dim shrinks a config alike."""
    c = dict(config)
    if track == "best":
        while accumulator_registers(c, D) > ACC_REGISTERS and c["block_N"] > 16:
            c["block_N"] //= 2
    while smem_bytes(c, dtype, D, track) > SMEM_LIMIT:
        if c["block_M"] > 16:
            c["block_M"] //= 2
        elif track == "best" and c["num_stages"] > 2:
            c["num_stages"] -= 1
        elif c["block_N"] > 16:
            c["block_N"] //= 2
        else:
            from kernels import Skip

            raise Skip(f"config {config} does not fit {SMEM_LIMIT} bytes of shared memory at D={D}")
    return c


def check_arguments(q, k, v, o, lse, do, dq, dk, dv, delta):
    """The host functions' argument check (both DSLs' Triton wrappers): the layout above."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    assert k.shape == v.shape == dk.shape == dv.shape == (B, Hkv, Skv, D) and Hq % Hkv == 0, \
        "k, v, dk, dv must be (B, Hkv, Skv, D), Hkv | Hq"
    assert o.shape == do.shape == dq.shape == q.shape, "o, do, dq must be (B, Hq, Sq, D)"
    assert lse.shape == delta.shape == (B, Hq, Sq), "lse and delta must be (B, Hq, Sq)"
    assert q.dtype == k.dtype == v.dtype == o.dtype == do.dtype, "q, k, v, o and do must share one dtype"


def workspace(shape, dtype, config, device):
    """delta (B, Hq, Sq) fp32: rowsum(do ∘ o), written by the preprocess, read by both passes."""
    return {"delta": torch.empty((shape["B"], shape["Hq"], shape["Sq"]), dtype=torch.float32, device=device)}


CPU_SUITE = [
    dict(B=1, Hq=2, Hkv=2, Sq=64, Skv=64, D=32, causal=0),
    dict(B=1, Hq=2, Hkv=2, Sq=64, Skv=64, D=32, causal=1),
    dict(B=2, Hq=4, Hkv=1, Sq=37, Skv=70, D=40, causal=1),  # GQA 4:1, ragged, causal Sq < Skv, odd head dim
    dict(B=1, Hq=8, Hkv=1, Sq=50, Skv=33, D=59, causal=1),  # GQA 8:1, Sq > Skv (rows that see no key)
    dict(B=1, Hq=2, Hkv=1, Sq=3, Skv=90, D=96, causal=0),  # a decode-sized query, head dim 96
]
# GPU: Llama-3 8B's heads (32 query, 8 kv, D=128) and 70B's (64 query, 8 kv) at 16k tokens a
# batch over 1k-16k, causal and not, and a D=64 layout (16 heads of 64, GPT-style MHA).
# `--suite headline` and gpu-full lead with the two headline cases: 8B heads at 8k causal (where
# FlashAttention-3's backward is published) and at 4k non-causal.
GPU_SUITE = [
    dict(B=16384 // S, Hq=32, Hkv=8, Sq=S, Skv=S, D=128, causal=c) for S in (1024, 4096, 8192, 16384) for c in (0, 1)
] + [
    dict(B=16384 // S, Hq=64, Hkv=8, Sq=S, Skv=S, D=128, causal=1) for S in (4096, 8192)
] + [
    dict(B=16384 // S, Hq=16, Hkv=16, Sq=S, Skv=S, D=64, causal=c) for S in (2048, 8192) for c in (0, 1)
]
HEADLINE_SUITE = [dict(B=2, Hq=32, Hkv=8, Sq=8192, Skv=8192, D=128, causal=1),
                  dict(B=4, Hq=32, Hkv=8, Sq=4096, Skv=4096, D=128, causal=0)]
# `--suite gpu-full`: the headline, then 8B heads at 1k and 16k causal, 70B heads at 8k causal, hd 64 at 8k causal
GPU_FULL_SUITE = HEADLINE_SUITE + [
    dict(B=16, Hq=32, Hkv=8, Sq=1024, Skv=1024, D=128, causal=1), dict(B=1, Hq=32, Hkv=8, Sq=16384, Skv=16384, D=128, causal=1),
    dict(B=2, Hq=64, Hkv=8, Sq=8192, Skv=8192, D=128, causal=1), dict(B=2, Hq=16, Hkv=16, Sq=8192, Skv=8192, D=64, causal=1)]


def headline(shape, dtype):
    """Whether a case is one of the headline's (HEADLINE_SUITE, in bf16)."""
    return dtype == "bf16" and dict(shape) in HEADLINE_SUITE


INSPECT_SHAPE = dict(B=1, Hq=32, Hkv=8, Sq=4096, Skv=4096, D=128, causal=1)
SMOKE_SHAPE = dict(B=1, Hq=4, Hkv=2, Sq=128, Skv=128, D=64, causal=1)


def make_inputs(shape, dtype, seed, device="cpu"):
    """q, k, v as the forward's (seeded standard normals), o and lse from the float64 forward
    (o rounded to dtype, lse fp32), and a seeded standard-normal do in dtype."""
    qkv = forward.make_inputs(shape, dtype, seed, device)
    out = forward.reference(qkv, causal=bool(shape["causal"]))
    return {**qkv, "o": out["o"].to(dtypes.TORCH[dtype]), "lse": out["lse"].float(),
            "do": upstream_gradient(qkv["q"], dtype, seed)}


def upstream_gradient(q, dtype, seed):
    """do: seeded standard normals in dtype, shaped as q (and o), on q's device."""
    g = torch.Generator(device="cpu").manual_seed(seed + 1)
    return torch.randn(q.shape, generator=g, dtype=torch.float32).to(device=q.device, dtype=dtypes.TORCH[dtype])


def make_outputs(shape, dtype, device="cpu"):
    """dq, dk, dv, poisoned with NaN so that an element the kernel never writes cannot pass."""
    B, Hq, Hkv, Sq, Skv, D = (shape[k] for k in SHAPE_KEYS[:6])
    t, nan = dtypes.TORCH[dtype], float("nan")
    return {"dq": torch.full((B, Hq, Sq, D), nan, dtype=t, device=device),
            "dk": torch.full((B, Hkv, Skv, D), nan, dtype=t, device=device),
            "dv": torch.full((B, Hkv, Skv, D), nan, dtype=t, device=device)}


def reference(inputs, causal=False, sm_scale=None):
    """The float64 truth, on the inputs' device: the analytic gradient of the float64 forward
    at q, k, v (softmax recomputed here, not taken from the given o and lse), for the upstream
    gradient do. As the forward's reference, each kv head's G query heads are stacked into the
    rows (no copy of k, v per query head) and rows are done in chunks (forward.REFERENCE_CHUNK
    scores at once): dq row by row, dk and dv summed over the chunks."""
    q, k, v, do = (inputs[n].double() for n in ("q", "k", "v", "do"))
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    scale = default_scale(D) if sm_scale is None else sm_scale
    rows, drows = (t.reshape(B, Hkv, (Hq // Hkv) * Sq, D) for t in (q, do))  # row r: query r % Sq of head r // Sq
    dq, dk, dv = torch.empty_like(rows), torch.zeros_like(k), torch.zeros_like(v)
    step = max(1, forward.REFERENCE_CHUNK // (B * Hkv * Skv))
    for r0 in range(0, rows.shape[2], step):
        r = slice(r0, r0 + step)
        scores = scale * rows[:, :, r] @ k.transpose(-1, -2)
        queries = torch.arange(r0, min(r0 + step, rows.shape[2]), device=q.device) % Sq
        scores.masked_fill_(~visible(Sq, Skv, causal, queries, q.device), float("-inf"))
        p = torch.softmax(scores, dim=-1).nan_to_num_(0.0)  # a row that sees no key: all zeros
        dv += p.transpose(-1, -2) @ drows[:, :, r]
        dp = drows[:, :, r] @ v.transpose(-1, -2)
        ds = p * (dp - (p * dp).sum(-1, keepdim=True))
        dq[:, :, r] = scale * ds @ k
        dk += scale * ds.transpose(-1, -2) @ rows[:, :, r]
    return {"dq": dq.reshape(B, Hq, Sq, D), "dk": dk, "dv": dv}


def flops(shape):
    """flash-attention's count: 2.5 times the forward's (kernels/attention/spec.py: 4·D per visible pair)."""
    return BACKWARD_FLOPS * forward.flops(shape)


def bytes_moved(shape, dtype):
    """Compulsory traffic: read q, k, v, o, do once and lse, write dq, dk, dv once."""
    B, Hq, Hkv, Sq, Skv, D = (shape[k] for k in SHAPE_KEYS[:6])
    return (4 * B * Hq * Sq * D + 4 * B * Hkv * Skv * D) * dtypes.BYTES[dtype] + B * Hq * Sq * 4


# Allowed error per output, as (normwise relative, max-abs relative to max|ref|). The kernels
# round P, dO, V, dS, K and Q to the input dtype at each product's inputs (as FlashAttention-2
# does), take delta from the rounded o, p from the fp32 lse, and round the results; fp32 products
# run as TF32 on a GPU (the low 13 mantissa bits dropped). A float64 model of exactly that
# rounding over the CPU suite and 512-1024-long causal and non-causal cases (D 32-128, GQA up to
# 8:1) gives at most 3.5e-4 / 6.1e-4 (fp16), 2.8e-3 / 5.2e-3 (bf16) and 3.4e-3 / 5.4e-3
# (fp32 as TF32), normwise / max-abs; the bounds leave 4x room, as the forward's do.
TOLERANCE = {
    "fp32": {name: (1.2e-2, 2.5e-2) for name in OUTPUTS},
    "fp16": {name: (1.5e-3, 3e-3) for name in OUTPUTS},
    "bf16": {name: (1e-2, 2e-2) for name in OUTPUTS},
}
