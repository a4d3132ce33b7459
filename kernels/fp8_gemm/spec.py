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

from kernels import SMEM_LIMIT, dtypes, grid_refusal, split_k_fits
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

# The configs both DSLs choose from, one list per track. threads = 32 * Triton's num_warps (the
# consumer threads in the best track: TileLang's warp-specialized pipeline adds a producer
# warpgroup of its own). Each step consumes one 128-deep K-block (one scale). Hopper's FP8
# warpgroup MMA (wgmma) works on 64-row slabs per warpgroup of 128 threads, each holding two
# fp32 accumulators (the K-block's product and the promoted sum): 2 x 64 registers a thread
# for a 64 x 128 slab, so a 128-row tile wants two warpgroups (one alone would spill), and a
# 64 x 256 tile two warpgroups side by side along N.
# - matched: the tile is block_M x 128 (BLOCK: one B scale per tile and K-block).
# - best: block_N is free of the 128-wide scale block (DeepGEMM's point): 256 spans two B
#   scale blocks (each column picks its own scale), 64 half of one (more tiles for small N).
# split_k > 1 cuts the K-blocks into that many slices, each written as an fp32 partial (the
# workspace below) and summed by a second kernel in a fixed order (both DSLs the same way):
# what fills 132 SMs at decode sizes (M=64, N=2112, K=7168 makes 17 tiles of 64 x 128).
TRACKS = ("matched", "best")  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_M=128, num_stages=4, threads=256, split_k=1),
        dict(block_M=128, num_stages=3, threads=256, split_k=1),
        dict(block_M=64, num_stages=4, threads=128, split_k=1),
        dict(block_M=64, num_stages=6, threads=128, split_k=1),
        dict(block_M=64, num_stages=4, threads=128, split_k=8),
    ],
    "best": [
        dict(block_M=128, block_N=128, num_stages=4, threads=256, split_k=1),
        dict(block_M=64, block_N=256, num_stages=4, threads=256, split_k=1),
        dict(block_M=64, block_N=128, num_stages=6, threads=128, split_k=1),
        dict(block_M=64, block_N=64, num_stages=6, threads=128, split_k=4),
        dict(block_M=64, block_N=128, num_stages=4, threads=128, split_k=8),
    ],
}
COMBINE_M, COMBINE_N = 8, 128  # the tile of the kernel that sums split-K partials (both DSLs)
GROUP_M = 8  # tile rows visited together (grouped order), so that their B tiles stay in L2
H100_SMS = 132  # SMs of an H100 SXM: the persistent grid's size where no GPU can be asked
TMA_ALIGN = 16  # bytes: a TMA descriptor needs every row stride (and the base) a multiple of this
SCALE_ROWS_ALIGN = TMA_ALIGN // 4  # A's scales, transposed to fp32 (K/128, M): rows padded to 16 bytes


def block_n(config):
    """The tile's width: 128 (one B scale block) in the matched track, the config's in the best."""
    return config.get("block_N", BLOCK)


def smem_bytes(config, dtype, track="matched"):
    """The pipelined A and B tiles (1 byte an element) and the C tile: fp32 in the matched
    track (the promoted sum, staged for the store); in the best track the epilogue tile of its
    TMA store (bf16, fp32 for a split-K partial) and A's scales, pipelined with the tiles."""
    c, n = config, block_n(config)
    tiles = (c["block_M"] + n) * BLOCK * dtypes.BYTES[dtype] * c["num_stages"]
    if track == "matched":
        return tiles + c["block_M"] * n * 4
    out = 4 if c["split_k"] > 1 else dtypes.BYTES[C_DTYPE]
    return tiles + c["block_M"] * 4 * c["num_stages"] + c["block_M"] * n * out


def configs_for(dtype, track):
    """The configs that fit on the GPU (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype, track) <= SMEM_LIMIT]


def padded_rows(M):
    """M rounded up so that a row of A's transposed fp32 scales is a multiple of 16 bytes (TMA)."""
    return -(-M // SCALE_ROWS_ALIGN) * SCALE_ROWS_ALIGN


def workspace(shape, dtype, config, device, track="matched"):
    """Scratch both DSLs' kernels take after C: the fp32 partial products when a config splits
    K (one (M, N) slab per K slice); in the best track first A's scales decoded to fp32 and
    transposed, sa_t (K/128, padded M), so that a K-block's scales for a tile are one TMA
    box (DeepGEMM's MN-major scale layout; DeepGEMM asks its caller for it)."""
    M, N, K = shape["M"], shape["N"], shape["K"]
    scratch = {}
    if track == "best":
        scratch["sa_t"] = torch.empty(K // BLOCK, padded_rows(M), dtype=torch.float32, device=device)
    if config["split_k"] > 1:
        split_k_fits(M, config, COMBINE_M)
        scratch["partial"] = torch.empty(config["split_k"], M, N, dtype=torch.float32, device=device)
    return scratch


def tma_store_compatible(shape):
    """Whether TMA can store C (M, N) in bf16 and the fp32 partials: rows a multiple of 16
    bytes, N % 8 == 0. Not so for N=300 (600-byte rows): the best track then stores through
    pointers (both DSLs, this one rule). Its loads are always TMA: A's and B's rows are K bytes,
    K a multiple of 128, and sa_t's rows are padded to 16 bytes."""
    return all(r % TMA_ALIGN == 0 for r in (shape["N"] * dtypes.BYTES[C_DTYPE], shape["N"] * 4))


def num_sms():
    """The persistent grid's size: this GPU's SM count, or an H100's where there is none."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    return H100_SMS


def validate(shape):
    if shape["K"] % BLOCK:
        return f"K={shape['K']} must be a multiple of {BLOCK} (one scale per {BLOCK}-deep block)"
    return grid_refusal(K_blocks=shape["K"] // BLOCK)  # the best track's scale transpose: K-blocks on y


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
# `dslbench smoke`'s one shape (on the GPU and on the CPU paths): small, and every config's tiles (up to 128 x 256) fit, so each
# kernel it compiles is the one a real shape gets.
SMOKE_SHAPE = dict(M=128, N=256, K=512, ue8m0=1)

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
# `--suite headline` (and the start of gpu-full): DeepSeek-V3's fused QKV-down projection
# (N=2112, K=7168) and its q up-projection (N=24576, K=1536), 4096 tokens of prefill, with
# UE8M0 scales as DeepGEMM's Hopper path uses them.
HEADLINE_SUITE = [dict(M=4096, N=N, K=K, ue8m0=1) for N, K in LAYERS[:2]]


def headline(shape, dtype):
    """Whether a case is one of the headline's (HEADLINE_SUITE, in e4m3)."""
    return dtype == "e4m3" and dict(shape) in HEADLINE_SUITE
