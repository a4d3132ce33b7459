"""TileLang deprecates the pass config tl.disable_tma_lower that our matched kernels set (it is
still accepted, 'temporarily re-enabled for backward compatibility')."""
DSL = "tilelang"
FOUND_IN = "0.1.15"
KIND = "limit"
TITLE = "the pass config tl.disable_tma_lower is deprecated in favour of T.copy(..., disable_tma=True) per copy"
EXPECTED = ("one stable kernel-wide switch for the matched track's code path (every T.copy as cp.async or "
            "plain loads/stores, no TMA), as our matched kernels' PASS_CONFIGS assume")
ACTUAL = ("tilelang.jit / compile (normalize_pass_configs) warn DeprecationWarning '`tl.disable_tma_lower` "
          "is deprecated. Use `T.copy(..., disable_tma=True)` per-copy instead.'; PassConfigKey documents it "
          "as 'Temporarily re-enabled for backward compatibility' and as preventing plain T.copy from "
          "lowering to a TMA store only: for sm_90a a T.Pipelined GEMM under it alone still loads by TMA "
          "(warp specialized); its loads become cp.async only with tl.disable_warp_specialized (which our "
          "matched kernels also set). PASS_CONFIGS of the matched attention, attention_bwd, act_quant, "
          "dsa_index, fp8_gemm, grouped_gemm, matmul and sparse_mla TileLang kernels use it")
WORKAROUND = []  # none yet: the kernels still set the flag (moving to per-copy disable_tma is pending)
HOW = "normalize {'tl.disable_tma_lower': True} as tilelang.jit does and record the warnings (no lowering)"


def reproduce():
    import warnings

    from tilelang.transform.pass_config import normalize_pass_configs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        normalized = normalize_pass_configs({"tl.disable_tma_lower": True})
    if normalized.get("tl.disable_tma_lower") is not True:  # dropped or renamed: the finding needs a new look
        raise AssertionError(f"tl.disable_tma_lower is no longer passed through: {normalized}")
    return any(issubclass(w.category, DeprecationWarning)
               and "`tl.disable_tma_lower` is deprecated" in str(w.message) for w in caught)
