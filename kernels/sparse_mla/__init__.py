"""DeepSeek Sparse Attention's sparse MLA forward: spec, Triton and TileLang kernels, vendor baselines."""
