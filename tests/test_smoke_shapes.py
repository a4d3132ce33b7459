"""Every op's SMOKE_SHAPE compiles for Hopper with both DSLs, as `dslbench smoke` on a GPU builds it.

The GPU image's first command is smoke: a kernel that does not build at its smoke shape (dsa_step's
best track at Skv=70 once asked TileLang for 1024 threads, which ptxas refuses) wastes the window.
One config per op and track (the first, which smoke runs), the dtype smoke uses on a GPU.
"""
import pytest

from bench import inspect as compile_report
from bench import smoke
from bench.core import ops
from tests.conftest import COMPILE_GROUP, compiled
from tests.test_inspect import needs_extra

pytestmark = COMPILE_GROUP

PRODUCER_THREADS = 128  # the warpgroup TileLang's warp-specialized lowering adds to a kernel's threads


def smoke_jobs():
    out = []
    for op in ops.OPS:
        spec = ops.load_spec(op)
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
                               shape_of=lambda s: dict(B=1, Sq=20, Skv=70, H=16, D=128))
    return [j for j in jobs if j["config"] == ops.backend_configs(spec, j["backend"], "e4m3", "sm_90a")[0]]


def largest_threads(config):
    return max(v for k, v in config.items() if k == "threads" or k.endswith("_threads"))


def test_every_op_has_a_valid_smoke_shape_with_configs_left():
    for op in ops.OPS:
        spec = ops.load_spec(op)
        assert set(spec.SMOKE_SHAPE) == set(spec.SHAPE_KEYS), op
        assert spec.validate(spec.SMOKE_SHAPE) is None, op
        for track in ops.TRACKS:
            for dtype in spec.DTYPES:
                if spec.CONFIGS.get(track):
                    assert spec.configs_for(dtype, track), f"{op} {track} {dtype}: no config left"


@needs_extra
def test_every_smoke_shape_compiles_for_sm_90a_with_both_dsls():
    records = compiled(smoke_jobs() + ragged_index_jobs())
    expected = {(op, b) for op in ops.OPS for b in ops.dsl_backends(ops.load_spec(op))}
    assert {(r["op"], r["backend"]) for r in records} == expected
    assert sum(r["op"] == "dsa_index" and r["shape"]["Skv"] == 70 for r in records) == 2
    for r in records:
        where = f"{r['op']} {r['backend']} {ops.shape_str(r['shape'])} {r['config']}"
        assert r["status"] == "compiled", f"{where}: {r['reason']}"
        # no small shape makes a kernel wider than its config asks (plus TileLang's producer)
        assert r["metrics"]["threads"] <= largest_threads(r["config"]) + PRODUCER_THREADS, where
