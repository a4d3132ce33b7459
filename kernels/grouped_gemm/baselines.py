"""Vendor baselines for grouped_gemm.

- deepgemm: DeepSeek's DeepGEMM grouped FP8 GEMMs (contiguous and masked), e4m3 only, when
  importable (a GPU with deep_gemm installed).
- torch-grouped: torch._grouped_mm (bf16, contiguous layout: one offset per expert's padded
  rows), where the installed torch has it and a GPU runs it; its result is a new tensor, copied
  into C. The masked layout is skipped: it computes and writes every row, past the counts too.
- torch-loop: one torch.matmul per expert over its valid rows (C's other rows untouched); for
  e4m3 on the operands dequantized to bf16 (made once per input tensor and its values, outside
  the timed calls, as fp8_gemm's torch-bf16): the speed an FP8 kernel must beat. Runs anywhere.
"""
import torch

from kernels import Skip, gpu_baseline
from kernels.fp8_gemm.baselines import per_tensor
from kernels.fp8_gemm.spec import BLOCK, decode


@per_tensor
def bf16_operands(a, sa, b, sb):
    """(A, B) as bf16 values: e4m3 times its scales (kernels/grouped_gemm/spec.py dequantized)."""
    if a.dtype != torch.float8_e4m3fn:
        return a, b
    K, N = a.shape[-1], b.shape[1]
    scale_a = decode(sa).repeat_interleave(BLOCK, -1)[..., :K]
    scale_b = decode(sb).repeat_interleave(BLOCK, -2)[:, :N].repeat_interleave(BLOCK, -1)
    return (a.double() * scale_a).bfloat16(), (b.double() * scale_b).bfloat16()


@per_tensor
def expert_rows(grouped_layout, masked):
    """[(expert, first row, rows)] of every expert with tokens, read once per layout tensor."""
    layout = grouped_layout.tolist()
    if masked:
        return [(e, 0, n) for e, n in enumerate(layout) if n]
    out, start = [], 0
    for row, e in enumerate(layout + [-2]):
        if row == len(layout) or e != layout[start]:
            if layout[start] >= 0:
                out.append((layout[start], start, row - start))
            start = row
    return out


def torch_loop(a, sa, b, sb, grouped_layout, c, masked):
    a, b = bf16_operands(a, sa, b, sb)
    for e, start, n in expert_rows(grouped_layout, masked):
        if masked:
            torch.matmul(a[e, :n], b[e].T, out=c[e, :n])
        else:
            torch.matmul(a[start:start + n], b[e].T, out=c[start:start + n])


@per_tensor
def group_offsets(grouped_layout, experts):
    """torch._grouped_mm's offs: the end row of each expert's padded run (int32)."""
    ends = torch.zeros(experts, dtype=torch.int64, device=grouped_layout.device)
    rows = torch.arange(grouped_layout.numel(), device=grouped_layout.device)
    owner = torch.where(grouped_layout >= 0, grouped_layout.long(), torch.cummax(grouped_layout.long(), 0).values)
    ends.scatter_reduce_(0, owner, rows + 1, reduce="amax")
    return torch.cummax(ends, 0).values.to(torch.int32)


def torch_grouped(a, sa, b, sb, grouped_layout, c, masked):
    if a.dtype != torch.bfloat16:
        raise Skip("torch._grouped_mm is bf16 here: e4m3 runs as deepgemm and torch-loop")
    if masked:
        raise Skip("torch._grouped_mm computes and writes every row of the masked layout, past the counts too")
    c.copy_(torch._grouped_mm(a, b.transpose(1, 2), offs=group_offsets(grouped_layout, b.shape[0]),
                              out_dtype=torch.bfloat16))


def deepgemm(a, sa, b, sb, grouped_layout, c, masked):
    import deep_gemm

    if a.dtype != torch.float8_e4m3fn:
        raise Skip("DeepGEMM's grouped GEMMs here are its FP8 ones")
    scales_a, scales_b = decode(sa).float(), decode(sb).float()
    align = getattr(deep_gemm, "get_mn_major_tma_aligned_tensor", None) or deep_gemm.get_col_major_tma_aligned_tensor
    if masked:
        gemm = getattr(deep_gemm, "m_grouped_fp8_gemm_nt_masked", None) or deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_masked
        gemm((a, align(scales_a)), (b, scales_b), c, grouped_layout, max(1, int(grouped_layout.float().mean())))
    else:
        gemm = (getattr(deep_gemm, "m_grouped_fp8_gemm_nt_contiguous", None)
                or deep_gemm.m_grouped_gemm_fp8_fp8_bf16_nt_contiguous)
        gemm((a, align(scales_a)), (b, scales_b), c, grouped_layout)


deepgemm.unavailable = gpu_baseline("deep_gemm")


def grouped_mm_unavailable(dtype, device):
    if not hasattr(torch, "_grouped_mm"):
        return f"torch {torch.__version__} has no _grouped_mm"
    return gpu_baseline()(dtype, device)


torch_grouped.unavailable = grouped_mm_unavailable

BASELINES = {"deepgemm": deepgemm, "torch-grouped": torch_grouped, "torch-loop": torch_loop}
