"""Vendor baselines for sparse_mla.

- torch: gather + matmuls in eager torch, a slice of queries at a time: the selected kv rows
  of each query gathered into a (queries, topk, 576) tensor, scores and p·v as batched fp32
  matmuls (exact products of bf16 values; TF32 on a GPU keeps them exact too), unused slots
  masked to -inf, o rounded to bf16 at the end. Runs on the CPU too.
- flashmla: FlashMLA's sparse prefill kernel (flash_mla_sparse_fwd; one sequence per call,
  the batch is a loop), when importable. It takes 64 or 128 heads. Its lse convention changed
  between releases (base-2 log-sum-exp before January 2026, natural log since, and +inf for a
  query without a valid key): the installed one is found by a probe with a known answer
  (lse_convention), then converted to ours (natural log, -inf for a query without a key).
"""
import functools
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
    convention = lse_convention(q.device)
    for b in range(q.shape[0]):
        out, _, theirs = flash_mla_sparse_fwd(q[b], kv[b, :, None, :], indices[b, :, None, :], default_scale(), d_v=D_V)
        o[b].copy_(out)
        lse[b].copy_(natural_lse(theirs, convention))


LSE_TO_NATURAL = {"natural": 1.0, "base2": math.log(2)}


def natural_lse(theirs, convention):
    """FlashMLA's lse in ours: natural log, and -inf (log 0) for a query without a valid key,
    where FlashMLA writes an infinity of its own."""
    return torch.where(torch.isinf(theirs), float("-inf"), theirs * LSE_TO_NATURAL[convention])


def convention_of(theirs, truth):
    """'natural' or 'base2': which log-sum-exp `theirs` is, given the natural-log truth of the
    same rows; ValueError when it is neither (a third convention must not pass silently)."""
    for name, to_natural in LSE_TO_NATURAL.items():
        if torch.allclose(theirs.double() * to_natural, truth.double(), rtol=1e-3, atol=1e-3):
            return name
    raise ValueError(f"FlashMLA's lse is neither natural-log nor base-2 (got {theirs.flatten()[:4].tolist()}, "
                     f"expected natural {truth.flatten()[:4].tolist()})")


@functools.lru_cache(maxsize=None)
def lse_convention(device):
    """The installed FlashMLA's lse convention, from one small call whose answer is known."""
    from flash_mla import flash_mla_sparse_fwd

    from kernels.sparse_mla.spec import make_inputs, reference

    inputs = make_inputs(dict(B=1, Sq=4, Skv=64, H=64, topk=64), "bf16", seed=0, device=device)
    truth = reference(inputs)["lse"][0]
    _, _, theirs = flash_mla_sparse_fwd(inputs["q"][0], inputs["kv"][0, :, None, :], inputs["indices"][0, :, None, :],
                                        default_scale(), d_v=D_V)
    return convention_of(theirs, truth)


flashmla_sparse.unavailable = gpu_baseline("flash_mla", "flash_mla (FlashMLA)")

BASELINES = {"torch": torch_sparse, "flashmla": flashmla_sparse}
