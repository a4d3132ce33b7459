"""One attention training step in TileLang, matched track: the forward of kernels/attention/tilelang_matched.py,
then the backward of kernels/attention_bwd/tilelang_matched.py on the o and lse it wrote.

The factory returns the forward's kernel and the backward's, each compiled with its own
module's pass configs at its half of the config (spec.split_config); chain.py builds and runs
them.
"""
from kernels.attention import tilelang_matched as forward
from kernels.attention_bwd import tilelang_matched as backward
from kernels.attention_train import chain
from kernels.attention_train.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)

workspace = chain.backward_workspace(backward)
attention_train_kernel, attention_train = chain.tilelang_step(forward, backward)
