"""`dslbench inspect` rules for the GEMMs (bf16 matmul, e4m3 fp8_gemm, bf16 grouped_gemm) on sm_90a: each track
compiles to the code path it claims, in both DSLs, and a silent fallback fails here.

- best track: both DSLs load with TMA (UTMALDG) and store with TMA (UTMASTG), spill nothing,
  and issue Hopper warpgroup MMA (HGMMA/QGMMA) with N >= 128;
- matched track: neither DSL uses TMA (cp.async, LDGSTS, instead), both run the same threads
  per block and the same warpgroup MMA shapes;
- the best track's fallback for shapes TMA cannot take (K=100 in fp16) compiles, without TMA.

One config per backend and track is compiled (the matmul's first, the fp8 best track's split-K
decode config), to keep CI short. The compiling tests need the `inspect` extra (nvcc from the
CUDA wheels); without it they skip and say so. The rule checks themselves run everywhere.
"""
import re

import pytest

from bench import inspect as compile_report
from bench.core import ops
from tests.test_inspect import needs_extra
from tests.conftest import COMPILE_GROUP, compiled

pytestmark = COMPILE_GROUP

ARCH = "sm_90a"
# (op, dtype, track) -> which config of the track's list is compiled
CASES = {("matmul", "bf16", "matched"): 0, ("matmul", "bf16", "best"): 0,
         ("fp8_gemm", "e4m3", "matched"): 0, ("fp8_gemm", "e4m3", "best"): -1,
         ("grouped_gemm", "bf16", "matched"): 0, ("grouped_gemm", "bf16", "best"): 0}  # the configs test_inspect compiles
FALLBACK_SHAPE = dict(M=64, N=1024, K=100)  # fp16: A's rows are 200 bytes, TMA cannot address them
MMA = re.compile(r"^(HGMMA|QGMMA)\.(\d+)x(\d+)x(\d+)\.")


def chosen_jobs():
    """The compile jobs the rules need: one config per (op, dtype, track) and DSL, then the
    best track's TMA fallback shape for matmul fp16."""
    out = []
    for (op, dtype, track), index in CASES.items():
        jobs = compile_report.jobs(op, dtype_text=dtype, arch_text=ARCH, track_text=track)
        config = ops.load_spec(op).configs_for(dtype, track)[index]
        out += [j for j in jobs if j["config"] == config]
    best = [j for j in compile_report.jobs("matmul", dtype_text="fp16", arch_text=ARCH, track_text="best")
            if j["config"] == ops.load_spec("matmul").configs_for("fp16", "best")[0]]
    return out + [dict(j, shape=FALLBACK_SHAPE) for j in best]


@pytest.fixture(scope="module")
def records():
    return compiled(chosen_jobs())


def kernels_of(record):
    """Every kernel a backend launched, each with its own metrics (one: the record's)."""
    return record["metrics"].get("kernels") or [record["metrics"]]


def mma_shapes(record):
    """{(opcode, M, N, K)} of the warpgroup MMAs in the record: HGMMA.64x256x16.F32.BF16 -> ('HGMMA', 64, 256, 16)."""
    found = set()
    for key in record["metrics"]["mma"]:
        match = MMA.match(key)
        if match:
            found.add((match.group(1), *map(int, match.groups()[1:])))
    return found


def best_track_problems(record):
    """What keeps a best-track record from the code path it claims (empty: none)."""
    m, where = record["metrics"], f"{record['backend']} {record['op']} {record['config']}"
    problems = []
    if not m["sass"].get("UTMALDG"):
        problems.append(f"{where}: no TMA load (UTMALDG): fell back to pointer loads")
    if not m["sass"].get("UTMASTG"):
        problems.append(f"{where}: no TMA store (UTMASTG)")
    spills = [(k.get("name", "main"), k["spill_store_bytes"], k["spill_load_bytes"]) for k in kernels_of(record)
              if k["spill_store_bytes"] or k["spill_load_bytes"]]
    if spills:
        problems.append(f"{where}: spills (kernel, store, load bytes): {spills}")
    shapes = mma_shapes(record)
    if not shapes or min(n for _, _, n, _ in shapes) < 128:
        problems.append(f"{where}: warpgroup MMA shapes {sorted(shapes)}: want N >= 128 "
                        f"(HMMA: {m['sass'].get('HMMA', 0)})")
    return problems


def matched_track_problems(triton, tilelang):
    """What keeps a matched pair (Triton, TileLang; same op, dtype, config) off one code path."""
    where = f"{triton['op']} {triton['config']}"
    problems = [f"{r['backend']} {where}: TMA load (UTMALDG), not cp.async" for r in (triton, tilelang)
                if r["metrics"]["sass"].get("UTMALDG")]
    problems += [f"{r['backend']} {where}: no cp.async (LDGSTS)" for r in (triton, tilelang)
                 if not r["metrics"]["sass"].get("LDGSTS")]
    threads = (triton["metrics"]["threads"], tilelang["metrics"]["threads"])
    if threads[0] != threads[1]:
        problems.append(f"{where}: threads per block differ (Triton, TileLang): {threads}")
    shapes = (mma_shapes(triton), mma_shapes(tilelang))
    if not shapes[0] or shapes[0] != shapes[1]:
        problems.append(f"{where}: warpgroup MMA shapes differ (Triton, TileLang): {[sorted(s) for s in shapes]}")
    return problems


def find(records, op, track, dsl, shape=None):
    [r] = [r for r in records if (r["op"], r["track"], r["dsl"]) == (op, track, dsl)
           and (r["shape"] == FALLBACK_SHAPE) == (shape == FALLBACK_SHAPE)]
    assert r["status"] == "compiled", f"{r['backend']} {r['op']} {r['config']}: {r['reason']}"
    return r


@needs_extra
@pytest.mark.parametrize("op", ["matmul", "fp8_gemm", "grouped_gemm"])
@pytest.mark.parametrize("dsl", ops.DSLS)
def test_best_track_is_tma_in_and_out_without_spills_and_wide_mma(records, op, dsl):
    problems = best_track_problems(find(records, op, "best", dsl))
    assert not problems, "\n".join(problems)


@needs_extra
def test_triton_best_matmul_is_warp_specialized_at_its_headline_tile(records):
    """128x256 at 256 consumer threads: Triton's Hopper partitioner makes a TMA producer
    warpgroup and two consumers (384 threads), registers rebalanced by setmaxnreg."""
    from bench.inspect import claims

    r = find(records, "matmul", "best", "triton")
    assert r["config"]["threads"] == 256 and r["metrics"]["threads"] == 384, r["metrics"]["threads"]
    assert claims.record_problems(["warp specialization", "setmaxnreg", "no spills"], [], r) == []


@needs_extra
@pytest.mark.parametrize("op", ["matmul", "fp8_gemm", "grouped_gemm"])
def test_matched_track_is_one_code_path_in_both_dsls(records, op):
    pair = find(records, op, "matched", "triton"), find(records, op, "matched", "tilelang")
    problems = matched_track_problems(*pair)
    assert not problems, "\n".join(problems)


@needs_extra
@pytest.mark.parametrize("dsl", ops.DSLS)
def test_best_track_compiles_its_fallback_where_tma_cannot_address(records, dsl):
    """K=100 in fp16: the best track loads with cp.async instead (TileLang 0.1.15 left to
    itself mixes TMA and cp.async here and ptxas refuses the kernel)."""
    r = find(records, "matmul", "best", dsl, FALLBACK_SHAPE)
    assert not r["metrics"]["sass"].get("UTMALDG") and r["metrics"]["sass"].get("LDGSTS"), r["metrics"]["sass"]


# --- the rules can fail: doctored records --------------------------------------------------

def record(dsl, track, threads=256, sass=None, mma=None, spills=0):
    sass = {"UTMALDG": 4, "UTMASTG": 2, "HGMMA": 8} if sass is None else sass
    mma = {"HGMMA.64x256x16.F32.BF16": 8} if mma is None else mma
    metrics = {"threads": threads, "sass": sass, "mma": mma, "spill_store_bytes": spills, "spill_load_bytes": spills}
    return {"op": "matmul", "dsl": dsl, "track": track, "backend": f"{dsl}-{track}", "config": {}, "metrics": metrics}


def test_the_best_track_rules_catch_a_fallback():
    assert best_track_problems(record("tilelang", "best")) == []
    assert "no TMA load" in best_track_problems(record("tilelang", "best", sass={"UTMASTG": 2, "LDGSTS": 9}))[0]
    assert "no TMA store" in best_track_problems(record("triton", "best", sass={"UTMALDG": 4}))[0]
    assert "spills" in best_track_problems(record("triton", "best", spills=8))[0]
    narrow = record("tilelang", "best", mma={"HGMMA.64x64x16.F32.BF16": 16})
    assert "N >= 128" in best_track_problems(narrow)[0]
    warp_level = record("triton", "best", mma={"HMMA.16816.F32.BF16": 64})
    assert "N >= 128" in best_track_problems(warp_level)[0]
    # a multi-kernel backend: a spill in its second kernel counts
    two = record("triton", "best")
    two["metrics"]["kernels"] = [dict(two["metrics"], name="main"), dict(two["metrics"], name="combine", spill_store_bytes=4)]
    assert "combine" in best_track_problems(two)[0]


def test_the_matched_track_rules_catch_a_different_path():
    cp_async = {"LDGSTS": 36, "HGMMA": 4}
    triton, tilelang = record("triton", "matched", sass=cp_async), record("tilelang", "matched", sass=cp_async)
    assert matched_track_problems(triton, tilelang) == []
    tma = record("tilelang", "matched", sass={"UTMALDG": 80, "HGMMA": 8})
    assert any("UTMALDG" in p for p in matched_track_problems(triton, tma))
    producer = record("tilelang", "matched", threads=384, sass=cp_async)
    assert any("threads" in p for p in matched_track_problems(triton, producer))
    half_width = record("tilelang", "matched", sass=cp_async, mma={"HGMMA.64x128x16.F32.BF16": 8})
    assert any("MMA shapes differ" in p for p in matched_track_problems(triton, half_width))
