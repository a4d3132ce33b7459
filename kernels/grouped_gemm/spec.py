"""MoE grouped GEMM, described once: DeepSeek-V3's expert layers as DeepGEMM lays them out.

G experts share one N and K; expert g multiplies the rows of the tokens routed to it by its
weight B[g] (N, K) (row n = output column n, as kernels/fp8_gemm), C = A · B[g]ᵀ in bf16:
- contiguous (masked=0, DeepGEMM's prefill layout): A (R, K) holds every expert's rows one after
  another, each expert's run padded up to a multiple of ALIGN_M rows (an expert with no token
  takes none); grouped_layout (R,) int32 is the expert of each row, -1 on padding rows. C is
  (R, N). What a kernel writes on padding rows is not checked (DeepGEMM computes whole tiles).
- masked (masked=1, DeepGEMM's CUDA-graph decode layout): A (G, M_max, K), grouped_layout (G,)
  int32 is the count of valid rows of each expert; C (G, M_max, N). Rows past an expert's count
  are not to be computed or written: C must keep its NaN poison there (unwritten(), which the
  check reads: bench/run/check.py). A holds seeded finite values on those rows, so a kernel that
  computes them and stores the result writes finite values there and fails.

dtype bf16: a, b bf16; sa, sb are empty (a bf16 GEMM has no scales; every backend takes the same
arguments). dtype e4m3: a, b e4m3 with DeepSeek's scales as kernels/fp8_gemm: sa one per row per
128 K-values (contiguous (R, K/128), masked (G, M_max, K/128)), sb one per 128x128 block of each
expert's B (G, ceil(N/128), K/128); fp32, or with ue8m0=1 power-of-two exponent bytes (uint8).
Each 128-deep K-block's product is accumulated on its own and promoted (fp8_gemm's two-level sum).

Routing: the count of tokens each expert gets is seeded by the shape alone (token_counts: the
same G and M route alike in every layer, run and backend), drawn from a skewed popularity
(lognormal, sigma ROUTING_SIGMA) over G·M token slots, so experts with no token and one token
appear where M is small. M is the mean tokens per expert; FLOPs count valid rows only.
"""
import torch

from kernels import SMEM_LIMIT, dtypes
from kernels.act_quant.spec import quantize
from kernels.fp8_gemm.spec import BLOCK, decode, to_exponent_bytes

NAME = "grouped_gemm"
SHAPE_KEYS = ("G", "M", "N", "K", "masked", "ue8m0")
FLAGS = ("masked", "ue8m0")
DTYPES = ("bf16", "e4m3")
GPU_DTYPES = ("bf16", "e4m3")
INPUTS = ("a", "sa", "b", "sb", "grouped_layout")
OUTPUTS = ("c",)
# kernels/grouped_gemm/baselines.py: DeepGEMM's grouped FP8 GEMMs when importable, torch's
# grouped bf16 GEMM where the installed torch has one, else a loop of one GEMM per expert.
BASELINES = ("deepgemm", "torch-grouped", "torch-loop")
C_DTYPE = "bf16"
ALIGN_M = 128  # contiguous layout: each expert's rows padded to this (DeepGEMM's M alignment)
MASKED_ALIGN = 64  # masked layout: M_max is the largest count rounded up to this
ROUTING_SEED = 20250101
ROUTING_SIGMA = 0.8  # lognormal sigma of the experts' popularity (max/mean ~2-3x at 8-32 experts)
A_SCALE = 1.0  # inputs are seeded standard normals

# The tile configs both DSLs choose from (the same list per track). block_K is the dtype's
# (block_k): 64 for bf16, 128 (one scale block) for e4m3. block_M divides ALIGN_M, so a tile of
# the contiguous layout never spans two experts.
# matched: one program per output tile of one expert (module docstring of triton_matched.py).
# best: a persistent grid over every expert's tiles, TMA, each DSL's Hopper pipeline; the union
# of DeepGEMM's Hopper tiles (128 x 128, 256 threads) and the grouped-GEMM tutorials' smaller ones.
TRACKS = ("matched", "best")
CONFIGS = {
    "matched": [
        dict(block_M=128, block_N=128, num_stages=3, threads=256),
        dict(block_M=64, block_N=128, num_stages=4, threads=128),
        dict(block_M=64, block_N=64, num_stages=4, threads=128),
    ],
    "best": [
        dict(block_M=128, block_N=128, num_stages=4, threads=256),
        dict(block_M=64, block_N=128, num_stages=6, threads=128),
        dict(block_M=64, block_N=64, num_stages=8, threads=128),
    ],
}
H100_SMS = 132  # the persistent grid's size where no GPU can be asked (as fp8_gemm's)


def block_k(dtype):
    """The K-step of a tile: one 128-deep scale block for e4m3, 64 for bf16."""
    return BLOCK if dtype == "e4m3" else 64


def smem_bytes(config, dtype, track="matched"):
    """The pipelined A and B tiles; best track also its bf16 epilogue tile (the TMA store's)
    and, for e4m3, A's fp32 scales pipelined beside the tiles."""
    c = config
    tiles = (c["block_M"] + c["block_N"]) * block_k(dtype) * dtypes.BYTES[dtype] * c["num_stages"]
    if track == "matched":
        return tiles
    scales = c["block_M"] * 4 * c["num_stages"] if dtype == "e4m3" else 0
    return tiles + scales + c["block_M"] * c["block_N"] * dtypes.BYTES[C_DTYPE]


def configs_for(dtype, track):
    """The configs that fit on the GPU for this dtype (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype, track) <= SMEM_LIMIT]


def validate(shape):
    for key in ("G", "M", "N", "K"):
        if shape[key] < 1:
            return f"{key}={shape[key]} must be at least 1"
    if shape["K"] % BLOCK:
        return f"K={shape['K']} must be a multiple of {BLOCK} (one FP8 scale per {BLOCK}-deep block; bf16 takes the same shapes)"
    return None


def kernel_flags(shape):
    """The layout; the scale format is read from the scales' dtype (uint8: ue8m0)."""
    return {"masked": bool(shape["masked"])}


def token_counts(shape):
    """Tokens routed to each expert (G,) int64: G·M token slots drawn from a lognormal
    popularity, seeded by (G, M) alone."""
    G, M = shape["G"], shape["M"]
    g = torch.Generator(device="cpu").manual_seed(ROUTING_SEED + 1_000_003 * G + M)
    popularity = torch.exp(ROUTING_SIGMA * torch.randn(G, generator=g, dtype=torch.float64, device="cpu"))
    picks = torch.multinomial(popularity / popularity.sum(), G * M, replacement=True, generator=g)
    return torch.bincount(picks, minlength=G)


def round_up(x, to):
    return -(-x // to) * to


def rows(shape):
    """Rows of A and C: contiguous R (each expert's count padded to ALIGN_M), masked M_max."""
    counts = token_counts(shape)
    if shape["masked"]:
        return max(MASKED_ALIGN, round_up(int(counts.max()), MASKED_ALIGN))
    return sum(round_up(int(n), ALIGN_M) for n in counts)


def grouped_layout(shape):
    """Contiguous: the expert of each of the R rows (-1: padding); masked: the counts (G,)."""
    counts = token_counts(shape)
    if shape["masked"]:
        return counts.to(torch.int32)
    out = []
    for e, n in enumerate(counts.tolist()):
        out += [e] * n + [-1] * (round_up(n, ALIGN_M) - n)
    return torch.tensor(out, dtype=torch.int32, device="cpu")


def valid_rows(shape):
    """A bool mask over C's rows (contiguous (R,), masked (G, M_max)): the rows of real tokens."""
    layout = grouped_layout(shape)
    if shape["masked"]:
        return torch.arange(rows(shape), device="cpu")[None, :] < layout[:, None].long()
    return layout >= 0


def make_inputs(shape, dtype, seed, device="cpu"):
    """Seeded standard-normal bf16 activations and weights (e4m3: quantized by the reference
    quantizer, A per 1x128 group, each expert's B per 128x128 block, in the shape's format).
    A's rows past a count (masked) and padding rows (contiguous) are seeded values too: finite,
    so that a row computed and stored where it may not be shows in C."""
    G, N, K, ue8m0 = shape["G"], shape["N"], shape["K"], shape["ue8m0"]
    g = torch.Generator(device="cpu").manual_seed(seed)
    R = rows(shape)
    a = torch.randn(*((G, R) if shape["masked"] else (R,)), K, generator=g).bfloat16()
    b = torch.randn(G, N, K, generator=g).bfloat16()
    layout = grouped_layout(shape)
    if dtype == "bf16":
        empty = torch.empty(0, dtype=torch.float32, device=device)
        return dict(a=a.to(device), sa=empty, b=b.to(device), sb=empty.clone(), grouped_layout=layout.to(device))
    store = to_exponent_bytes if ue8m0 else (lambda s: s.float())
    qa, sa = quantize(a.reshape(-1, K).to(device), ue8m0)
    qa, sa = qa.reshape(*a.shape), sa.reshape(*a.shape[:-1], K // BLOCK)
    qb = [quantize(b[e].to(device), ue8m0, block_rows=BLOCK) for e in range(G)]
    fp8 = dtypes.TORCH[dtype]
    qa, sa = qa.to(fp8), store(sa)
    return dict(a=qa, sa=sa, b=torch.stack([q for q, _ in qb]).to(fp8), sb=torch.stack([store(s) for _, s in qb]),
                grouped_layout=layout.to(device))


def make_outputs(shape, dtype, device="cpu"):
    """C, poisoned with NaN so that an element the kernel never writes cannot pass; the
    contiguous layout's padding rows, which a kernel may write or skip (not checked), hold 0."""
    R = rows(shape)
    size = (shape["G"], R, shape["N"]) if shape["masked"] else (R, shape["N"])
    c = torch.full(size, float("nan"), dtype=dtypes.TORCH[C_DTYPE], device=device)
    if not shape["masked"]:
        c[~valid_rows(shape).to(device)] = 0
    return {"c": c}


def dequantized(inputs):
    """(A, B) in float64: the values the kernels multiply (e4m3 times its scales, exact)."""
    a, b = inputs["a"], inputs["b"]
    if a.dtype != torch.float8_e4m3fn:
        return a.double(), b.double()
    K = a.shape[-1]
    sa = decode(inputs["sa"]).repeat_interleave(BLOCK, -1)
    sb = decode(inputs["sb"]).repeat_interleave(BLOCK, -2)[:, : b.shape[1]].repeat_interleave(BLOCK, -1)
    return a.double() * sa[..., :K], b.double() * sb


def reference(inputs, masked=False):
    """The float64 truth per expert. Masked: rows past each count are NaN (unwritten: the
    check wants C's poison there). Contiguous: padding rows are 0, make_outputs' value there
    (reference_for makes them the backend's own values: not checked)."""
    a, b = dequantized(inputs)
    layout = inputs["grouped_layout"].long()
    G, N = b.shape[0], b.shape[1]
    if masked:
        c = torch.full((G, a.shape[1], N), float("nan"), dtype=torch.float64, device=a.device)
        for e in range(G):
            n = int(layout[e])
            c[e, :n] = a[e, :n] @ b[e].T
        return {"c": c}
    c = torch.zeros((a.shape[0], N), dtype=torch.float64, device=a.device)
    for e in range(G):
        where = layout == e
        if where.any():
            c[where] = a[where] @ b[e].T
    return {"c": c}


def unwritten(inputs):
    """{"c": mask} of C's elements no kernel may write: masked, the rows past each count (a
    (G, M_max, 1) mask over C); contiguous: none."""
    if inputs["a"].dim() != 3:
        return {}
    rows_past = torch.arange(inputs["a"].shape[1], device=inputs["a"].device)[None, :] >= inputs["grouped_layout"][:, None]
    return {"c": rows_past[..., None]}


def reference_for(inputs, outputs, reference):
    """Contiguous layout: a padding row's value is not checked (DeepGEMM computes the whole tile
    a padding row falls in; a kernel that skips it leaves make_outputs' 0): the reference there
    is the backend's own output, so only the expert rows count (a NaN written there still fails). Masked: the reference as it is (rows past a count: unwritten)."""
    if inputs["a"].dim() == 3:  # masked
        return reference
    pad = inputs["grouped_layout"] < 0
    c = reference["c"].clone()
    c[pad] = outputs["c"][pad].to(c)
    return {"c": c}


def flops(shape):
    """2·N·K per valid row (padding rows and rows past a count are not work)."""
    return 2 * int(token_counts(shape).sum()) * shape["N"] * shape["K"]


def bytes_moved(shape, dtype):
    """Compulsory traffic: the valid rows of A and C once, every expert's B once (an expert with
    no token still has its weight, but need not read it: counted only where it has tokens),
    and the scales that go with them."""
    counts = token_counts(shape)
    T, used = int(counts.sum()), int((counts > 0).sum())
    N, K = shape["N"], shape["K"]
    size = dtypes.BYTES[dtype]
    moved = (T * K + used * N * K) * size + T * N * dtypes.BYTES[C_DTYPE]
    if dtype == "e4m3":
        scale = 1 if shape["ue8m0"] else 4
        moved += (T + used * -(-N // BLOCK)) * (K // BLOCK) * scale
    return moved


# Allowed error, as (normwise relative, max-abs relative to max|C_ref|): bf16 as matmul's bf16
# (fp32 accumulation, C rounded to bf16), e4m3 as fp8_gemm's (the operands' FP8 rounding is in
# the inputs; C's bf16 rounding and the promoted fp32 sum are what is left).
TOLERANCE = {"bf16": (8e-3, 3e-2), "e4m3": (4e-3, 8e-3)}

# CPU: few experts, small K; experts with no token and with one (small M), ragged N against
# the 128-wide tiles and scale blocks, both layouts and both scale formats.
CPU_SUITE = [
    dict(G=4, M=3, N=200, K=256, masked=0, ue8m0=1),
    dict(G=3, M=40, N=128, K=128, masked=0, ue8m0=0),
    dict(G=6, M=3, N=72, K=384, masked=1, ue8m0=1),
    dict(G=2, M=70, N=256, K=128, masked=1, ue8m0=0),
]
# GPU: DeepSeek-V3's expert layers, (N, K) = (4096, 7168) gate/up and (7168, 2048) down, 8 and
# 32 local experts at prefill (contiguous) and decode (masked, 1-64 tokens an expert); total
# rows held to ~16k so the float64 reference stays well under a minute.
LAYERS = [(4096, 7168), (7168, 2048)]
GPU_SUITE = [dict(G=G, M=M, N=N, K=K, masked=0, ue8m0=1) for N, K in LAYERS for G, M in ((8, 256), (8, 512), (8, 2048), (32, 512))] + [
    dict(G=G, M=M, N=N, K=K, masked=1, ue8m0=1) for N, K in LAYERS for G, M in ((8, 16), (32, 1), (32, 64))]
# `--suite headline` (and the start of gpu-full): DeepSeek-V3's gate/up experts in FP8 with UE8M0
# scales, 8 local experts at 512 tokens each (prefill, contiguous: 4096 tokens, as fp8_gemm's
# headline; its float64 reference is ~0.25 PFLOP) and 32 at 64 (decode, masked).
HEADLINE_SUITE = [dict(G=8, M=512, N=4096, K=7168, masked=0, ue8m0=1),
                  dict(G=32, M=64, N=4096, K=7168, masked=1, ue8m0=1)]
GPU_FULL_SUITE = HEADLINE_SUITE + [s for s in GPU_SUITE if s["N"] == 7168 and s["G"] == 8]


def headline(shape, dtype):
    """Whether a case is one of the headline's (HEADLINE_SUITE, in e4m3)."""
    return dtype == "e4m3" and dict(shape) in HEADLINE_SUITE


def shape_class(shape):
    """The masked layout (decode) is a group of its own in reports."""
    return "decode" if shape["masked"] else None
INSPECT_SHAPE = dict(G=8, M=2048, N=4096, K=7168, masked=0, ue8m0=1)
SMOKE_SHAPE = dict(G=2, M=100, N=256, K=256, masked=0, ue8m0=1)
