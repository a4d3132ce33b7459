"""Vendor baseline for act_quant: the same formula in eager torch (several kernels on a GPU,
where DeepSeek's inference code has only its fused kernel; a floor for the DSLs to beat)."""
import torch

from kernels.act_quant.spec import AMAX_FLOOR, FP8_MAX, FP8_MAX_INV, GROUP, pow2_ceil


def torch_act_quant(x, y, s, ue8m0):
    M, N = x.shape
    groups = x.float().view(M, N // GROUP, GROUP)
    scale = groups.abs().amax(dim=-1).clamp_min(AMAX_FLOOR) * FP8_MAX_INV  # an fp32 multiply
    if ue8m0:
        scale = pow2_ceil(scale)
    y.copy_((groups / scale[..., None]).clamp(-FP8_MAX, FP8_MAX).view(M, N))
    s.copy_(scale)


BASELINES = {"torch": torch_act_quant}
