"""One attention training step in TileLang, best track: the forward of kernels/attention/tilelang_best.py,
then the backward of kernels/attention_bwd/tilelang_best.py on the o and lse it wrote.

The factory returns the forward's kernel and the backward's, each compiled with its own
module's pass configs at its half of the config (spec.split_config); chain.py builds and runs
them.
"""
from kernels.attention import tilelang_best as forward
from kernels.attention_bwd import tilelang_best as backward
from kernels.attention_train import chain
from kernels.attention_train.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)

workspace = chain.backward_workspace(backward)
attention_train_kernel, attention_train = chain.tilelang_step(forward, backward)
