"""DeepSeek Sparse Attention's lightning indexer (FP8 scores): spec, Triton and TileLang kernels, baselines."""
