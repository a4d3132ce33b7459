"""y = 2x in Triton, with a config that faults (a simulated sticky CUDA error): for the sweep's
handling of a config that breaks its process while autotuning."""
import triton
import triton.language as tl

from tests.fake_op.baselines import POISONED, STICKY, healthy


@triton.jit
def fake_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, 2 * tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


def fake(x, y, mode):
    healthy()
    if mode == "fault":
        POISONED.append(True)
        raise RuntimeError(STICKY)
    fake_kernel[(triton.cdiv(x.numel(), 64),)](x, y, x.numel(), BLOCK=64)
