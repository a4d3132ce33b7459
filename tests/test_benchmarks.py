"""The cases of `dslbench run` as pytest-benchmark benchmarks.

Each case is prepared the way `dslbench run` prepares it (bench.run.backends.prepare: compiled, and
autotuned over the op's config list on a GPU), checked against the float64 reference (a wrong
kernel fails here, never gets a time), then timed in pedantic mode: the L2 flush runs in
`setup`, outside the timed region, and the timer synchronizes the device so that a round
measures the kernel and not its launch. These are wall-clock rounds around one call, not
CUDA events: for the event-timed numbers use `dslbench run` and `dslbench export`.

By default a tiny instance runs (every op and DSL on its smallest shape: a few seconds on a
CPU); DSLBENCH_BENCH=suite runs every op x backend x dtype on this machine's suite. Test ids
are bench.results.export.case_id, so `pytest --benchmark-compare=EXPORTED.json` lines up with a run.
"""
import os
import time

import pytest
import torch

from bench.core import env

from bench.run import backends, check, runner, timing
from bench.core import ops
from bench.cli import DEFAULT_SEED
from bench.results.export import case_id, group

DEVICE = env.device()  # cuda when a GPU is visible (DSLBENCH_DEVICE=cpu: the CPU paths)
FULL = os.environ.get("DSLBENCH_BENCH") == "suite"
# pytest-benchmark's pedantic rounds: a GPU round is microseconds to milliseconds; a CPU-path
# round (an interpreter) is milliseconds to seconds, so a few are enough to exercise the route
# (and no warm-up: preparing the case already ran it once).
ROUNDS, WARMUP_ROUNDS = (100, 10) if DEVICE == "cuda" else (3, 0)


def cases():
    """(op, backend, dtype, shape) to benchmark: the whole suite, or the tiny instance."""
    out = []
    for op in ops.OPS:
        spec = ops.load_spec(op)
        suite = spec.GPU_SUITE if DEVICE == "cuda" else spec.CPU_SUITE
        names = [b for b in backends.backends_for(spec) if b != "reference"]
        if FULL:
            out += [(op, b, d, s) for d in spec.DTYPES for s in suite for b in names]
        else:  # the smallest shape, one dtype both CPU paths run natively, the DSLs and vendors
            out += [(op, b, tiny_dtype(spec), tiny_shape(spec)) for b in names]
    return out


def tiny_shape(spec):
    """The tiny instance's shape: the smallest of this machine's suite."""
    return min(spec.GPU_SUITE if DEVICE == "cuda" else spec.CPU_SUITE, key=spec.flops)


def tiny_dtype(spec):
    """The tiny instance's dtype: fp16 where the op has it (both CPU paths run it natively)."""
    return "fp16" if "fp16" in spec.DTYPES else spec.DTYPES[0]


CASES = cases()


def synchronized_clock():
    """perf_counter after the device has finished: what was launched before is inside the round."""
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


@pytest.mark.benchmark(timer=synchronized_clock, disable_gc=True)
@pytest.mark.parametrize("op,backend,dtype,shape", CASES, ids=[case_id(*c, DEFAULT_SEED) for c in CASES])
def test_kernel(benchmark, op, backend, dtype, shape):
    spec = ops.load_spec(op)
    if DEVICE == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for fp32, as `dslbench run`
    inputs = spec.make_inputs(shape, dtype, DEFAULT_SEED, DEVICE)
    config = "autotune" if DEVICE == "cuda" else "first"  # first: the first config of the backend's track
    try:
        prepared = backends.prepare(backend, spec, shape, dtype, config, inputs, DEVICE)
    except backends.Skip as skip:
        pytest.skip(str(skip))
    reference = spec.reference(inputs, **spec.kernel_flags(shape))
    unwritten = runner.unwritten_for(spec, inputs)  # the checks the harness makes (runner.checked)

    def passes():
        return check.compare(prepared.outputs, runner.reference_for(spec, inputs, prepared.outputs, reference),
                             spec.TOLERANCE[dtype], unwritten)
    result = passes()
    assert result["passed"], result["reason"]
    benchmark.group = group(op, dtype, shape)
    benchmark.extra_info.update(source="pytest-benchmark", device=DEVICE, emulated=prepared.emulated,
                                config=prepared.config, flops=spec.flops(shape), compile_ms=prepared.compile_ms)
    flush = timing.GpuTimer().flush if DEVICE == "cuda" else None
    benchmark.pedantic(prepared.run, setup=flush, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS, iterations=1)
    # The timed calls wrote the outputs last: they must still be right.
    assert passes()["passed"]
