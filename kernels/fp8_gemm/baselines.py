"""Vendor baselines for fp8_gemm.

- torch-bf16: cuBLAS bf16 GEMM (torch.matmul) on the operands dequantized to bf16: the
  speed an FP8 kernel must beat to be worth its error. The dequantized copies are made once
  per input tensor and its values, outside the timed calls (what a bf16 model would hold in memory).
- scaled-mm: torch._scaled_mm with these 1x128 / 128x128 block scales (cuBLAS's
  block-scaled FP8 GEMM on sm_90), where the installed torch supports it.
- deepgemm: DeepSeek's DeepGEMM, when importable.
Layouts and decoded scales are prepared once per input tensor too. A tensor written in place
(the harness's second call on other inputs: bench/run/guards.py) bumps its version counter, so
its prepared forms are made again: a cache may save work, never answer for other values.
"""
import functools

import torch

from kernels import Skip, gpu_baseline
from kernels.fp8_gemm.spec import BLOCK, decode, dequantize

CACHE = 8  # prepared forms kept (one case's, with room)


def per_tensor(fn):
    """fn(*args) computed once per set of input tensors (by identity and version: an in-place
    write makes it anew), then reused."""
    cache = {}

    @functools.wraps(fn)
    def cached(*args):
        key = tuple((id(x), x._version) if isinstance(x, torch.Tensor) else x for x in args)
        if key not in cache:
            if len(cache) >= CACHE:
                cache.clear()
            cache[key] = (args, fn(*args))  # holding args keeps their ids from being reused
        return cache[key][1]
    return cached


@per_tensor
def bf16_operand(x, s, block_rows):
    return dequantize(x, s, block_rows).to(torch.bfloat16)


@per_tensor
def fp32_scales(s, outer_major):
    """Scales as fp32 values; outer_major: stored column-major, as 1x128 scales must be."""
    s = decode(s).float()
    return s.t().contiguous().t() if outer_major else s


def torch_bf16(a, sa, b, sb, c):
    torch.matmul(bf16_operand(a, sa, 1), bf16_operand(b, sb, BLOCK).T, out=c)


def torch_scaled_mm(a, sa, b, sb, c):
    try:
        torch._scaled_mm(a, b.T, scale_a=fp32_scales(sa, True), scale_b=fp32_scales(sb, False).T,
                         out_dtype=torch.bfloat16, out=c)
    except (RuntimeError, TypeError) as exc:  # this torch/cuBLAS lacks block-scaled FP8
        raise Skip(f"torch {torch.__version__}: _scaled_mm rejects 1x128/128x128 scales: "
                   f"{str(exc).splitlines()[0][:160]}") from None


def deepgemm(a, sa, b, sb, c):
    import deep_gemm

    gemm = getattr(deep_gemm, "fp8_gemm_nt", None) or deep_gemm.gemm_fp8_fp8_bf16_nt
    align = getattr(deep_gemm, "get_mn_major_tma_aligned_tensor", None) or deep_gemm.get_col_major_tma_aligned_tensor
    gemm((a, align(fp32_scales(sa, False))), (b, fp32_scales(sb, False)), c)


torch_scaled_mm.unavailable = gpu_baseline()
deepgemm.unavailable = gpu_baseline("deep_gemm")

BASELINES = {"torch-bf16": torch_bf16, "scaled-mm": torch_scaled_mm, "deepgemm": deepgemm}
