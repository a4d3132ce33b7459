"""Matmul: every backend x dtype x shape class against the float64 reference."""
import pytest
import torch

from bench.core import ops
from bench.run import backends, check, runner
from kernels.matmul import spec
from tests.conftest import DEVICE, kernel_configs

SHAPES = {
    "block-multiple": dict(M=128, N=128, K=128),
    "decode-M1": dict(M=1, N=256, K=96),
    "ragged": dict(M=77, N=45, K=100),
    "ragged-129x255x63": dict(M=129, N=255, K=63),
    "K-below-block": dict(M=64, N=96, K=33),
}
DSL_BACKENDS = ops.dsl_backends(spec)
BACKENDS = [*DSL_BACKENDS, "torch"]


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("dtype", spec.DTYPES)
def test_every_backend_matches_reference(shape, dtype):
    records = list(runner.run_group(spec, BACKENDS, dtype, shape, seed=1, device=DEVICE, timed=False))
    for r in records:
        assert r["status"] == "pass", f"{r['backend']} {dtype} {shape}: {r['status']} {r['reason']}"
        assert r["rel_err"] <= spec.TOLERANCE[dtype][0]
    emulated = {r["backend"]: r["emulated"] for r in records}
    if DEVICE == "cpu":  # the labels say which CPU paths lack the dtype
        assert emulated == {**{b: dtype == "bf16" for b in DSL_BACKENDS}, "torch": False}


@pytest.mark.parametrize("backend,config", kernel_configs(spec, "fp16"))
def test_every_config_is_correct_on_a_ragged_shape(backend, config):
    shape, dtype = dict(M=129, N=255, K=63), "fp16"
    inputs = spec.make_inputs(shape, dtype, seed=2, device=DEVICE)
    prepared = backends.prepare(backend, spec, shape, dtype, config, inputs, DEVICE)
    result = check.compare(prepared.outputs, spec.reference(inputs), spec.TOLERANCE[dtype])
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("track", ops.tracks(spec))
def test_configs_are_shared_and_fit(track):
    modules = [ops.kernel_module(spec, ops.backend_name(d, track)) for d in ops.DSLS]
    assert all(m.CONFIGS is spec.CONFIGS for m in modules)
    assert spec.configs_for("fp16", track)
    assert all(spec.smem_bytes(c, "fp32") <= spec.SMEM_LIMIT for c in spec.configs_for("fp32", track))


def test_inputs_are_seeded_random_and_outputs_poisoned():
    shape = dict(M=8, N=9, K=10)
    a = spec.make_inputs(shape, "fp32", seed=3)
    b = spec.make_inputs(shape, "fp32", seed=3)
    c = spec.make_inputs(shape, "fp32", seed=4)
    assert torch.equal(a["a"], b["a"]) and not torch.equal(a["a"], c["a"])
    assert (a["a"] != 0).all() and a["a"].std() > 0.5
    assert torch.isnan(spec.make_outputs(shape, "fp16")["c"]).all()


def test_flops_and_bytes():
    shape = dict(M=2, N=3, K=5)
    assert spec.flops(shape) == 2 * 2 * 3 * 5
    assert spec.bytes_moved(shape, "fp16") == (2 * 5 + 5 * 3 + 2 * 3) * 2


@pytest.mark.parametrize("backend", DSL_BACKENDS)
def test_autotune_tries_every_config_and_keeps_the_fastest_correct_one(backend):
    shape, dtype = dict(M=65, N=70, K=40), "fp16"
    inputs = spec.make_inputs(shape, dtype, seed=6, device=DEVICE)
    prepared = backends.prepare(backend, spec, shape, dtype, "autotune", inputs, DEVICE)
    assert [t["config"] for t in prepared.tried] == spec.configs_for(dtype, ops.split_backend(backend)[1])
    fastest = min(prepared.tried, key=lambda t: t["median_ms"])
    assert prepared.config == fastest["config"] and prepared.compile_ms > 0 and prepared.autotune_ms > 0
    assert check.compare(prepared.outputs, spec.reference(inputs), spec.TOLERANCE[dtype])["passed"]
