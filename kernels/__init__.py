"""The kernels dslbench compares: one folder per op (its spec, then one file per DSL)."""
import contextlib
import importlib.util

SMEM_LIMIT = 227 * 1024  # bytes of shared memory one H100 (sm_90) block may use
GRID_YZ_MAX = 65535  # CUDA's largest grid along y and z (x takes 2^31 - 1)


COMPILING_FOR = []  # the CUDA arch caught launches are compiled for (compiling_for), innermost last


@contextlib.contextmanager
def compiling_for(arch):
    """While a wrapper's launches are caught (on meta or CPU tensors) to compile them for `arch`
    (sm_90a) without that GPU (`dslbench inspect`, the compile-ahead pool), cuda_major says
    that arch's."""
    COMPILING_FOR.append(arch)
    try:
        yield
    finally:
        COMPILING_FOR.pop()


def cuda_major(device):
    """The compute capability major of the GPU a launch on `device` targets: the device's own
    (9 on an H100), the arch its launches are being compiled for (compiling_for; sm_100a: 10),
    else 0 (the CPU paths, an AMD arch): what a wrapper picks its code path by (warp
    specialization)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0]
    arch = COMPILING_FOR[-1] if COMPILING_FOR else ""
    digits = "".join(ch for ch in arch if ch.isdigit()) if arch.startswith("sm_") else ""
    return int(digits) // 10 if digits else 0


def descriptor_scratch(size, alignment, stream):
    """Global memory for a Triton kernel's device-side TMA descriptors: the allocator its
    wrapper gives triton.set_allocator."""
    import torch

    return torch.empty(size, dtype=torch.int8, device="cuda")


def grid_refusal(**programs):
    """For validate(): the one-line problem when a launch would put more programs on a grid's
    y or z axis than CUDA takes (each keyword: what the kernels put there, and how many), else None."""
    for what, count in programs.items():
        if count > GRID_YZ_MAX:
            return (f"{what.replace('_', ' ')} = {count} programs on one grid axis (y or z); "
                    f"CUDA takes at most {GRID_YZ_MAX} there")
    return None


class Skip(Exception):
    """A backend that cannot run this case here (e.g. a baseline refusing a shape): the
    harness records it as `skipped: <reason>`, never as a failure."""


def split_k_fits(M, config, combine_M):
    """A split-K config's partials are summed by a kernel with row tiles of combine_M rows on
    grid y: a Skip (for both DSLs alike) when M has more of them than CUDA takes; the op's
    other configs still run."""
    tiles = -(-M // combine_M)
    if tiles > GRID_YZ_MAX:
        raise Skip(f"split_k={config['split_k']}: the partial sum's {tiles} row tiles exceed CUDA's "
                   f"{GRID_YZ_MAX} on grid y (M={M})")


def gpu_baseline(package=None, name=None):
    """`unavailable(dtype, device)` for a GPU-only baseline, optionally from a package that
    may be absent: the reason it cannot run here, or None."""
    def unavailable(dtype, device):
        if package and importlib.util.find_spec(package) is None:
            return f"{name or package} is not installed"
        return None if device == "cuda" else "needs a CUDA GPU (sm_90)"
    return unavailable
