"""TileLang's CUDA JIT, the path a GPU run takes, built in CI without a GPU: every op's TileLang
kernel of every track goes through tilelang.compile for sm_90a (nvcc builds the device code, the
host launcher library is built too), up to loading onto the device."""
import shutil
from concurrent.futures import ProcessPoolExecutor
import multiprocessing

import pytest

from bench.core import ops
from tests.conftest import COMPILE_GROUP

pytestmark = COMPILE_GROUP

CASES = [(op, b) for op in ops.OPS for b in ops.dsl_backends(ops.load_spec(op), dsls=("tilelang",))]


def nvcc_missing():
    from bench.inspect.toolchain import cuda_root

    return shutil.which("nvcc") is None and cuda_root() is None


def build(op, backend):
    """Compile one kernel with TileLang's JIT for sm_90a: (backend, kernel name, source length)."""
    from bench.inspect import inspect_shape
    from bench.run import backends

    spec = ops.load_spec(op)
    dtype = spec.DTYPES[-1]
    config = spec.configs_for(dtype, ops.split_backend(backend)[1])[0]
    kernel = backends.tilelang_compile(spec, backend, dtype, inspect_shape(spec), config, None,
                                       {"kind": "cuda", "arch": "sm_90a"})  # a dict for several kernels
    kernels = kernel.values() if isinstance(kernel, dict) else [kernel]
    return backend, "\n".join(k.get_kernel_source() for k in kernels)


@pytest.fixture(scope="module")
def built():
    if nvcc_missing():
        pytest.skip("no nvcc here (the `inspect` extra or a CUDA toolkit brings it)")
    context = multiprocessing.get_context("spawn")  # fresh processes: no Triton interpreter state
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = {case: pool.submit(build, *case) for case in CASES}
        return {case: f.exception() or f.result() for case, f in futures.items()}


@pytest.mark.parametrize("op,backend", CASES, ids=[f"{op}-{b}" for op, b in CASES])
def test_tilelang_jit_builds_for_hopper(built, op, backend):
    result = built[op, backend]
    assert not isinstance(result, BaseException), f"{op} {backend}: {result!r}"
    assert "__global__" in result[1]
