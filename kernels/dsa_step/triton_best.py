"""One DeepSeek Sparse Attention step in Triton, best track: the best indexer, the top-k, the
best sparse MLA (kernels/dsa_index/triton_best.py, kernels/sparse_mla/triton_best.py), with
sparse MLA's decode split and combine (its workspace).

The host function runs the stages in order, or one of them (stage=, for the per-stage times);
the top-k is torch's, as in every backend (kernels/dsa_index/spec.py: topk_indices). The
kernels are launched under this module's names for them, so that `dslbench inspect` reads
all three (it swaps a module's @triton.jit kernels for recorders).

SASS on sm_90a: 3 kernels, TMA load, cp.async, no spills.
"""
from kernels.dsa_index import triton_best as indexer
from kernels.dsa_index.spec import topk_indices
from kernels.dsa_index.triton_best import dsa_index_kernel
from kernels.dsa_step.spec import CONFIGS, mla_shape, split_config  # noqa: F401  (CONFIGS: shared)
from kernels.sparse_mla import triton_best as attention
from kernels.sparse_mla.triton_best import sparse_mla_combine_kernel, sparse_mla_kernel

dsa_step_kernel = sparse_mla_kernel  # the step's main kernel, as the harness names one per op


def workspace(shape, dtype, config, device):
    """Sparse MLA's decode partials (none at prefill)."""
    return attention.workspace(mla_shape(shape), dtype, split_config(config)[1], device)


def dsa_step(iq, iw, ik, iks, q, kv, score, indices, o, lse, topk, o_partial=None, lse_partial=None, stage=None,
             **config):
    """score, indices, o, lse of one step (spec.py) into the preallocated outputs; stage:
    None for all three, or "index", "topk", "mla" for one (on what the others left)."""
    index_config, mla_config = split_config(config)
    if stage in (None, "index"):
        indexer.launch(dsa_index_kernel, iq, iw, ik, iks, score, **index_config)
    if stage in (None, "topk"):
        indices.copy_(topk_indices(score, topk))
    if stage in (None, "mla"):
        attention.launch(sparse_mla_kernel, sparse_mla_combine_kernel, q, kv, indices, o, lse, **mla_config,
                         o_partial=o_partial, lse_partial=lse_partial)
    return score, indices, o, lse
