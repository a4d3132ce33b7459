"""Vendor baselines for sparse_mla.

- torch: gather + matmuls in eager torch, a slice of queries at a time: the selected kv rows
  of each query gathered into a (queries, topk, 576) tensor, scores and p·v as batched fp32
  matmuls (exact products of bf16 values; TF32 on a GPU keeps them exact too), unused slots
  masked to -inf, o rounded to bf16 at the end. Runs on the CPU too.
- flashmla: FlashMLA's sparse prefill kernel (flash_mla_sparse_fwd; one sequence per call,
  the batch is a loop), when importable. It takes 64 or 128 heads; its lse is base 2.
"""
import math

import torch

from kernels import Skip, gpu_baseline
from kernels.sparse_mla.spec import D_V, default_scale, valid_slots

TORCH_CHUNK = 1 << 28  # gathered fp32 elements per slice of queries: 1 GiB


def torch_sparse(q, kv, indices, o, lse):
    B, Sq, H, Dqk = q.shape
    Skv, topk = kv.shape[1], indices.shape[2]
    step = max(1, TORCH_CHUNK // (topk * Dqk))
    for b in range(B):
        for i0 in range(0, Sq, step):
            rows = slice(i0, min(Sq, i0 + step))
            valid = valid_slots(indices[b, rows], Skv)
            keys = kv[b][torch.where(valid, indices[b, rows], 0).long()].float()  # (r, topk, 576)
            scores = torch.matmul(q[b, rows].float(), keys.transpose(1, 2)) * default_scale()  # (r, H, topk)
            scores.masked_fill_(~valid[:, None, :], float("-inf"))
            row_lse = torch.logsumexp(scores, dim=-1)
            p = torch.exp(scores - row_lse[..., None]).masked_fill_(~valid[:, None, :], 0.0)
            o[b, rows] = torch.matmul(p, keys[..., :D_V]).to(o.dtype)
            lse[b, rows] = row_lse


def flashmla_sparse(q, kv, indices, o, lse):
    from flash_mla import flash_mla_sparse_fwd

    H = q.shape[2]
    if H not in (64, 128):
        raise Skip(f"FlashMLA's sparse kernel takes 64 or 128 heads, not {H}")
    for b in range(q.shape[0]):
        out, _, lse2 = flash_mla_sparse_fwd(q[b], kv[b, :, None, :], indices[b, :, None, :], default_scale(), d_v=D_V)
        o[b].copy_(out)
        lse[b].copy_(lse2 * math.log(2))  # base 2 -> natural


flashmla_sparse.unavailable = gpu_baseline("flash_mla", "flash_mla (FlashMLA)")

BASELINES = {"torch": torch_sparse, "flashmla": flashmla_sparse}
