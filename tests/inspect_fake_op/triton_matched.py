"""y = 2x in Triton; the wrapper's `mode` decides whether it launches one kernel, two, none, or crashes."""
import os

import triton
import triton.language as tl


@triton.jit
def fake_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    """y = 2x, BLOCK elements per program."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, 2 * tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


@triton.jit
def halve_kernel(y_ptr, n, BLOCK: tl.constexpr):
    """y = y / 2 in place: a second pass, as a split-KV combine follows its partial pass."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(y_ptr + offs, mask=offs < n) / 2, mask=offs < n)


def fake(x, y, mode):
    if mode == "crash":  # a compiler crash takes its process down like this
        os._exit(3)
    if mode in ("ok", "two_kernels"):
        fake_kernel[(triton.cdiv(x.numel(), 1024),)](x, y, x.numel(), BLOCK=1024)
    if mode == "two_kernels":
        halve_kernel[(triton.cdiv(x.numel(), 256),)](y, x.numel(), BLOCK=256, num_warps=2)
    return y
