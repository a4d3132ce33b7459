"""A tiny op for testing `dslbench inspect` itself: y = 2x, whose Triton wrapper misbehaves on
purpose, by config (triton.py): launches, forgets to launch, or kills its process."""
import torch

NAME = "fake"
SHAPE_KEYS = ("N",)
DTYPES = ("fp32",)
INPUTS = ("x",)
OUTPUTS = ("y",)
CONFIGS = [dict(mode="ok"), dict(mode="no_launch"), dict(mode="crash")]
GPU_SUITE = [dict(N=4096)]
CPU_SUITE = GPU_SUITE


def configs_for(dtype):
    return CONFIGS


def kernel_flags(shape):
    return {}


def make_inputs(shape, dtype, seed, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(shape["N"], generator=g).to(device)}


def make_outputs(shape, dtype, device="cpu"):
    return {"y": torch.full((shape["N"],), float("nan"), device=device)}
