"""Vendor baselines for matmul: torch.matmul (cuBLAS on a GPU, with TF32 for fp32 as the DSLs)."""
import torch


def torch_matmul(a, b, c):
    torch.matmul(a, b, out=c)


BASELINES = {"torch": torch_matmul}
