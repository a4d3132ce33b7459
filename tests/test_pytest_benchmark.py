"""Export to pytest-benchmark: our statistics in its fields, names that match the benchmark tests,
and its own tools (`pytest-benchmark compare`, `pytest --benchmark-compare`) reading the file."""
import json
import os
import subprocess
import sys
from pathlib import Path

from synthetic import case, samples, write

from bench import cli
from bench.core import ops
from bench.results.export import case_id, to_pytest_benchmark
from tests.test_benchmarks import tiny_shape

ROOT = Path(__file__).resolve().parent.parent
# A pytest run of its own: not an xdist worker, even when this test runs in one (pytest-benchmark
# times nothing in a worker).
ALONE = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
TINY = tiny_shape(ops.load_spec("matmul"))  # the tiny instance of tests/test_benchmarks.py for matmul (fp16)


def benchmark_name(backend):
    """The pytest id of the tiny matmul fp16 benchmark of `backend`."""
    return f"test_kernel[{case_id('matmul', backend, 'fp16', TINY, 0)}]"


def test_our_statistics_fill_its_fields():
    record = case("triton-matched", TINY, [5.0, 1.0, 4.0, 2.0, 3.0])
    bench = to_pytest_benchmark([record])["benchmarks"][0]
    s = bench["stats"]
    assert (s["min"], s["max"], s["median"], s["rounds"], s["iterations"]) == (0.001, 0.005, 0.003, 5, 1)
    assert s["data"] == [0.001, 0.002, 0.003, 0.004, 0.005] and abs(s["mean"] - 0.003) < 1e-12
    assert (s["q1"], s["q3"]) == (0.002, 0.004) and abs(s["iqr"] - record["time"]["iqr_ms"] / 1e3) < 1e-12
    assert abs(s["stddev"] - 0.0015811388) < 1e-9 and abs(s["ops"] - 1 / 0.003) < 1e-6
    assert bench["fullname"] == f"tests/test_benchmarks.py::{benchmark_name('triton-matched')}"
    assert bench["extra_info"]["tflops"] == record["tflops"] and bench["extra_info"]["device"] == "cuda"


def test_untimed_cases_are_left_out_and_environment_kept():
    records = [case("triton-matched", TINY, samples(1.0, 0.03, 10, 0)), case("tilelang-matched", TINY, status="fail")]
    document = to_pytest_benchmark(records)
    assert [b["extra_info"]["backend"] for b in document["benchmarks"]] == ["triton-matched"]
    assert document["machine_info"]["gpu"] == "NVIDIA H100 80GB HBM3"
    assert document["machine_info"]["dslbench_env"]["triton"] == "3.4.0"
    assert document["commit_info"]["id"] == "0" * 40


def test_names_match_the_benchmark_tests():
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider",
                        "tests/test_benchmarks.py"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=ALONE)
    collected = set(p.stdout.split())
    exported = to_pytest_benchmark([case(b, TINY, samples(1.0, 0.03, 5, 0)) for b in ("triton-matched", "tilelang-matched", "torch")])
    assert {b["fullname"] for b in exported["benchmarks"]} <= collected, p.stdout


def export(tmp_path, name, records):
    out = tmp_path / f"{name}.json"
    assert cli.main(["export", str(write(tmp_path / f"{name}.jsonl", records)), "-o", str(out)]) == 0
    return out


def test_pytest_benchmark_compare_reads_two_exports(tmp_path):
    a = export(tmp_path, "a", [case(b, TINY, samples(1.0, 0.03, 10, i)) for i, b in enumerate(("triton-matched", "tilelang-matched"))])
    b = export(tmp_path, "b", [case(b, TINY, samples(1.2, 0.03, 10, i)) for i, b in enumerate(("triton-matched", "tilelang-matched"))])
    p = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(a), str(b), "--columns=min,median"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(benchmark_name("triton-matched")) == 2
    assert f"benchmark 'matmul fp16 {ops.shape_str(TINY)}'" in p.stdout


def test_benchmark_compare_lines_a_run_up_against_the_benchmark(tmp_path):
    # The cheap torch case of the tiny instance, compared with an exported dslbench record of it.
    saved = export(tmp_path, "run", [case("torch", TINY, samples(0.5, 0.03, 10, 0), device="cpu")])
    p = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_benchmarks.py"), "-q", "-n", "0",
                        "-p", "no:cacheprovider", "-k", "matmul-torch", f"--benchmark-compare={saved}",
                        "--benchmark-columns=min,median,rounds"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=ALONE)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"Comparing against benchmarks from: {saved}" in p.stderr
    rows = [line for line in p.stdout.splitlines() if line.startswith(benchmark_name("torch"))]
    assert len(rows) == 2 and any("(NOW)" in r for r in rows), p.stdout


def test_export_of_a_file_without_timings_is_a_usage_error(tmp_path, capsys):
    checked = write(tmp_path / "check.jsonl", [case("triton-matched", TINY)])
    assert cli.main(["export", str(checked), "-o", str(tmp_path / "x.json")]) == 2
    assert "no timed case to export" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
