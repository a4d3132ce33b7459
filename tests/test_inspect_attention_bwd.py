"""What the attention backward's matched track compiles to on Hopper (sm_90a, bf16), from
`dslbench inspect` without a GPU: both DSLs launch the same three kernels (preprocess, dK/dV,
dQ), kernel by kernel with the same thread count and the same MMA shapes, and the two passes
that multiply load by cp.async (LDGSTS), not TMA. One config is compiled: the one
tests/test_inspect.py compiles at the inspect shape (no compile twice); `python -m bench
inspect --op attention_bwd --backend matched --configs all` shows the rest hold too. The rule
itself is shown to fail on doctored records everywhere.
"""
import copy

import pytest

from bench import inspect as compile_report
from kernels.attention_bwd import spec
from tests.test_inspect import needs_extra
from tests.conftest import COMPILE_GROUP, compiled

pytestmark = COMPILE_GROUP


def kernels_of(record):
    return record["metrics"].get("kernels") or [record["metrics"]]


def matched_pair_problems(triton, tilelang):
    """What keeps a matched pair off one code path (empty: none), kernel by kernel in launch
    order: as many kernels, equal threads, equal MMA shapes, no TMA, cp.async where a kernel multiplies."""
    both = {"triton": triton, "tilelang": tilelang}
    problems = [f"{dsl}: {r['reason']}" for dsl, r in both.items() if r["status"] != "compiled"]
    if problems:
        return problems
    launched = {dsl: kernels_of(r) for dsl, r in both.items()}
    if len(launched["triton"]) != len(launched["tilelang"]):
        return [f"kernel counts differ: { {d: len(k) for d, k in launched.items()} }"]
    for n, (a, b) in enumerate(zip(launched["triton"], launched["tilelang"])):
        where = f"kernel {n} ({a.get('name')} / {b.get('name')})"
        if a["threads"] != b["threads"]:
            problems.append(f"{where}: threads differ: {a['threads']} vs {b['threads']}")
        if sorted(a.get("mma") or {}) != sorted(b.get("mma") or {}):
            problems.append(f"{where}: MMA shapes differ: {sorted(a.get('mma') or {})} vs {sorted(b.get('mma') or {})}")
        for dsl, k in (("triton", a), ("tilelang", b)):
            if k["sass"].get("UTMALDG"):
                problems.append(f"{where}: {dsl} loads by TMA (UTMALDG)")
            if k.get("mma") and not k["sass"].get("LDGSTS"):
                problems.append(f"{where}: {dsl} multiplies without cp.async loads (LDGSTS)")
    return problems


@pytest.fixture(scope="module")
def pair():
    jobs = {j["backend"]: j for j in compile_report.jobs(spec.NAME, dtype_text="bf16", arch_text="sm_90a",
                                                         every_config=False)}
    return compiled([jobs["triton-matched"], jobs["tilelang-matched"]])


@needs_extra
def test_matched_track_launches_the_same_kernels_with_the_same_threads_and_mma(pair):
    triton, tilelang = pair
    assert triton["config"] == tilelang["config"]
    assert len(kernels_of(triton)) == 3, [k.get("name") for k in kernels_of(triton)]
    assert matched_pair_problems(triton, tilelang) == []


def kernel(name, threads=128, mma=("HGMMA.64x64x16.F32.BF16",), sass=None):
    return {"name": name, "threads": threads, "mma": {m: 1 for m in mma},
            "sass": dict({"LDGSTS": 8} if mma else {}, **(sass or {}))}


def record(*kernels):
    return {"status": "compiled", "reason": "", "metrics": {"kernels": list(kernels)}}


def test_the_rule_fails_off_the_matched_code_path():
    good = record(kernel("pre", mma=()), kernel("dkdv"), kernel("dq"))
    assert matched_pair_problems(good, copy.deepcopy(good)) == []
    assert "kernel counts differ" in matched_pair_problems(good, record(kernel("pre", mma=()), kernel("dkdv")))[0]
    assert matched_pair_problems(good, record(kernel("pre", mma=()), kernel("dkdv"), kernel("dq", threads=256))) == [
        "kernel 2 (dq / dq): threads differ: 128 vs 256"]
    assert "MMA shapes differ" in matched_pair_problems(good, record(
        kernel("pre", mma=()), kernel("dkdv"), kernel("dq", mma=("HMMA.16816.F32.BF16",))))[0]
    assert matched_pair_problems(good, record(kernel("pre", mma=()), kernel("dkdv", sass={"UTMALDG": 2}),
                                              kernel("dq"))) == ["kernel 1 (dkdv / dkdv): tilelang loads by TMA (UTMALDG)"]
    no_async = kernel("dq")
    no_async["sass"] = {}
    assert matched_pair_problems(record(kernel("pre", mma=()), kernel("dkdv"), no_async), good) == [
        "kernel 2 (dq / dq): triton multiplies without cp.async loads (LDGSTS)"]
