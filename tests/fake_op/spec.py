"""A tiny op for testing the sweep itself: its baselines misbehave on purpose (baselines.py)."""
import torch

NAME = "fake"
SHAPE_KEYS = ("N",)
DTYPES = ("fp32",)
INPUTS = ("x",)
OUTPUTS = ("y",)
BASELINES = ("ok", "abort", "hang", "raise", "mistake", "poison", "slow", "wrong", "once")
# triton-matched (triton_matched.py): its first config faults, its second is right.
CONFIGS = [dict(mode="fault"), dict(mode="double")]
TOLERANCE = {"fp32": (1e-6, 1e-6)}
CPU_SUITE = [dict(N=n) for n in (3, 5, 8)]
GPU_SUITE = CPU_SUITE


def configs_for(dtype, track):
    return CONFIGS


def validate(shape):
    return None


def kernel_flags(shape):
    return {}


def make_inputs(shape, dtype, seed, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(shape["N"], generator=g).to(device)}


def make_outputs(shape, dtype, device="cpu"):
    return {"y": torch.full((shape["N"],), float("nan"), device=device)}


def reference(inputs):
    return {"y": 2 * inputs["x"].double()}


def flops(shape):
    return shape["N"]


def bytes_moved(shape, dtype):
    return 8 * shape["N"]
