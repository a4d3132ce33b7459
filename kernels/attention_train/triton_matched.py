"""One attention training step in Triton, matched track: the forward of kernels/attention/triton_matched.py,
then the backward of kernels/attention_bwd/triton_matched.py on the o and lse it wrote.

Each half is launched by its own op's host function at its half of the config
(spec.split_config), with its own technique list (see those files); chain.py runs them.
LAUNCHES_FROM names their modules, so that `dslbench inspect` and the cold-compile reset find
the kernels a step launches.
"""
from kernels.attention import triton_matched as forward
from kernels.attention_bwd import triton_matched as backward
from kernels.attention_train import chain
from kernels.attention_train.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)

LAUNCHES_FROM = (forward, backward)
attention_train_kernel = backward.attention_bwd_kernel  # the step's main kernel, as the harness names one per op
workspace = chain.backward_workspace(backward)
attention_train = chain.triton_step(forward, backward)
