"""dslbench compare: a real slowdown is flagged, noise is not; environments that differ are loud;
bad result files are one line and exit 2 (for report and export too)."""
import json
import subprocess
import sys

import pytest
from synthetic import ENV, case, samples, write

from bench import cli
from bench.results.compare import compare

SHAPES = [{"M": m, "N": 512, "K": 256} for m in (64, 128, 256, 512, 1024, 2048)]


def run_pair(factors, cv, n, seed=0):
    """BASE and NEW runs of the same cases; NEW's true median is BASE's times the case's factor.
    Every sample is drawn afresh (seeded), so the two runs differ by noise as real ones do."""
    base, new = [], []
    for i, (shape, factor) in enumerate(zip(SHAPES, factors)):
        true_ms = 0.1 * (i + 1)
        base.append(case("triton-matched", shape, samples(true_ms, cv, n, seed=seed * 1000 + 2 * i)))
        new.append(case("triton-matched", shape, samples(true_ms * factor, cv, n, seed=seed * 1000 + 2 * i + 1)))
    return base, new


@pytest.mark.parametrize("n", [10, 100], ids=["cpu-like n=10", "gpu-like n=100"])
def test_a_20pct_slowdown_is_flagged_and_a_1pct_one_is_not(n):
    base, new = run_pair([1.20, 1.01, 1.00, 0.80, 1.00, 1.00], cv=0.03, n=n)
    rows = compare(base, new)["cases"]
    assert [r["verdict"] for r in rows] == ["regression", "unchanged", "unchanged", "improvement", "unchanged", "unchanged"]
    assert rows[0]["ci"][0] > 1 and 1.1 < rows[0]["ratio"] < 1.3
    assert rows[3]["ci"][1] < 1


def test_noise_alone_is_never_flagged():
    # 10 pairs of runs x 6 cases of identical code, cv 3%: nothing may be called a change.
    for seed in range(10):
        result = compare(*run_pair([1.0] * 6, cv=0.03, n=20, seed=seed))
        assert result["summary"]["regression"] == result["summary"]["improvement"] == 0, result["cases"]


def test_a_big_ratio_from_very_noisy_samples_is_not_significant():
    # cv 30% and 5 samples: medians move by more than the 5% threshold by chance alone.
    rows = compare(*run_pair([1.0] * 6, cv=0.3, n=5))["cases"]
    beyond = [r for r in rows if abs(r["ratio"] - 1) > 0.05]
    assert beyond, "the noise model should move some medians beyond the threshold"
    assert all(r["verdict"] == "unchanged" and r["why"].startswith("noise") for r in beyond)


def test_threshold_separates_significant_from_relevant():
    # Nearly noiseless samples: a 1% slowdown is real (significant) but under the 5% default.
    base, new = run_pair([1.01] * 6, cv=0.001, n=50)
    default = compare(base, new)
    assert all(r["verdict"] == "unchanged" and "within" in r["why"] for r in default["cases"])
    assert all(r["ci"][0] > 1 for r in default["cases"])
    strict = compare(base, new, threshold=0.005)
    assert strict["summary"]["regression"] == 6


def test_bootstrap_is_seeded():
    base, new = run_pair([1.05] * 6, cv=0.05, n=10)
    assert compare(base, new)["cases"] == compare(base, new)["cases"]


def test_a_case_that_stops_passing_is_a_regression():
    shape = SHAPES[0]
    base = [case("tilelang-matched", shape, samples(1.0, 0.03, 10, 1))]
    new = [case("tilelang-matched", shape, status="fail")]
    row = compare(base, new)["cases"][0]
    assert row["verdict"] == "regression" and "now fail" in row["why"]


def test_cli_json_and_fail_on_regression(tmp_path):
    base, new = run_pair([1.20, 1.0, 1.0, 1.0, 1.0, 1.0], cv=0.03, n=20)
    new.append(case("tilelang-matched", SHAPES[0], samples(1.0, 0.03, 20, 7)))  # only in NEW
    b, n = write(tmp_path / "base.jsonl", base), write(tmp_path / "new.jsonl", new)
    p = subprocess.run([sys.executable, "-m", "bench", "compare", str(b), str(n), "--json", "--fail-on-regression"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    result = json.loads(p.stdout)
    assert result["summary"] == {"regression": 1, "improvement": 0, "unchanged": 5, "not compared": 0, "control": 0}
    assert len(result["only_in_new"]) == 1 and result["env_differences"] == []
    assert cli.main(["compare", str(b), str(n)]) == 0  # without --fail-on-regression: exit 0


def test_different_environments_are_shown_first(tmp_path, capsys):
    base, new = run_pair([1.0] * 6, cv=0.03, n=10)
    for r in new:
        r["env"] = dict(ENV, device_name="NVIDIA H200", torch="2.9.0")
    b, n = write(tmp_path / "base.jsonl", base), write(tmp_path / "new.jsonl", new)
    assert cli.main(["compare", str(b), str(n)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("WARNING: BASE and NEW differ in environment")
    assert "device_name: NVIDIA H100 80GB HBM3 -> NVIDIA H200" in lines[1] and "torch: 2.8.0 -> 2.9.0" in lines[2]


BAD_FILES = {
    "missing": (None, "no such result file"),
    "empty": ("", "empty result file"),
    "bad middle line": ('{"schema": 1, "op": "mat\n{"schema": 1, "kind": "machine"}\n', "line 1 is not JSON"),
    "incomplete case": ('{"schema": 1, "kind": "case", "op": "matmul"}\n', "a case record without backend"),
    "not dslbench": ('{"benchmarks": []}\n', "not a dslbench record"),
    "newer schema": ('{"schema": 99, "kind": "case", "op": "matmul"}\n', "schema 99"),
}
COMMANDS = {"report": ["report", "{bad}"], "compare new": ["compare", "{good}", "{bad}"],
            "compare base": ["compare", "{bad}", "{good}"], "export": ["export", "{bad}", "-o", "{out}"]}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize("content,message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_result_file_is_one_line_and_exit_2(tmp_path, capsys, command, content, message):
    bad = tmp_path / "bad.jsonl"
    if content is not None:
        bad.write_text(content)
    good = write(tmp_path / "good.jsonl", [case("triton-matched", SHAPES[0], samples(1.0, 0.03, 10, 0))])
    args = [a.format(bad=bad, good=good, out=tmp_path / "out.json") for a in command]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(bad) in lines[0]


def test_bad_result_file_exit_code_from_the_shell(tmp_path):
    p = subprocess.run([sys.executable, "-m", "bench", "report", str(tmp_path / "nope.jsonl")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == "" and len(p.stderr.strip().splitlines()) == 1
    assert "no such result file" in p.stderr and "Traceback" not in p.stderr


def drifting_pair(drift, changes, cv=0.02, n=30):
    """BASE and NEW of three DSL cases and their cuBLAS baseline per shape; every NEW time is
    `drift` times BASE's (a busier, hotter machine), a DSL case's times its `changes` factor too."""
    base, new = [], []
    for i, shape in enumerate(SHAPES[:4]):
        for j, backend in enumerate(("triton-best", "tilelang-best", "triton-matched", "torch")):
            seed = 100 * i + 10 * j
            true_ms = 0.1 * (i + 1) * (1 + 0.1 * j)
            factor = drift * changes.get((i, backend), 1.0)
            base.append(case(backend, shape, samples(true_ms, cv, n, seed=seed)))
            new.append(case(backend, shape, samples(true_ms * factor, cv, n, seed=seed + 1)))
    return base, new


def test_a_uniform_drift_between_runs_is_not_a_change():
    base, new = drifting_pair(2.0, {})
    result = compare(base, new)
    assert 1.9 < result["drift"]["ratio"] < 2.1 and result["drift"]["controls"] == 4
    verdicts = {(r["backend"], r["verdict"]) for r in result["cases"]}
    assert {v for b, v in verdicts if b == "torch"} == {"control"}
    assert {v for b, v in verdicts if b != "torch"} == {"unchanged"}, result["cases"]
    alone = compare([r for r in base if r["backend"] != "torch"], [r for r in new if r["backend"] != "torch"])
    assert alone["drift"] is None and alone["summary"]["regression"] == 12  # without controls: all "slower"


def test_a_real_change_under_drift_is_found():
    base, new = drifting_pair(2.0, {(2, "tilelang-best"): 1.2})
    result = compare(base, new)
    changed = [r for r in result["cases"] if r["verdict"] not in ("unchanged", "control")]
    assert [(r["backend"], r["shape"]["M"], r["verdict"]) for r in changed] == [("tilelang-best", 256, "regression")]
    assert 1.15 < changed[0]["relative_ratio"] < 1.25 and "relative to the controls' drift" in changed[0]["why"]


def test_controls_need_the_same_vendor_code(tmp_path, capsys):
    base, new = drifting_pair(1.0, {})
    for r in new:
        r["env"] = dict(r["env"], torch="9.9.9")
    assert compare(base, new)["drift"] is None
    assert cli.main(["compare", str(write(tmp_path / "b.jsonl", base)), str(write(tmp_path / "n.jsonl", new))]) == 0
    assert "drift between the runs cannot be told apart from a change" in capsys.readouterr().out
