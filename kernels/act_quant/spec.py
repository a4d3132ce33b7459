"""Activation quantization to FP8, described once (DeepSeek-V3.2-Exp's `act_quant`).

x (M, N) bf16 -> y (M, N) float8 e4m3 and s (M, N/128) fp32: one scale per row per group
of 128 columns. For each group
    amax = max(max|x|, 1e-4),   s = amax · fp32(1/448),   y = clamp(x / s, -448, 448) in e4m3
(448 is e4m3's largest value; y is rounded to nearest, ties to even). As DeepSeek's kernel,
the scale multiplies by the fp32 reciprocal (`fp8_max_inv = 1 / fp8_max`), which differs from
amax / 448 by one fp32 ulp in about half the groups; x / s is divided exactly (IEEE, in fp32),
so every kernel computes exactly what `quantize` here computes.

UE8M0 (DeepSeek-V3.2's scale_fmt "ue8m0") is the shape flag `ue8m0=0|1`, not a dtype: the
tensors' formats are the same, only the scale's value changes. With ue8m0=1, s is rounded
*up* to a power of two, s = 2^ceil(log2(amax · fp32(1/448))): an exponent-only scale (one byte
suffices: see kernels/fp8_gemm/spec.py), and never smaller than amax/448, so no value clips.
s stays stored in fp32 here, as DeepSeek's kernel keeps it.

The dtype axis names the FP8 format, "e4m3"; x is bf16 with it (the model's activations).
"""
import torch

from kernels import dtypes, grid_refusal

NAME = "act_quant"
SHAPE_KEYS = ("M", "N", "ue8m0")
FLAGS = ("ue8m0",)
DTYPES = ("e4m3",)
MMA_DTYPES = ()  # no matrix product: no tensor-core path to take (bench/core/mma.py marks it n/a)
INPUTS = ("x",)
OUTPUTS = ("y", "s")
BASELINES = ("torch",)  # kernels/act_quant/baselines.py: the same formula in eager torch

GROUP = 128  # columns per scale
FP8_MAX = 448.0
# The scale multiplies amax by this fp32 reciprocal, as DeepSeek's kernel does (`1 / fp8_max`).
FP8_MAX_INV = torch.tensor(1 / FP8_MAX, dtype=torch.float32).item()
# The amax floor keeps s > 0 for an all-zero group; as the kernels hold it, in fp32.
AMAX_FLOOR = torch.tensor(1e-4, dtype=torch.float32).item()
X_DTYPE = "bf16"

# The configs both DSLs choose from: rows per program (each program quantizes a
# block_M x 128 tile: its row-wise amax is a reduction along the tile's rows) and threads.
TRACKS = ("matched",)  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_M=32, threads=128),
        dict(block_M=64, threads=128),
        dict(block_M=16, threads=64),
        dict(block_M=128, threads=256),
    ],
}


def configs_for(dtype, track):
    """Every config fits: a tile is at most 128 x 128 bf16 (32 KiB)."""
    return list(CONFIGS[track])


def validate(shape):
    if shape["N"] % GROUP:
        return f"N={shape['N']} must be a multiple of {GROUP} (one scale per {GROUP} columns)"
    # both DSLs put row tiles on grid y; the smallest config's tile decides
    smallest = min(c["block_M"] for track in TRACKS for c in CONFIGS[track])
    return grid_refusal(row_tiles=-(-shape["M"] // smallest))


def kernel_flags(shape):
    """Arguments other than tensors and tile sizes that the kernels and the reference take."""
    return {"ue8m0": bool(shape["ue8m0"])}


def make_inputs(shape, dtype, seed, device="cpu"):
    """Seeded bf16 activations: standard normal times a magnitude 2^U(-16, 8) per row and
    group, so the scales differ from group to group (a wrong scale layout shows) and some
    groups fall below the amax floor. Never zeros."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    M, N = shape["M"], shape["N"]
    x = torch.randn(M, N // GROUP, GROUP, generator=g)
    x *= torch.exp2(torch.empty(M, N // GROUP, 1).uniform_(-16, 8, generator=g))
    return {"x": x.reshape(M, N).to(device=device, dtype=dtypes.TORCH[X_DTYPE])}


def make_outputs(shape, dtype, device="cpu"):
    """y and s, poisoned with NaN so that an element the kernel never writes cannot pass."""
    M, N = shape["M"], shape["N"]
    nan = float("nan")
    return {"y": torch.full((M, N), nan, device=device).to(dtypes.TORCH[dtype]),
            "s": torch.full((M, N // GROUP), nan, dtype=torch.float32, device=device)}


def pow2_ceil(s):
    """2^ceil(log2 s), exactly: frexp gives s = m * 2^e with m in [0.5, 1)."""
    mantissa, exponent = torch.frexp(s)
    return torch.ldexp(torch.ones_like(s), exponent - (mantissa == 0.5).to(exponent.dtype))


def scale_of(amax, ue8m0):
    """The scale of each group from its amax, as the kernels store it (an fp32 value): the fp32
    product amax · fp32(1/448) (exact in float64, then rounded to fp32 once, as an fp32 multiply
    rounds), rounded up to a power of two when ue8m0."""
    s = (amax.double().clamp_min(AMAX_FLOOR) * FP8_MAX_INV).float().double()
    return pow2_ceil(s) if ue8m0 else s


def quantize(x, ue8m0, block_rows=1):
    """The quantizer in float64: x (R, C) -> (y, s), one scale per block_rows x 128 block.

    y holds e4m3 values, s (ceil(R / block_rows), C / 128) the fp32 scales, both float64.
    A ragged last block of rows takes its amax over the rows it has. block_rows=128 is
    how fp8_gemm's weights are quantized."""
    R, C = x.shape
    blocks = -(-R // block_rows)
    padded = torch.zeros(blocks * block_rows, C, dtype=torch.float64, device=x.device)
    padded[:R] = x.double().abs()
    amax = padded.view(blocks, block_rows, C // GROUP, GROUP).amax(dim=(1, 3))
    s = scale_of(amax, ue8m0)
    s_each = s.repeat_interleave(block_rows, 0)[:R].repeat_interleave(GROUP, 1)
    y = (x.double() / s_each).clamp(-FP8_MAX, FP8_MAX)
    # float64 -> e4m3 rounds once to nearest-even: the quotient of a bf16 by an fp32 is
    # never close enough to an fp32 midpoint for torch's detour through fp32 to matter.
    return y.to(torch.float8_e4m3fn).double(), s


def reference(inputs, ue8m0=False):
    """The float64 truth: y and s of the exact quantizer, on the inputs' device."""
    y, s = quantize(inputs["x"], ue8m0)
    return {"y": y, "s": s}


def flops(shape):
    """|x|, the max and the divide: 3 per element (a memory-bound op: read GB/s instead)."""
    return 3 * shape["M"] * shape["N"]


def bytes_moved(shape, dtype):
    """Compulsory traffic: read x (bf16), write y (e4m3) and s (fp32)."""
    M, N = shape["M"], shape["N"]
    return M * N * (dtypes.BYTES[X_DTYPE] + dtypes.BYTES[dtype]) + M * (N // GROUP) * 4


# Allowed error per output, as (normwise relative, max-abs relative to max|ref|).
# The kernels compute the reference's own arithmetic (IEEE fp32 divisions, one rounding to
# e4m3), so on every path here they match it exactly; the bounds leave room only for a
# division that is not correctly rounded (a fast-math GPU build), which can move a value
# across an e4m3 rounding midpoint: one e4m3 ulp (2^-3 of max|y|, for max|y| in [224, 448])
# on a rare element, ~1e-3 normwise each at the smallest shapes. Rounding towards zero
# instead of to nearest costs ~3e-2 normwise, a wrong scale for a group far more.
# s is an fp32 value: 1e-6 is eight fp32 ulps.
TOLERANCE = {"e4m3": {"y": (1e-2, 2.0 ** -3), "s": (1e-6, 1e-6)}}

# CPU: a decode row (M=1), ragged M, both scale formats, N <= 512.
# `dslbench smoke`'s one shape (on the GPU and on the CPU paths): small, and every config's block_M (up to 128) fits, so each
# kernel it compiles is the one a real shape gets.
SMOKE_SHAPE = dict(M=128, N=512, ue8m0=1)

CPU_SUITE = [
    dict(M=100, N=512, ue8m0=1),
    dict(M=100, N=256, ue8m0=0),
    dict(M=1, N=384, ue8m0=1),
    dict(M=1, N=128, ue8m0=0),
]
# GPU: the activations entering DeepSeek-V3's linear layers (their K: 7168, 1536, 512,
# 16384, 2048) at decode-sized and prefill M, in the model's ue8m0 format; fp32 scales too.
GPU_SUITE = [dict(M=M, N=N, ue8m0=1) for N in (7168, 1536, 512, 16384, 2048) for M in (64, 128, 4096)] + [
    dict(M=4096, N=7168, ue8m0=0),
    dict(M=128, N=7168, ue8m0=0),
]
# `--suite gpu-full` (every op within ~10 minutes on one H100): prefill M, every N.
GPU_FULL_SUITE = [s for s in GPU_SUITE if s["M"] == 4096 and s["ue8m0"]]
