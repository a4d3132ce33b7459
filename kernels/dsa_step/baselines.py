"""Vendor baselines for dsa_step: each chains its indexer, the shared top-k and its sparse MLA.

- torch: kernels/dsa_index's and kernels/sparse_mla's torch baselines (eager torch; the CPU too).
- deepgemm-flashmla: DeepGEMM's fp8_mqa_logits (DeepSeek's indexer kernel) and FlashMLA's
  flash_mla_sparse_fwd (its sparse prefill kernel), when both are importable; FlashMLA takes
  64 or 128 heads (kernels/sparse_mla/baselines.py).
"""
from kernels import gpu_baseline
from kernels.dsa_index import baselines as index
from kernels.dsa_index.spec import topk_indices
from kernels.sparse_mla import baselines as attention


def chain(index_fn, mla_fn):
    """A host function for the step from an indexer and a sparse MLA baseline; stage= as the
    DSL backends' (None: every stage)."""
    def step(iq, iw, ik, iks, q, kv, score, indices, o, lse, topk, stage=None):
        if stage in (None, "index"):
            index_fn(iq, iw, ik, iks, score)
        if stage in (None, "topk"):
            indices.copy_(topk_indices(score, topk))
        if stage in (None, "mla"):
            mla_fn(q, kv, indices, o, lse)
    return step


torch_step = chain(index.torch_index, attention.torch_sparse)
vendor_step = chain(index.deepgemm_index, attention.flashmla_sparse)


def vendor_unavailable(dtype, device):
    return gpu_baseline("deep_gemm")(dtype, device) or gpu_baseline("flash_mla", "flash_mla (FlashMLA)")(dtype, device)


vendor_step.unavailable = vendor_unavailable

BASELINES = {"torch": torch_step, "deepgemm-flashmla": vendor_step}
