"""One DeepSeek Sparse Attention step (indexer -> top-k -> sparse MLA): spec, each DSL's chain, baselines."""
