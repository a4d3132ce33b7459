"""Every kernel header's technique list is a claim its sm_90a SASS bears out (bench/inspect/claims.py).

Each DSL kernel file (kernels/<op>/<dsl>_<track>.py) has a 'SASS on sm_90a:' paragraph: what
SASS shows (TMA load/store, warp specialization, setmaxnreg, cp.async, the MMA family and
shape, no spills, a split and its combine) and what it must not. A technique the prose names
without being claimed or denied there fails here; so does a claim the compiled kernel
contradicts. Kernels are compiled at the op's inspect shape, its GPU dtype and the config
tests/test_inspect.py compiles (one cache per test session: no compile twice), and the decode
claims at the spec's INSPECT_DECODE_SHAPE with the track's first config.
"""
from pathlib import Path

import pytest

from bench import inspect as compile_report
from bench import smoke
from bench.core import ops
from bench.inspect import claims
from tests.conftest import COMPILE_GROUP, compiled
from tests.test_inspect import needs_extra

pytestmark = COMPILE_GROUP

KERNELS = Path(__file__).resolve().parents[1] / "kernels"


def kernel_files():
    """(op, backend, path) of every DSL kernel of every track (arch variants are not sm_90a's);
    a step of several ops (spec.CHAINS) writes no kernel of its own: its claims are its ops'."""
    out = []
    for op in ops.OPS:
        if hasattr(ops.load_spec(op), "CHAINS"):
            continue
        for backend in ops.dsl_backends(ops.load_spec(op)):
            out.append((op, backend, KERNELS / op / f"{backend.replace('-', '_')}.py"))
    return out


FILES = kernel_files()


@pytest.mark.parametrize("op, backend, path", FILES, ids=[f"{o}-{b}" for o, b, _ in FILES])
def test_every_kernel_header_claims_only_what_a_rule_checks(op, backend, path):
    text = claims.docstring(path)
    assert claims.header_problems(text) == []
    spec = ops.load_spec(op)
    if "decode" in claims.parse(text):
        assert getattr(spec, "INSPECT_DECODE_SHAPE", None), f"{op}: decode claims need the spec's INSPECT_DECODE_SHAPE"


def test_a_header_naming_a_technique_without_a_rule_fails():
    ok = "Kernel.\n\nTMA loads, no spills.\n\nSASS on sm_90a: TMA load, no spills, HGMMA 64x128. Not: TMA store."
    assert claims.header_problems(ok) == []
    assert claims.header_problems("Kernel with TMA loads.") == ["no 'SASS on sm_90a:' paragraph"]
    unruled = claims.header_problems("Kernel, warp specialized.\n\nSASS on sm_90a: TMA load.")
    assert len(unruled) == 1 and "warp" in unruled[0]
    assert claims.header_problems("K.\n\nSASS on sm_90a: fast math.") == ["no inspect rule for 'fast math'"]


def record(config=None, **metrics):
    base = {"sass": {}, "mma": {}, "spill_store_bytes": 0, "spill_load_bytes": 0, "threads": 384}
    return {"op": "x", "backend": "y", "status": "compiled", "config": config or {"threads": 256},
            "metrics": {**base, **metrics}}


def test_a_claim_the_sass_contradicts_fails():
    good = record(sass={"UTMALDG": 4, "USETMAXREG": 2}, mma={"HGMMA.64x128x16.F32.BF16": 8})
    assert claims.record_problems(["TMA load", "warp specialization", "HGMMA 64x128", "no spills"], ["cp.async"],
                                  good) == []
    assert len(claims.record_problems(["TMA store"], [], good)) == 1  # no UTMASTG
    assert len(claims.record_problems(["stmatrix"], [], good)) == 1  # no STSM: O staged element by element
    assert len(claims.record_problems(["HGMMA 64x256"], [], good)) == 1  # another MMA shape
    assert len(claims.record_problems([], ["TMA load"], good)) == 1  # denied, yet there
    # all threads compute: no producer warpgroup on top of the config's threads
    assert len(claims.record_problems(["warp specialization"], [], record(threads=256))) == 1
    spilled = record(kernels=[{"spill_store_bytes": 0, "spill_load_bytes": 0}, {"spill_store_bytes": 8,
                                                                                 "spill_load_bytes": 8}])
    assert len(claims.record_problems(["no spills", "2 kernels"], [], spilled)) == 1
    assert len(claims.record_problems(["1 kernel"], [], spilled)) == 1


def gpu_dtype(spec):
    return smoke.smoke_dtype(spec, "cuda")


def claim_jobs():
    """{(op, backend, "" or "decode"): job}: the one-config jobs of tests/test_inspect.py at the GPU
    dtype, and the decode jobs (first config) of the specs with an INSPECT_DECODE_SHAPE."""
    out = {}
    for op in ops.OPS:
        spec = ops.load_spec(op)
        for job in compile_report.jobs(op, dtype_text=gpu_dtype(spec), arch_text="sm_90a", every_config=False):
            out[(op, job["backend"], "")] = job
        decode = getattr(spec, "INSPECT_DECODE_SHAPE", None)
        if decode:
            for job in compile_report.jobs(op, dtype_text=gpu_dtype(spec), arch_text="sm_90a",
                                           shape_of=lambda s: dict(s.INSPECT_DECODE_SHAPE)):
                first = ops.backend_configs(spec, job["backend"], job["dtype"], "sm_90a")[0]
                if job["config"] == first:
                    out[(op, job["backend"], "decode")] = job
    return out


@needs_extra
def test_every_claim_holds_in_the_sass():
    jobs = claim_jobs()
    wanted = [(op, backend, where) for op, backend, path in FILES for where in claims.parse(claims.docstring(path))]
    records = dict(zip(wanted, compiled([jobs[k] for k in wanted])))
    problems = []
    for (op, backend, where), rec in records.items():
        path = KERNELS / op / f"{backend.replace('-', '_')}.py"
        claimed, denied = claims.parse(claims.docstring(path))[where]
        problems += [f"{p} ({where or 'inspect shape'})" for p in claims.record_problems(claimed, denied, rec)]
    assert problems == []
