"""What each attention track compiles to on Hopper (sm_90a, bf16, head dims 64 and 128), from
`dslbench inspect` without a GPU:
- best track: both DSLs load through TMA (UTMALDG), issue warpgroup MMA and spill nothing;
- matched track: both DSLs run the same thread count, with the same warpgroup MMA shapes, and
  neither uses TMA (cp.async, LDGSTS, instead);
- decode steps (best track): both DSLs compile their split-KV pass and its combine, two kernels.
Only the kernels these rules need are compiled (one config of each track). The compiling
tests need the `inspect` extra (nvcc from the CUDA wheels) and skip, saying why, without it;
the rules themselves are shown to fail on doctored records everywhere.
"""
import copy

import pytest

from bench import inspect as compile_report
from bench.core import ops
from kernels.attention import spec
from tests.test_inspect import needs_extra
from tests.conftest import COMPILE_GROUP, compiled

pytestmark = COMPILE_GROUP

# hd64: the op's inspect shape (non-causal, D=64) with the config tests/test_inspect.py
# compiles there (no compile twice); hd128-causal-gqa: the first config of each track
INSPECT_JOBS = {j["backend"]: j for j in compile_report.jobs("attention", dtype_text="bf16", arch_text="sm_90a",
                                                             every_config=False)}
SHAPES = {
    "hd64": compile_report.inspect_shape(spec),
    "hd128-causal-gqa": dict(B=2, Hq=32, Hkv=8, Sq=2048, Skv=2048, D=128, causal=1),
}
DECODE = spec.INSPECT_DECODE_SHAPE  # Llama-3-8B heads over a 32k cache


def job(backend, shape):
    if shape == SHAPES["hd64"]:
        return INSPECT_JOBS[backend]
    track = ops.split_backend(backend)[1]
    return dict(op=spec.NAME, spec=spec.__name__, backend=backend, dtype="bf16", shape=shape,
                config=spec.configs_for("bf16", track)[0], arch="sm_90a")


@pytest.fixture(scope="module")
def records():
    """{(backend, case): record} for both tracks at hd 64 and 128, and the best track's decode."""
    cases = [(b, name, shape) for name, shape in SHAPES.items() for b in ops.dsl_backends(spec)]
    cases += [(b, "decode", DECODE) for b in ops.dsl_backends(spec) if ops.split_backend(b)[1] == "best"]
    rows = compiled([job(b, shape) for b, _, shape in cases])
    return {(b, name): r for (b, name, _), r in zip(cases, rows)}


def kernels_of(record):
    """Every kernel a backend launched, each with its own metrics (one: the record's)."""
    return record["metrics"].get("kernels") or [record["metrics"]]


def best_track_problems(record):
    """What keeps a best-track record from its code path (empty: none): TMA loads, warpgroup
    MMA, no spill in any of its kernels."""
    where = f"{record['backend']} {record['shape']}"
    if record["status"] != "compiled":
        return [f"{where}: {record['reason']}"]
    m, problems = record["metrics"], []
    if not m["sass"].get("UTMALDG"):
        problems.append(f"{where}: no TMA load (UTMALDG)")
    if not m["sass"].get("HGMMA"):
        problems.append(f"{where}: no warpgroup MMA (HGMMA; HMMA {m['sass'].get('HMMA', 0)})")
    spills = [(k.get("name", "main"), k["spill_store_bytes"], k["spill_load_bytes"]) for k in kernels_of(record)
              if k["spill_store_bytes"] or k["spill_load_bytes"]]
    if spills:
        problems.append(f"{where}: spills (kernel, store, load bytes): {spills}")
    return problems


def matched_track_problems(triton, tilelang):
    """What keeps a matched pair from one code path (empty: none): no TMA but cp.async in
    either, the same threads per block, the same warpgroup MMA shapes."""
    both = {"triton": triton, "tilelang": tilelang}
    problems = [f"{dsl}: {r['reason']}" for dsl, r in both.items() if r["status"] != "compiled"]
    if problems:
        return problems
    for dsl, r in both.items():
        if r["metrics"]["sass"].get("UTMALDG"):
            problems.append(f"{dsl}-matched loads by TMA (UTMALDG)")
        if not r["metrics"]["sass"].get("LDGSTS"):
            problems.append(f"{dsl}-matched does not load by cp.async (LDGSTS)")
    threads = {dsl: r["metrics"]["threads"] for dsl, r in both.items()}
    if threads["triton"] != threads["tilelang"]:
        problems.append(f"threads differ: {threads}")
    shapes = {dsl: sorted(r["metrics"]["mma"]) for dsl, r in both.items()}
    if shapes["triton"] != shapes["tilelang"]:
        problems.append(f"MMA shapes differ: {shapes}")
    return problems


def decode_problems(record):
    """What keeps a decode record from split-KV (empty: none): compiled, two kernels (the
    split pass with warpgroup MMA and TMA loads, and the combine), no spill."""
    if record["status"] != "compiled":
        return [record["reason"]]
    kernels = kernels_of(record)
    if len(kernels) != 2:
        return [f"{len(kernels)} kernel(s), not a split pass and a combine"]
    split = next(k for k in kernels if k["name"] == record["metrics"]["main_kernel"])
    problems = [] if split["sass"].get("HGMMA") and split["sass"].get("UTMALDG") else [
        f"split pass {split['name']}: HGMMA {split['sass'].get('HGMMA', 0)}, UTMALDG {split['sass'].get('UTMALDG', 0)}"]
    return problems + [f"{k['name']} spills" for k in kernels if k["spill_store_bytes"] or k["spill_load_bytes"]]


@needs_extra
@pytest.mark.parametrize("case", SHAPES)
@pytest.mark.parametrize("dsl", ops.DSLS)
def test_best_track_loads_by_tma_and_spills_nothing(records, case, dsl):
    assert best_track_problems(records[(ops.backend_name(dsl, "best"), case)]) == []


@needs_extra
@pytest.mark.parametrize("case", SHAPES)
def test_matched_track_runs_the_same_threads_and_mma_without_tma(records, case):
    pair = [records[(ops.backend_name(dsl, "matched"), case)] for dsl in ("triton", "tilelang")]
    assert matched_track_problems(*pair) == []


@needs_extra
@pytest.mark.parametrize("dsl", ops.DSLS)
def test_decode_compiles_its_split_pass_and_its_combine(records, dsl):
    assert decode_problems(records[(ops.backend_name(dsl, "best"), "decode")]) == []


def doctored(sass=None, threads=256, mma=("HGMMA.64x128x16.F32.BF16",), spill=0, kernels=None):
    metrics = {"sass": dict(sass or {}), "threads": threads, "mma": {k: 1 for k in mma},
               "spill_store_bytes": spill, "spill_load_bytes": spill}
    if kernels:
        metrics.update(kernels=kernels, main_kernel=kernels[0]["name"])
    return {"backend": "x", "shape": {}, "status": "compiled", "reason": "", "metrics": metrics}


def test_the_rules_fail_on_the_wrong_code_path():
    best = doctored({"UTMALDG": 4, "HGMMA": 8})
    assert best_track_problems(best) == []
    for broken in ({"HGMMA": 8}, {"UTMALDG": 4, "HMMA": 8}):  # pointer loads; warp-level MMA
        assert len(best_track_problems(doctored(broken))) == 1
    assert "spills" in best_track_problems(doctored({"UTMALDG": 4, "HGMMA": 8}, spill=8))[0]
    matched = doctored({"LDGSTS": 16, "HGMMA": 8})
    assert matched_track_problems(matched, copy.deepcopy(matched)) == []
    assert matched_track_problems(matched, doctored({"LDGSTS": 16, "HGMMA": 8}, threads=384)) == [
        "threads differ: {'triton': 256, 'tilelang': 384}"]
    assert matched_track_problems(matched, doctored({"LDGSTS": 4, "UTMALDG": 4, "HGMMA": 8})) == [
        "tilelang-matched loads by TMA (UTMALDG)"]
    assert "MMA shapes differ" in matched_track_problems(matched, doctored(
        {"LDGSTS": 16, "HGMMA": 8}, mma=("HGMMA.64x64x16.F32.BF16",)))[0]
    split = {"name": "split", "sass": {"HGMMA": 8, "UTMALDG": 4}, "spill_store_bytes": 0, "spill_load_bytes": 0}
    combine = {"name": "combine", "sass": {"STG": 2}, "spill_store_bytes": 0, "spill_load_bytes": 0}
    assert decode_problems(doctored(kernels=[split, combine])) == []
    assert decode_problems(doctored()) == ["1 kernel(s), not a split pass and a combine"]
    assert decode_problems(doctored(kernels=[dict(split, sass={"HMMA": 8}), combine])) != []


def test_the_tracks_pass_configs_and_the_fast_math_they_ask_inspect_for():
    """The matched TileLang kernel turns TMA and warp specialization off (as DeepSeek's kernels
    ship); both tracks compile with fast math, as Triton's exp2/log2/division are approximate,
    and inspect's nvcc gets the flag TileLang's own compile would."""
    from bench.inspect.tilelang_build import nvcc_flags

    matched = ops.kernel_module(spec, "tilelang-matched").PASS_CONFIGS
    assert matched["tl.disable_tma_lower"] and matched["tl.disable_warp_specialized"]
    best = ops.kernel_module(spec, "tilelang-best").PASS_CONFIGS
    assert not best.get("tl.disable_tma_lower") and not best.get("tl.disable_warp_specialized")
    assert nvcc_flags(matched) == nvcc_flags(best) == ["--use_fast_math"] and nvcc_flags({}) == []
