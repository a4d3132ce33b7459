"""Block-scaled FP8 GEMM, described once (DeepSeek-V3.2-Exp's `fp8_gemm`).

A (M, K) e4m3 with 1x128 scales sa (M, K/128); B (N, K) e4m3 (a weight, row n = output
column n) with 128x128 block scales sb (ceil(N/128), K/128); C (M, N) bf16:
    C = sum over K-blocks k of (A_k · B_kᵀ) * sa[:, k] * sb[n // 128, k]
Each K-block's product is accumulated in fp32 on its own, then scaled and added into a
second fp32 accumulator: the two-level accumulation DeepSeek-V3's report describes for
Hopper's FP8 tensor cores, which keep only ~14 bits while accumulating inside one MMA chain.

Scale format: the shape flag ue8m0=0|1 (DeepSeek-V3.2's scale_fmt). ue8m0=0: fp32 scales
(amax/448; fp32 powers of two are taken just as well). ue8m0=1: power-of-two scales stored
as one exponent byte each (uint8, value 2^(byte - 127): fp32's exponent field), which the
kernels decode by shifting the byte into an fp32 exponent.

Any M >= 1, any N >= 1, K a multiple of 128. The dtype axis names the FP8 format, "e4m3";
C is bf16 with it.
"""
import torch

from kernels import SMEM_LIMIT, dtypes
from kernels.act_quant.spec import GROUP as BLOCK, quantize

NAME = "fp8_gemm"
SHAPE_KEYS = ("M", "N", "K", "ue8m0")
FLAGS = ("ue8m0",)
DTYPES = ("e4m3",)
INPUTS = ("a", "sa", "b", "sb")
OUTPUTS = ("c",)
# kernels/fp8_gemm/baselines.py: cuBLAS bf16 on the dequantized operands (the speed FP8
# must beat), torch._scaled_mm with these block scales, DeepGEMM when importable.
BASELINES = ("torch-bf16", "scaled-mm", "deepgemm")
C_DTYPE = "bf16"

# The configs both DSLs choose from. A tile is block_M x 128 (BLOCK: one B scale per tile
# and K-block) and each step consumes one 128-deep K-block (one scale). threads = 32 *
# Triton's num_warps; Hopper's FP8 warpgroup MMA (wgmma) works on 64-row slabs per
# warpgroup of 128 threads. A 128-row tile wants two warpgroups: one alone would hold both
# fp32 accumulators (2 x 128 registers a thread) and spill.
TRACKS = ("matched",)  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_M=128, num_stages=4, threads=256),
        dict(block_M=128, num_stages=3, threads=256),
        dict(block_M=64, num_stages=4, threads=128),
        dict(block_M=64, num_stages=6, threads=128),
    ],
}


def smem_bytes(config, dtype):
    """The pipelined A and B tiles (1 byte an element) and the C tile in fp32."""
    tiles = (config["block_M"] + BLOCK) * BLOCK * dtypes.BYTES[dtype] * config["num_stages"]
    return tiles + config["block_M"] * BLOCK * 4


def configs_for(dtype, track):
    """The configs that fit on the GPU (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype) <= SMEM_LIMIT]


def validate(shape):
    if shape["K"] % BLOCK:
        return f"K={shape['K']} must be a multiple of {BLOCK} (one scale per {BLOCK}-deep block)"
    return None


def kernel_flags(shape):
    """Arguments other than tensors and tile sizes: none (Triton reads the scale format
    from the scales' dtype; TileLang takes the shape, ue8m0 included)."""
    return {}


def to_exponent_bytes(s):
    """Power-of-two scales (any float dtype) -> their biased exponents, one uint8 each."""
    return (s.float().view(torch.int32) >> 23).to(torch.uint8)


def decode(s):
    """Scales as stored (fp32, or exponent bytes) -> their float64 values."""
    if s.dtype == torch.uint8:
        return torch.exp2(s.double() - 127)
    return s.double()


def make_inputs(shape, dtype, seed, device="cpu"):
    """Realistic operands: seeded random normal bf16 activations and weights, quantized by
    the reference quantizer (A per 1x128 group, B per 128x128 block), in the shape's format."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    M, N, K, ue8m0 = shape["M"], shape["N"], shape["K"], shape["ue8m0"]
    # drawn on the CPU (the same numbers everywhere), quantized where they will be used
    a, sa = quantize(torch.randn(M, K, generator=g).bfloat16().to(device), ue8m0)
    b, sb = quantize(torch.randn(N, K, generator=g).bfloat16().to(device), ue8m0, block_rows=BLOCK)
    store = to_exponent_bytes if ue8m0 else (lambda s: s.float())
    fp8 = dtypes.TORCH[dtype]
    return dict(a=a.to(fp8), sa=store(sa), b=b.to(fp8), sb=store(sb))


def make_outputs(shape, dtype, device="cpu"):
    """C, poisoned with NaN so that an element the kernel never writes cannot pass."""
    c = torch.full((shape["M"], shape["N"]), float("nan"), dtype=dtypes.TORCH[C_DTYPE], device=device)
    return {"c": c}


def dequantize(x, s, block_rows):
    """x (R, C) e4m3 times its scales, one per block_rows x 128 block, in float64 (exact)."""
    s = decode(s).repeat_interleave(block_rows, 0)[: x.shape[0]].repeat_interleave(BLOCK, 1)
    return x.double() * s


def reference(inputs):
    """The float64 truth: dequantize both operands exactly, multiply in float64."""
    a = dequantize(inputs["a"], inputs["sa"], 1)
    b = dequantize(inputs["b"], inputs["sb"], BLOCK)
    return {"c": a @ b.T}


def flops(shape):
    return 2 * shape["M"] * shape["N"] * shape["K"]


def bytes_moved(shape, dtype):
    """Compulsory traffic: A, B and their scales once, C (bf16) once."""
    M, N, K = shape["M"], shape["N"], shape["K"]
    scale = 1 if shape["ue8m0"] else 4
    scales = (M + -(-N // BLOCK)) * (K // BLOCK) * scale
    return (M * K + N * K) * dtypes.BYTES[dtype] + scales + M * N * dtypes.BYTES[C_DTYPE]


# Allowed error, as (normwise relative, max-abs relative to max|C_ref|). The reference
# multiplies the very values the kernels multiply (the FP8 rounding of the operands is in
# the inputs, not an error), so what is left is (1) C's rounding to bf16: at most u = 2^-8
# relative per element (3.9e-3), ~1.5e-3 normwise for such data; and (2) the fp32
# accumulation: exact products, per-block sums promoted every 128 terms; on Hopper the MMA
# keeps ~14 bits within a block, ~2^-14 * sqrt(K/128) relative: below 1e-3 up to K=16384.
# The bounds sit just above (1)'s worst case plus (2); a wrong scale on one block of 128
# columns or K-values is a >10% error there. (The bf16 baseline also rounds its operands
# to bf16, another ~2e-3 normwise: still inside.)
TOLERANCE = {"e4m3": (4e-3, 8e-3)}

# CPU: a decode row (M=1) and ragged M (100: not a multiple of any block_M), N ragged
# against the 128-wide tiles and B's scale blocks (200), both scale formats, N, K <= 512.
CPU_SUITE = [
    dict(M=100, N=256, K=512, ue8m0=1),
    dict(M=100, N=200, K=384, ue8m0=0),
    dict(M=1, N=512, K=256, ue8m0=1),
    dict(M=1, N=72, K=128, ue8m0=0),
]
# GPU: DeepSeek-V3's linear layers (N, K) at decode-sized and prefill M, in the model's
# ue8m0 format; the same layers in fp32 scales at M=128.
LAYERS = [(2112, 7168), (24576, 1536), (32768, 512), (7168, 16384), (4096, 7168), (7168, 2048)]
GPU_SUITE = [dict(M=M, N=N, K=K, ue8m0=1) for N, K in LAYERS for M in (64, 128, 4096)] + [
    dict(M=128, N=N, K=K, ue8m0=0) for N, K in LAYERS
]
# `--suite gpu-full` (every op within ~10 minutes on one H100): four layers, M=128 and 4096.
GPU_FULL_SUITE = [s for s in GPU_SUITE if s["ue8m0"] and s["M"] in (128, 4096) and (s["N"], s["K"]) in LAYERS[:4]]
