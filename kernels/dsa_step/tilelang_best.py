"""One DeepSeek Sparse Attention step in TileLang, best track: the best indexer, the top-k, the
best sparse MLA (kernels/dsa_index/tilelang_best.py, kernels/sparse_mla/tilelang_best.py),
each compiled with its own pass configs, with sparse MLA's decode split and combine (its
workspace).

The factory returns both kernels; the host function chains them with the top-k between
(torch's, as in every backend: kernels/dsa_index/spec.py topk_indices), all three stages in
order or one of them (stage=, for the per-stage times). bench/run/backends.py compiles the
kernels and calls the host function.

SASS on sm_90a: 3 kernels, TMA load, setmaxnreg, no spills.
"""
from kernels.dsa_index import tilelang_best as indexer
from kernels.dsa_index.spec import topk_indices
from kernels.dsa_step.spec import CONFIGS, INDEX_DIM, INDEX_HEADS, mla_shape, split_config  # noqa: F401  (shared)
from kernels.sparse_mla import tilelang_best as attention


def workspace(shape, dtype, config, device):
    """Sparse MLA's decode partials (none at prefill)."""
    return attention.workspace(mla_shape(shape), dtype, split_config(config)[1], device)


def dsa_step_kernel(B, Sq, Skv, H, topk, dtype, **config):
    """{"index": (the indexer's prim_func, its pass configs), "mla": (sparse MLA's, its)} for
    one shape and config; dtype is the attention's (the indexer's is FP8, or "float32" on
    the C backend, which has neither type: the harness's emulation)."""
    index_config, mla_config = split_config(config)
    index_dtype = "float32" if dtype == "float32" else "float8_e4m3fn"
    return {"index": (indexer.dsa_index_kernel(B, Sq, Skv, INDEX_HEADS, INDEX_DIM, index_dtype, **index_config),
                      getattr(indexer, "PASS_CONFIGS", {})),
            "mla": (attention.sparse_mla_kernel(B, Sq, Skv, H, topk, dtype, **mla_config),
                    getattr(attention, "PASS_CONFIGS", {}))}


def dsa_step(kernels, iq, iw, ik, iks, q, kv, score, indices, o, lse, *workspace, stage=None):
    """score, indices, o, lse of one step with the compiled kernels; stage: None for all
    three, or "index", "topk", "mla" for one (on what the others left). workspace: sparse
    MLA's decode partials, when it splits."""
    if stage in (None, "index"):
        kernels["index"](iq, iw, ik, iks, score)
    if stage in (None, "topk"):
        indices.copy_(topk_indices(score, indices.shape[-1]))
    if stage in (None, "mla"):
        kernels["mla"](q, kv, indices, o, lse, *workspace)
