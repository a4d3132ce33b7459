"""One DeepSeek Sparse Attention step end to end (indexer -> top-k -> sparse MLA): spec, each DSL's chain of its kernels, baselines."""
