"""dslbench: the harness and CLI that run the same kernels in Triton and TileLang."""
