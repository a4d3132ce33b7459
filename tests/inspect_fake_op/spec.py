"""A tiny op for testing `dslbench inspect` itself: the sweep's fake op (y = 2x), but with
a Triton wrapper that behaves by config (triton_matched.py): launches one kernel or two,
forgets to launch, or kills its process."""
from tests.fake_op.spec import (  # noqa: F401  (the op's description, shared)
    DTYPES, INPUTS, NAME, OUTPUTS, SHAPE_KEYS, TOLERANCE, bytes_moved, flops, kernel_flags, make_inputs,
    make_outputs, reference, validate,
)

CONFIGS = [dict(mode="ok"), dict(mode="two_kernels"), dict(mode="no_launch"), dict(mode="crash")]
GPU_SUITE = [dict(N=4096)]
CPU_SUITE = GPU_SUITE


def configs_for(dtype, track):
    return CONFIGS
