"""Shared test setup: without a GPU, Triton kernels run in its interpreter.

TRITON_INTERPRET is read when @triton.jit decorates, so it is set here, before any test
module imports a kernel."""
import os

import pytest
import torch

from bench.core import env

DEVICE = env.device()  # cuda when a GPU is visible (DSLBENCH_DEVICE=cpu: the CPU paths)
if DEVICE == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture
def device():
    return DEVICE


# The seed of what CI draws rather than runs in full: tests/test_random_shapes.py's shapes, and
# the dtypes tests/test_inspect.py compiles beside each op's GPU dtype (a fixed seed: CI is
# reproducible; DSLBENCH_FUZZ_SEED=<n> draws another sample).
SAMPLE_SEED = int(os.environ.get("DSLBENCH_FUZZ_SEED", "20261203"))


def config_id(config):
    """A short test id for a tile config: M128_N256_K64_s3_t256."""
    short = {"num_stages": "s", "threads": "t"}
    return "_".join(f"{short.get(k, k.removeprefix('block_'))}{v}" for k, v in config.items())


def kernel_configs(spec, dtype):
    """pytest params (backend, config): every DSL backend of the op (each DSL in each track)
    with every config of its track's shared list for `dtype`."""
    from bench.core import ops

    return [pytest.param(b, c, id=f"{b}-{config_id(c)}") for b in ops.dsl_backends(spec)
            for c in spec.configs_for(dtype, ops.split_backend(b)[1])]


# `dslbench inspect` records of this test session, by job: every compile test asks through
# compiled(), so a kernel several tests read is compiled once.
COMPILED = {}


def compiled(job_list, workers=2):
    """The inspect records of these jobs (bench.inspect.run's), compiling only those this test
    session has not compiled yet."""
    import json

    from bench import inspect as compile_report

    def key(job):
        return json.dumps([job[k] for k in ("spec", "backend", "dtype", "shape", "config", "arch")], sort_keys=True)
    todo = list({key(j): j for j in job_list if key(j) not in COMPILED}.values())
    for job, record in zip(todo, compile_report.run(todo, workers)):
        COMPILED[key(job)] = record
    return [COMPILED[key(j)] for j in job_list]


# With pytest-xdist (`-n`, `--dist loadgroup`), the compile-heavy modules share one worker, and
# with it the COMPILED cache; the CPU-path tests run beside them.
COMPILE_GROUP = pytest.mark.xdist_group("compile")
