"""Every op's SMOKE_SHAPE builds for Hopper with both DSLs, as `dslbench smoke` on a GPU builds it.

The GPU image's first command is smoke: a kernel that does not build at its smoke shape (dsa_step's
best track at Skv=70 once asked TileLang for 1024 threads, which ptxas refuses) wastes the window.
One config per op and track (the first, which smoke runs), the dtype smoke uses on a GPU.

Triton's kernels are compiled by `dslbench inspect` (Triton's own binder on the wrapper's launch
arguments: the cubin a launch would get). TileLang's go through the path a GPU run takes,
TileLang's CUDA JIT (tilelang.compile for sm_90a: nvcc builds the device code and the host
launcher library, up to loading onto the device), in fresh processes; `dslbench inspect`
compiles the same kernels' device code at the inspect shape (tests/test_inspect.py).
"""
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor

import pytest

from bench import inspect as compile_report
from bench import smoke
from bench.core import ops
from tests.conftest import COMPILE_GROUP, compiled
from tests.test_inspect import needs_extra

pytestmark = COMPILE_GROUP

PRODUCER_THREADS = 128  # the producer warpgroup warp specialization adds to a config's threads (both DSLs)
RAGGED_INDEX = dict(B=1, Sq=20, Skv=70, H=16, D=128)


def smoke_jobs():
    """One job per op and DSL backend: the smoke shape, the GPU dtype, the track's first config."""
    out = []
    for op in ops.OPS:
        spec = ops.load_spec(op)
        if hasattr(spec, "CHAINS"):  # a step of several ops: their kernels are compiled as theirs
            continue
        dtype = smoke.smoke_dtype(spec, "cuda")
        jobs = compile_report.jobs(op, dtype_text=dtype, arch_text="sm_90a", every_config=True,
                                   shape_of=smoke.smoke_shape)
        out += [j for j in jobs if j["config"] == ops.backend_configs(spec, j["backend"], dtype, "sm_90a")[0]]
    return out


def ragged_index_jobs():
    """dsa_index's best track at Skv = 70: ks rows not 16-byte aligned, so no TMA for them (the
    shape that once made TileLang's producer 512 threads wide, 1024 in all)."""
    spec = ops.load_spec("dsa_index")
    jobs = compile_report.jobs("dsa_index", dtype_text="e4m3", arch_text="sm_90a", track_text="best",
                               shape_of=lambda s: dict(RAGGED_INDEX))
    return [j for j in jobs if j["config"] == ops.backend_configs(spec, j["backend"], "e4m3", "sm_90a")[0]]


JOBS = smoke_jobs() + ragged_index_jobs()
TILELANG_JOBS = [j for j in JOBS if ops.split_backend(j["backend"])[0] == "tilelang"]


def largest_threads(config):
    return max(v for k, v in config.items() if k == "threads" or k.endswith("_threads"))


def nvcc_missing():
    from bench.inspect.toolchain import cuda_root

    return shutil.which("nvcc") is None and cuda_root() is None


def jit_build(job):
    """TileLang's JIT of one job for sm_90a, as a GPU run's worker builds it: {"source": the
    CUDA source, "threads": the widest kernel's threads per block}."""
    from bench.inspect.tilelang_build import kernel_launches
    from bench.run import backends

    spec = ops.load_spec(job["op"])
    kernel = backends.tilelang_compile(spec, job["backend"], job["dtype"], job["shape"], job["config"], job["arch"],
                                       {"kind": "cuda", "arch": job["arch"]})
    kernels = kernel.values() if isinstance(kernel, dict) else [kernel]  # a dict: kernels a host function chains
    threads = [launch["threads"] for k in kernels for launch in kernel_launches(k.artifact).values()]
    return {"source": "\n".join(k.get_kernel_source() for k in kernels), "threads": max(threads)}


@pytest.fixture(scope="module")
def jit_built():
    """{job index: jit_build's result or the exception it raised} for every TileLang job."""
    if nvcc_missing():
        pytest.skip("no nvcc here (the `inspect` extra or a CUDA toolkit brings it)")
    context = multiprocessing.get_context("spawn")  # fresh processes: no Triton interpreter state
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = [pool.submit(jit_build, job) for job in TILELANG_JOBS]
        return [f.exception() or f.result() for f in futures]


def where(job):
    return f"{job['op']} {job['backend']} {ops.shape_str(job['shape'])} {job['config']}"


def test_every_op_has_a_valid_smoke_shape_with_configs_left():
    for op in ops.OPS:
        spec = ops.load_spec(op)
        assert set(spec.SMOKE_SHAPE) == set(spec.SHAPE_KEYS), op
        assert spec.validate(spec.SMOKE_SHAPE) is None, op
        for track in ops.TRACKS:
            for dtype in spec.DTYPES:
                if spec.CONFIGS.get(track):
                    assert spec.configs_for(dtype, track), f"{op} {track} {dtype}: no config left"


def test_the_jobs_are_every_dsl_backend_of_every_op_and_the_ragged_indexer():
    expected = {(op, b) for op in ops.OPS for b in ops.dsl_backends(ops.load_spec(op))
                if not hasattr(ops.load_spec(op), "CHAINS")}  # a step's kernels are its ops' (smoke_jobs)
    assert {(j["op"], j["backend"]) for j in JOBS} == expected
    assert sum(j["op"] == "dsa_index" and j["shape"]["Skv"] == 70 for j in JOBS) == 2
    assert {j["arch"] for j in JOBS} == {"sm_90a"}


@needs_extra
def test_every_triton_kernel_compiles_at_its_smoke_shape_for_sm_90a():
    for r in compiled([j for j in JOBS if j not in TILELANG_JOBS]):
        assert r["status"] == "compiled", f"{where(r)}: {r['reason']}"
        # no small shape makes a kernel wider than its config asks (plus a producer warpgroup)
        assert r["metrics"]["threads"] <= largest_threads(r["config"]) + PRODUCER_THREADS, where(r)


@pytest.mark.parametrize("index", range(len(TILELANG_JOBS)), ids=[
    f"{j['op']}-{j['backend']}-{ops.shape_str(j['shape']).replace(' ', '')}" for j in TILELANG_JOBS])
def test_every_tilelang_kernel_builds_through_its_jit_at_its_smoke_shape_for_sm_90a(jit_built, index):
    job, result = TILELANG_JOBS[index], jit_built[index]
    assert not isinstance(result, BaseException), f"{where(job)}: {result!r}"
    assert "__global__" in result["source"], where(job)
    # no small shape makes a kernel wider than its config asks (plus a producer warpgroup)
    assert result["threads"] <= largest_threads(job["config"]) + PRODUCER_THREADS, where(job)
