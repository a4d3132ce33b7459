"""The kernels dslbench compares: one folder per op (its spec, then one file per DSL)."""
import importlib.util

SMEM_LIMIT = 227 * 1024  # bytes of shared memory one H100 (sm_90) block may use


class Skip(Exception):
    """A backend that cannot run this case here (e.g. a baseline refusing a shape): the
    harness records it as `skipped: <reason>`, never as a failure."""


def gpu_baseline(package=None, name=None):
    """`unavailable(dtype, device)` for a GPU-only baseline, optionally from a package that
    may be absent: the reason it cannot run here, or None."""
    def unavailable(dtype, device):
        if package and importlib.util.find_spec(package) is None:
            return f"{name or package} is not installed"
        return None if device == "cuda" else "needs a CUDA GPU (sm_90)"
    return unavailable
