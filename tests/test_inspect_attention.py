"""What each attention track compiles to on Hopper (sm_90a, bf16, head dims 64 and 128), from
`dslbench inspect` without a GPU:
- best track: both DSLs load through TMA (UTMALDG) and spill nothing;
- matched track: both DSLs run the same thread count, with the same warpgroup MMA shapes, and
  neither uses TMA (cp.async, LDGSTS, instead);
- decode steps (best track): both DSLs compile their split-KV pass and its combine, two kernels.
Only the kernels these rules need are compiled. The compiling tests need the `inspect` extra
(nvcc from the CUDA wheels) and skip, saying why, without it.
"""
import pytest

from bench import inspect as compile_report
from bench.core import ops
from kernels.attention import spec
from tests.test_inspect import needs_extra

SHAPES = {
    "hd64": dict(B=4, Hq=16, Hkv=16, Sq=1024, Skv=1024, D=64, causal=0),
    "hd128-causal-gqa": dict(B=2, Hq=32, Hkv=8, Sq=2048, Skv=2048, D=128, causal=1),
}
DECODE = dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=32768, D=128, causal=0)  # Llama-3-8B heads over a 32k cache


def job(backend, shape):
    track = ops.split_backend(backend)[1]
    return dict(op=spec.NAME, spec=spec.__name__, backend=backend, dtype="bf16", shape=shape,
                config=spec.configs_for("bf16", track)[0], arch="sm_90a")


@pytest.fixture(scope="module")
def records():
    """{(backend, case): record} for both tracks at hd 64 and 128, and the best track's decode."""
    cases = [(b, name, shape) for name, shape in SHAPES.items() for b in ops.dsl_backends(spec)]
    cases += [(b, "decode", DECODE) for b in ops.dsl_backends(spec) if ops.split_backend(b)[1] == "best"]
    rows = compile_report.run([job(b, shape) for b, _, shape in cases], workers=2)
    return {(b, name): r for (b, name, _), r in zip(cases, rows)}


def pair(records, track, case):
    return {dsl: records[(ops.backend_name(dsl, track), case)] for dsl in ops.DSLS}


@needs_extra
@pytest.mark.parametrize("case", SHAPES)
def test_best_track_loads_by_tma_and_spills_nothing(records, case):
    for dsl, r in pair(records, "best", case).items():
        assert r["status"] == "compiled", f"{dsl}: {r['reason']}"
        m = r["metrics"]
        assert m["sass"].get("UTMALDG", 0) > 0, f"{dsl}-best {case}: no TMA load"
        assert m["spill_store_bytes"] == m["spill_load_bytes"] == 0, f"{dsl}-best {case}: spills"
        assert m["sass"].get("HGMMA", 0) > 0, f"{dsl}-best {case}: no warpgroup MMA"


@needs_extra
@pytest.mark.parametrize("case", SHAPES)
def test_matched_track_runs_the_same_threads_and_mma_without_tma(records, case):
    both = pair(records, "matched", case)
    for dsl, r in both.items():
        assert r["status"] == "compiled", f"{dsl}: {r['reason']}"
        assert r["metrics"]["sass"].get("UTMALDG", 0) == 0, f"{dsl}-matched {case} loads by TMA"
        assert r["metrics"]["sass"].get("LDGSTS", 0) > 0, f"{dsl}-matched {case} does not load by cp.async"
    threads = {dsl: r["metrics"]["threads"] for dsl, r in both.items()}
    assert len(set(threads.values())) == 1, f"matched {case}: threads differ {threads}"
    shapes = {dsl: set(r["metrics"]["mma"]) for dsl, r in both.items()}
    assert shapes["triton"] == shapes["tilelang"], f"matched {case}: MMA shapes differ {shapes}"


@needs_extra
@pytest.mark.parametrize("dsl", ops.DSLS)
def test_decode_compiles_its_split_pass_and_its_combine(records, dsl):
    r = records[(ops.backend_name(dsl, "best"), "decode")]
    assert r["status"] == "compiled", r["reason"]
    kernels = r["metrics"]["kernels"]
    assert len(kernels) == 2, [k["name"] for k in kernels]
    split = next(k for k in kernels if k["name"] == r["metrics"]["main_kernel"])
    assert split["sass"].get("HGMMA", 0) > 0 and split["sass"].get("UTMALDG", 0) > 0
    assert all(k["spill_store_bytes"] == 0 for k in kernels)


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
