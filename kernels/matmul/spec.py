"""Matmul, described once: C = A·B with A (M, K), B (K, N), C (M, N).

Every backend and every test takes shapes, inputs, FLOPs, bytes, the float64 reference and
the tolerances from here. Both DSL kernels accumulate in fp32 and write C in the input dtype.
"""
import torch

from kernels import SMEM_LIMIT, dtypes

NAME = "matmul"
SHAPE_KEYS = ("M", "N", "K")
DTYPES = ("fp32", "fp16", "bf16")
GPU_DTYPES = ("bf16",)  # what `--suite gpu-full` runs (all of GPU_SUITE): the headline dtype
INPUTS = ("a", "b")
OUTPUTS = ("c",)
BASELINES = ("torch",)  # kernels/matmul/baselines.py: torch.matmul, i.e. cuBLAS on a GPU

# The tile configs both DSLs choose from: the same list, so the same tuning budget.
# threads = 32 * Triton's num_warps; 256 threads = two warpgroups, what Hopper's
# warpgroup MMA (wgmma) wants for 128-row tiles.
TRACKS = ("matched",)  # the kernel tracks this op has (README: two tracks)
CONFIGS = {
    "matched": [
        dict(block_M=128, block_N=256, block_K=64, num_stages=3, threads=256),
        dict(block_M=128, block_N=128, block_K=64, num_stages=4, threads=256),
        dict(block_M=128, block_N=128, block_K=32, num_stages=4, threads=128),
        dict(block_M=64, block_N=128, block_K=64, num_stages=4, threads=128),
    ],
}


def smem_bytes(config, dtype):
    """Shared memory the pipelined A and B tiles take: what rules a config out for fp32."""
    c = config
    tile = c["block_M"] * c["block_K"] + c["block_K"] * c["block_N"]
    return tile * dtypes.BYTES[dtype] * c["num_stages"]


def configs_for(dtype, track):
    """The configs that fit on the GPU for this dtype (the same filter for both DSLs)."""
    return [c for c in CONFIGS[track] if smem_bytes(c, dtype) <= SMEM_LIMIT]


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
CPU_SUITE = [
    dict(M=128, N=128, K=128),
    dict(M=1, N=256, K=96),
    dict(M=77, N=45, K=100),
    dict(M=129, N=255, K=63),
    dict(M=64, N=96, K=33),
]
# Square powers of two, then LLM layers (Llama-3-8B: hidden 4096, MLP 14336) at
# prefill (M=4096) and small-batch decode (M=16).
GPU_SUITE = [dict(M=s, N=s, K=s) for s in (1024, 2048, 4096, 8192)] + [
    dict(M=4096, N=14336, K=4096),
    dict(M=4096, N=4096, K=14336),
    dict(M=16, N=14336, K=4096),
    dict(M=16, N=4096, K=14336),
]

