"""Attention forward (FlashAttention-2 style): spec, Triton and TileLang kernels, vendor baselines."""
