"""dslbench report: renders from a real CPU run (marked not performance, no speed claims), and
from GPU-like records its verdict is computed from the data: geometric means, wins, evidence."""
import json
import os
import subprocess
import sys

import pytest
from synthetic import case, inspect, samples, write

from bench.core import ops
from bench.results import codesize
from bench.results.report import write as write_report

pytestmark = pytest.mark.xdist_group("report")  # one worker: cpu_report's run is made once, not once per worker

SHAPES = [{"M": 33, "N": 20, "K": 17}]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cpu_report(tmp_path_factory):
    """`dslbench run` on tiny shapes, then `dslbench report` on its file."""
    tmp = tmp_path_factory.mktemp("cpu")
    run = tmp / "run.jsonl"
    shape_args = [a for s in SHAPES for a in ("--shape", ",".join(f"{k}={v}" for k, v in s.items()))]
    p = subprocess.run([sys.executable, "-m", "bench", "run", "--op", "matmul", "--dtype", "fp16,bf16", "--inline",
                        "--quiet", *shape_args, "--out", str(run)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "DSLBENCH_DEVICE": "cpu"})  # a CPU-path run, on any machine
    assert p.returncode == 0, p.stderr
    p = subprocess.run([sys.executable, "-m", "bench", "report", str(run), "--out", str(tmp / "report")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return tmp / "report", (tmp / "report" / "report.md").read_text(), run


def test_cpu_report_is_marked_not_performance_at_the_top(cpu_report):
    _, text, _ = cpu_report
    assert "not performance data" in "\n".join(text.splitlines()[:4])


def test_cpu_report_has_the_tables_and_plots(cpu_report):
    out, text, _ = cpu_report
    for heading in ("### matmul fp16", "### matmul bf16", "## Correctness", "## Compile and autotune time",
                    "## Kernel code size"):
        assert heading in text
    assert text.count("| shape | backend | status | median ms |") == 2
    assert "| matmul | bf16 | tilelang-matched | 1/1 | 0 | 0 | 0 | yes |" in text  # bf16 is emulated on the CPU
    lines = codesize.kernel_lines("matmul")
    assert f"| matmul | matched | {lines['triton-matched']} | {lines['tilelang-matched']} |" in text
    for png in ("perf_matmul_fp16.png", "perf_matmul_bf16.png", "compile_matmul.png"):
        assert f"]({png})" in text
        assert (out / png).read_bytes().startswith(PNG_MAGIC)


def test_a_cpu_run_carries_no_launch_measurement(cpu_report):
    """The CPU has no device time to set the host's against: no launch field, no section."""
    _, text, run = cpu_report
    records = [json.loads(line) for line in run.read_text().splitlines()]
    assert [r for r in records if r.get("time")] and not [r for r in records if "launch" in r]
    assert "## Launch overhead" not in text


def test_cpu_verdict_speaks_only_of_correctness_code_and_compile(cpu_report):
    _, text, _ = cpu_report
    verdict = text.split("## Verdict: is TileLang a real alternative to Triton?", 1)[1]
    assert "Not performance data" in verdict and "Speed not assessed: CPU-path run" in verdict
    checks = 2 * len(ops.tracks(ops.load_spec("matmul")))  # fp16 and bf16, in each of matmul's tracks
    assert f"passes {checks}/{checks} checks, Triton {checks}/{checks}" in verdict
    assert "### Speed" not in verdict and "faster" not in verdict and "geomean" not in verdict
    assert "no GPU compile cost in this file" in verdict


def test_cpu_verdict_takes_the_gpu_compile_cost_from_inspect_records(cpu_report, tmp_path):
    _, _, run = cpu_report
    config = {"block_M": 128, "block_N": 256, "block_K": 64, "num_stages": 3, "threads": 256}
    records = [json.loads(line) for line in run.read_text().splitlines()]
    records += [inspect("triton-matched", config, 200, {}, compile_ms=500.0),
                inspect("tilelang-matched", config, 200, {}, compile_ms=2000.0)]
    report, _ = write_report(write(tmp_path / "mixed.jsonl", records), tmp_path / "out")
    verdict = report.read_text().split("## Verdict", 1)[1]
    assert "compiling for sm_90a takes TileLang 4.00x Triton's time" in verdict
    assert "| matmul | fp16 | matched | sm_90a | 500 | 2000 | 4.00x |" in verdict


CONFIG_A = {"block_M": 128, "block_N": 128, "block_K": 64, "num_stages": 4, "threads": 256}
CONFIG_B = {"block_M": 64, "block_N": 128, "block_K": 64, "num_stages": 4, "threads": 128}
BIG = [{"M": 4096, "N": 4096, "K": 4096}, {"M": 16, "N": 4096, "K": 4096}, {"M": 2048, "N": 2048, "K": 2048}]


def gpu_run(tilelang_status="pass"):
    """Best track: TileLang 2x faster on BIG[0] (other config), 2x slower on BIG[1] (same config),
    equal on BIG[2]. Matched track: TileLang 1.25x slower everywhere (the same config)."""
    triton_ms, tilelang_ms = [1.0, 0.1, 0.5], [0.5, 0.2, 0.5]
    records = []
    for i, shape in enumerate(BIG):
        records.append(case("triton-best", shape, samples(triton_ms[i], 0.01, 30, i), config=CONFIG_A))
        records.append(case("tilelang-best", shape, samples(tilelang_ms[i], 0.01, 30, 10 + i),
                            config=CONFIG_B if i == 0 else CONFIG_A, status=tilelang_status if i == 2 else "pass"))
        records.append(case("triton-matched", shape, samples(1.0, 0.001, 30, 30 + i), config=CONFIG_A))
        records.append(case("tilelang-matched", shape, samples(1.25, 0.001, 30, 40 + i), config=CONFIG_A))
        records.append(case("torch", shape, samples(0.4, 0.01, 30, 20 + i)))
    records += [inspect("triton-best", CONFIG_A, 200, {"HGMMA": 16, "LDGSTS": 8}),
                inspect("tilelang-best", CONFIG_A, 100, {"HGMMA": 16, "UTMALDG": 4}),
                inspect("tilelang-best", CONFIG_B, 90, {"HGMMA": 8, "UTMALDG": 4})]
    return records


def verdict_of(tmp_path, records):
    report, pngs = write_report(write(tmp_path / "gpu.jsonl", records), tmp_path / "out")
    text = report.read_text()
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in pngs)
    return text, text.split("## Verdict", 1)[1]


def test_gpu_verdict_is_computed_from_the_data(tmp_path):
    text, verdict = verdict_of(tmp_path, gpu_run())
    assert "not performance" not in text.lower()
    # Ratios 2, 0.5, 1: geometric mean 1.00, range 0.5-2, one win each.
    assert "| matmul | fp16 | best | 3 | 1.00x | 0.50x-2.00x | 1 | 1 |" in verdict
    assert "| matmul | fp16 | matched | 3 | 0.80x | 0.80x-0.80x | 0 | 3 |" in verdict
    # the rule is applied to the best track; the matched track explains the code generation
    assert "**Yes**: TileLang meets the rule in 1 of 1 op/dtype groups." in verdict
    assert "- matmul fp16 (best track): yes: 1.00x Triton's speed" in verdict
    assert "matched track (same code path, so code generation alone): 0.80x" in verdict
    assert "speed_tilelang_vs_triton.png" in verdict


def test_gpu_verdict_gives_the_evidence_of_each_win(tmp_path):
    _, verdict = verdict_of(tmp_path, gpu_run())
    wins = {line.split(":")[0]: line for line in verdict.splitlines() if line.startswith("- matmul fp16 (best) M=")}
    tilelang = wins["- matmul fp16 (best) M=4096,N=4096,K=4096"]
    assert "**TileLang 2.00x faster**" in tilelang and "configs differ" in tilelang
    assert "registers 90 vs 200" in tilelang and "loads TMA vs cp.async" in tilelang
    triton = wins["- matmul fp16 (best) M=16,N=4096,K=4096"]
    assert "**Triton 2.00x faster**" in triton and "both chose" in triton and "registers 100 vs 200" in triton
    assert "M=2048" not in "".join(wins)  # a tie is no win


def test_gpu_verdict_says_no_when_tilelang_fails_a_check_triton_passes(tmp_path):
    _, verdict = verdict_of(tmp_path, gpu_run(tilelang_status="fail"))
    assert "**No**" in verdict and "passes 67% of checks vs Triton's 100%" in verdict
    assert "best M=2048,N=2048,K=2048: Triton pass, TileLang fail" in verdict


def test_inspect_records_are_rendered(tmp_path):
    text, _ = verdict_of(tmp_path, gpu_run())
    section = text.split("## Compiled code (dslbench inspect)", 1)[1].split("\n## ", 1)[0]
    assert "| op | backend | dtype | config | arch | status | compile_ms | registers |" in section
    assert "HGMMA" in section and "UTMALDG" in section and "LDGSTS" in section
    assert "| matmul | tilelang-best | fp16 | block 64×128×64, 4 stages, 128 threads | sm_90a | compiled | 900 | 90 |" in section


def test_code_lines_skip_blanks_comments_and_docstrings():
    source = '''"""Module docstring,
over two lines."""
import x  # a comment after code counts as code


def f(a):
    """Docstring."""
    # a comment line
    s = """a string that is
not a docstring"""
    return a
'''
    assert codesize.code_lines(source) == 5  # import, def, s = (two lines), return


def test_a_shape_class_is_a_group_of_its_own(tmp_path):
    """Cases an op classes as `decode` are reported apart from the rest of the op."""
    shape = {"M": 16, "N": 4096, "K": 4096}
    records = [case(b, shape, samples(1.0, 0.01, 10, i), shape_class="decode")
               for i, b in enumerate(("triton-best", "tilelang-best"))]
    records += [case(b, BIG[0], samples(1.0, 0.01, 10, i)) for i, b in enumerate(("triton-best", "tilelang-best"))]
    text, verdict = verdict_of(tmp_path, records)
    assert "### matmul decode fp16" in text and "### matmul fp16" in text
    assert "](perf_matmul_decode_fp16.png)" in text
    assert "- matmul decode fp16 (best track)" in verdict and "- matmul fp16 (best track)" in verdict


def test_configs_read_as_tiles_and_tolerances_name_their_output():
    from bench.core import table
    from bench.results import analysis

    assert analysis.config_text(dict(block_M=128, block_N=256, block_K=64, num_stages=3, threads=256)) == \
        "block 128×256×64, 3 stages, 256 threads"
    assert analysis.config_text(dict(block_N=64, chunk_N=512, num_stages=2, threads=256)) == \
        "block 64, chunk_N 512, 2 stages, 256 threads"
    assert table.rel_tolerance({"o": [1e-2, 2e-2], "lse": [1e-4, 4e-4]}) == "o 1e-02, lse 1e-04"
    assert table.rel_tolerance({"rel": 1e-3, "abs": 4e-3}) == "1e-03"


def test_bars_get_p90_to_p10_whiskers():
    from bench.results.report import tflops_span

    record = case("triton-best", BIG[0], [1.0, 2.0, 2.0, 2.0, 4.0])
    low, high = tflops_span(record)
    median = record["time"]["median_ms"]
    assert low == pytest.approx(record["tflops"] * median / record["time"]["p90_ms"]) and low < record["tflops"] < high
    assert tflops_span(case("triton-best", BIG[0], status="fail")) is None


def test_code_size_is_counted_at_the_runs_commit():
    import subprocess

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=codesize.KERNELS.parent, capture_output=True,
                          text=True).stdout.strip()
    if not head:
        pytest.skip("not a git checkout")
    assert codesize.known_commit(head + "-dirty") == head and codesize.known_commit("0" * 40) is None
    at_head = codesize.kernel_lines("matmul", commit=head)
    assert at_head and set(at_head) == set(codesize.kernel_lines("matmul"))
    clean = not subprocess.run(["git", "status", "--porcelain", "kernels/matmul"], cwd=codesize.KERNELS.parent,
                               capture_output=True, text=True).stdout.strip()
    if clean:  # read from git, it is the same file as the checkout's
        assert at_head == codesize.kernel_lines("matmul")


def test_an_op_made_of_stages_shows_each_stages_time(tmp_path):
    shape = {"B": 1, "Sq": 64, "Skv": 4096, "H": 64, "topk": 2048}
    stage_time = {"index": {"median_ms": 0.25}, "topk": {"median_ms": 0.05}, "attend": {"median_ms": 0.5}}
    records = [case(b, shape, samples(0.8, 0.01, 10, i), op="dsa_step", dtype="bf16", stage_time=stage_time)
               for i, b in enumerate(("triton-best", "tilelang-best"))]
    text, _ = verdict_of(tmp_path, records)
    assert "| shape | backend | index ms | topk ms | attend ms | whole step ms |" in text
    assert "| B=1,Sq=64,Skv=4096,H=64,topk=2048 | triton-best | 0.25 | 0.05 | 0.5 |" in text


def test_the_backward_and_the_training_step_are_groups_of_their_own(tmp_path):
    """Attention's forward, its backward and the step that chains them: three sections, three
    verdict rows; the step's table shows where its time goes (forward, backward, whole)."""
    shape = dict(B=2, Hq=32, Hkv=8, Sq=8192, Skv=8192, D=128, causal=1)
    records, times = [], {"attention": 1.0, "attention_bwd": 2.5, "attention_train": 3.6}
    for i, b in enumerate(("triton-best", "tilelang-best", "triton-matched", "tilelang-matched")):
        for op, ms in times.items():
            extra = {"stage_time": {"forward": {"median_ms": 1.0}, "backward": {"median_ms": 2.5}}} \
                if op == "attention_train" else {}
            records.append(case(b, shape, samples(ms * (1 + 0.1 * i), 0.01, 10, i), op=op, dtype="bf16", **extra))
    text, verdict = verdict_of(tmp_path, records)
    for op in times:
        assert f"### {op} bf16" in text and f"| {op} | bf16 | best |" in verdict, op
    assert "| shape | backend | forward ms | backward ms | whole step ms |" in text
