"""Vendor baselines for dsa_index.

- torch: the formula in eager torch: fp32 matmuls on the e4m3 values (exact in fp32, and in
  TF32 on a GPU: three mantissa bits), ReLU, the weighted head sum as a batched matmul, the
  key scales, then the mask. Naive on purpose: every key is scored, masked or not, a slice
  of queries at a time (as many (query, head, key) logits as fit in ~1 GiB). Runs on the CPU too.
- deepgemm: DeepGEMM's fp8_mqa_logits, DeepSeek's own indexer kernel (one sequence per
  call: the batch is a loop), given each query's visible key range [0, i + Skv - Sq].
"""
import torch

from kernels import gpu_baseline
from kernels.attention.spec import visible

TORCH_CHUNK = 1 << 28  # fp32 logits per slice of queries: 1 GiB


def torch_index(q, w, k, ks, score):
    B, Sq, H, D = q.shape
    Skv = k.shape[1]
    step = max(1, TORCH_CHUNK // (H * Skv))
    for b in range(B):
        kf = k[b].float()
        for i0 in range(0, Sq, step):
            i1 = min(Sq, i0 + step)
            logits = torch.matmul(q[b, i0:i1].float(), kf.T).relu_()  # (rows, H, Skv)
            s = torch.bmm(w[b, i0:i1, None, :], logits)[:, 0] * ks[b]
            rows = torch.arange(i0, i1, device=q.device)
            score[b, i0:i1] = s.masked_fill_(~visible(Sq, Skv, True, rows, q.device), float("-inf"))


def deepgemm_index(q, w, k, ks, score):
    import deep_gemm

    B, Sq, _, _ = q.shape
    Skv = k.shape[1]
    starts = torch.zeros(Sq, dtype=torch.int32, device=q.device)
    ends = (torch.arange(Sq, dtype=torch.int32, device=q.device) + (Skv - Sq + 1)).clamp_(0, Skv)
    for b in range(B):
        logits = deep_gemm.fp8_mqa_logits(q[b], (k[b], ks[b]), w[b], starts, ends, clean_logits=True)
        score[b].copy_(logits[:, :Skv])  # some versions pad the key dimension


deepgemm_index.unavailable = gpu_baseline("deep_gemm")

BASELINES = {"torch": torch_index, "deepgemm": deepgemm_index}
