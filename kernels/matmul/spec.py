"""Matmul, described once: C = A·B with A (M, K), B (K, N), C (M, N).

Every backend and every test takes shapes, inputs, FLOPs, bytes, the float64 reference and
the tolerances from here. Both DSL kernels accumulate in fp32 and write C in the input dtype.
"""
import torch

from kernels import SMEM_LIMIT, dtypes, split_k_fits

NAME = "matmul"
SHAPE_KEYS = ("M", "N", "K")
DTYPES = ("fp32", "fp16", "bf16")
GPU_DTYPES = ("bf16",)  # what `--suite gpu-full` runs (all of GPU_SUITE): the headline dtype
INPUTS = ("a", "b")
OUTPUTS = ("c",)
BASELINES = ("torch",)  # kernels/matmul/baselines.py: torch.matmul, i.e. cuBLAS on a GPU

# The tile configs both DSLs choose from: one list per track, the same list for both DSLs, so
# the same tuning budget. threads = 32 * Triton's num_warps (the consumer threads in the best
# track: TileLang's warp-specialized pipeline adds a producer warpgroup of its own); 256
# threads = two warpgroups, what Hopper's warpgroup MMA (wgmma) wants for 128-row tiles.
# split_k > 1 cuts K into that many slices, each computed by its own block into an fp32
# partial (the workspace below) and summed by a second kernel in a fixed order (both DSLs the
# same way, deterministic): what fills 132 SMs for decode shapes such as M=16, N=14336,
# K=4096, where 64 x 128 tiles alone make 112 blocks. block_M=64 is the smallest tile that
# keeps Hopper's warpgroup MMA (64 rows per warpgroup); decode GEMMs are bound by reading B,
# so the rows a 64-row tile computes past M=16 cost no time that matters.
TRACKS = ("matched", "best")  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_M=128, block_N=256, block_K=64, num_stages=3, threads=256, split_k=1),
        dict(block_M=128, block_N=128, block_K=64, num_stages=4, threads=256, split_k=1),
        dict(block_M=64, block_N=128, block_K=64, num_stages=4, threads=128, split_k=1),
        dict(block_M=64, block_N=128, block_K=64, num_stages=4, threads=128, split_k=4),
        dict(block_M=64, block_N=64, block_K=128, num_stages=4, threads=128, split_k=8),
    ],
    # (bf16 is inspected at the third config, fp16 at the second: a 256- and a 128-thread tile)
    "best": [
        dict(block_M=128, block_N=256, block_K=64, num_stages=3, threads=256, split_k=1),
        dict(block_M=64, block_N=128, block_K=64, num_stages=6, threads=128, split_k=1),
        dict(block_M=128, block_N=128, block_K=64, num_stages=4, threads=256, split_k=1),
        dict(block_M=64, block_N=128, block_K=64, num_stages=4, threads=128, split_k=4),
        dict(block_M=64, block_N=64, block_K=128, num_stages=4, threads=128, split_k=8),
    ],
}
COMBINE_M, COMBINE_N = 8, 128  # the tile of the kernel that sums split-K partials (both DSLs): 8 values a thread
GROUP_M = 8  # tile rows visited together (grouped order), so that their B tiles stay in L2
H100_SMS = 132  # SMs of an H100 SXM: the persistent grid's size where no GPU can be asked
TMA_ALIGN = 16  # bytes: a TMA descriptor needs every row stride (and the base) a multiple of this


def smem_bytes(config, dtype, track="matched"):
    """Shared memory a config takes: the pipelined A and B tiles; in the best track also the
    epilogue tile its TMA store goes through (fp32 when it holds a split-K partial), which a
    persistent kernel keeps apart from the pipeline. What rules a config out for fp32."""
    c = config
    tile = c["block_M"] * c["block_K"] + c["block_K"] * c["block_N"]
    pipeline = tile * dtypes.BYTES[dtype] * c["num_stages"]
    if track == "matched":
        return pipeline  # the epilogue reuses the pipeline's buffers in both DSLs
    out_bytes = 4 if c["split_k"] > 1 else dtypes.BYTES[dtype]
    return pipeline + c["block_M"] * c["block_N"] * out_bytes


def configs_for(dtype, track):
    """The configs that fit on the GPU for this dtype (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype, track) <= SMEM_LIMIT]


def workspace(shape, dtype, config, device):
    """Scratch both DSLs' kernels take after C when a config splits K: the fp32 partial
    products, one (M, N) slab per K slice, summed into C by the second kernel."""
    if config["split_k"] == 1:
        return {}
    split_k_fits(shape["M"], config, COMBINE_M)
    return {"partial": torch.empty(config["split_k"], shape["M"], shape["N"], dtype=torch.float32, device=device)}


def tma_compatible(shape, itemsize):
    """Whether TMA can address A (M, K), B (K, N), C (M, N) and the fp32 partials, for
    elements of `itemsize` bytes: every row stride a multiple of 16 bytes. Not so for, e.g.,
    K=100 in fp16 (200-byte rows of A): the best track then loads and stores through
    pointers instead (both DSLs, this one rule)."""
    rows = (shape["K"] * itemsize, shape["N"] * itemsize, shape["N"] * 4)
    return all(r % TMA_ALIGN == 0 for r in rows)


def num_sms():
    """The persistent grid's size: this GPU's SM count, or an H100's where there is none
    (the CPU paths, compile-only inspect)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    return H100_SMS


def validate(shape):
    """Constraints beyond 'every dimension is an integer >= 1': none for matmul."""


def kernel_flags(shape):
    """Arguments other than tensors and tile sizes that the kernels take: none."""
    return {}


def make_inputs(shape, dtype, seed, device="cpu"):
    """Seeded standard-normal A and B (never zeros), in `dtype`."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    a = torch.randn(shape["M"], shape["K"], generator=g, dtype=torch.float32)
    b = torch.randn(shape["K"], shape["N"], generator=g, dtype=torch.float32)
    t = dtypes.TORCH[dtype]
    return {"a": a.to(device=device, dtype=t), "b": b.to(device=device, dtype=t)}


def make_outputs(shape, dtype, device="cpu"):
    """C, poisoned with NaN so that an element the kernel never writes cannot pass."""
    return {"c": torch.full((shape["M"], shape["N"]), float("nan"), dtype=dtypes.TORCH[dtype], device=device)}


def reference(inputs):
    """The float64 truth: A·B in float64, on the inputs' device."""
    return {"c": inputs["a"].double() @ inputs["b"].double()}


def flops(shape):
    return 2 * shape["M"] * shape["N"] * shape["K"]


def bytes_moved(shape, dtype):
    """Compulsory traffic: read A and B once, write C once."""
    M, N, K = shape["M"], shape["N"], shape["K"]
    return (M * K + K * N + M * N) * dtypes.BYTES[dtype]


# Allowed error, as (normwise relative, max-abs relative to max|C_ref|). The output is
# rounded to `dtype` (unit roundoff u: 2^-11 fp16, 2^-8 bf16), so the normwise error is
# about u/sqrt(3); the bounds leave ~4x room. fp32 is sized for TF32 tensor cores
# (10-bit mantissa), which both DSLs use for fp32 dots on a GPU.
TOLERANCE = {
    "fp32": (1e-3, 4e-3),
    "fp16": (1e-3, 4e-3),
    "bf16": (8e-3, 3e-2),
}

# Shapes: multiples of the block, M=1 (a decode step), ragged, K smaller than the block.
# `dslbench smoke`'s one shape (on the GPU and on the CPU paths): small, and every config's tiles (up to 128 x 256, block_K 128) fit, so each
# kernel it compiles is the one a real shape gets.
SMOKE_SHAPE = dict(M=256, N=256, K=256)

CPU_SUITE = [
    dict(M=128, N=128, K=128),
    dict(M=1, N=256, K=96),
    dict(M=77, N=45, K=100),
    dict(M=129, N=255, K=63),
    dict(M=64, N=96, K=33),
]
# Square powers of two, then LLM layers (Llama-3-8B: hidden 4096, MLP 14336) at
# prefill (M=4096) and small-batch decode (M=16).
# `--suite headline` (and the start of gpu-full): what a short GPU window must answer, cuBLAS
# beside both DSLs in both tracks: square bf16 GEMMs at 4k and 8k, a Llama-3-8B MLP up-projection
# (4096 tokens), and the same layer at decode (16 tokens).
HEADLINE_SUITE = [dict(M=4096, N=4096, K=4096), dict(M=8192, N=8192, K=8192),
                  dict(M=4096, N=14336, K=4096), dict(M=16, N=14336, K=4096)]


def headline(shape, dtype):
    """Whether a case is one of the headline's (HEADLINE_SUITE, in bf16)."""
    return dtype == "bf16" and dict(shape) in HEADLINE_SUITE


GPU_SUITE = [dict(M=s, N=s, K=s) for s in (1024, 2048, 4096, 8192)] + [
    dict(M=4096, N=14336, K=4096),
    dict(M=4096, N=4096, K=14336),
    dict(M=16, N=14336, K=4096),
    dict(M=16, N=4096, K=14336),
]

