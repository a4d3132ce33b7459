"""Beyond one device: every device of a machine at once (--devices), SLURM shards (--shard auto),
and many runs in one report."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import case, samples, write

from bench import cli
from bench.core import ops
from bench.core.ops import UsageError
from bench.core.records import case_key, load
from bench.run import pool
from bench.session import longest_first

ROOT = Path(__file__).resolve().parent.parent
CPU_ENV = {**os.environ, "DSLBENCH_DEVICE": "cpu"}
FAKE = ops.load_spec("tests.fake_op")


def dslbench(*args):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=CPU_ENV)


def shapes(n):
    return [a for i in range(1, n + 1) for a in ("--shape", f"N={i}")]


def test_devices_run_every_case_once_like_one_worker_spread_over_both(tmp_path):
    # Who ran what, not how long it took: a loaded machine makes any wall-clock comparison flaky.
    base = ["run", "--op", "tests.fake_op", "--backend", "slow", "--quiet", *shapes(8)]
    assert dslbench(*base, "--devices", "1", "--out", str(tmp_path / "one.jsonl")).returncode == 0
    p = dslbench(*base, "--devices", "2", "--out", str(tmp_path / "two.jsonl"))
    assert p.returncode == 0, p.stderr
    one, two = load(tmp_path / "one.jsonl"), load(tmp_path / "two.jsonl")
    assert sorted(map(case_key, one)) == sorted(map(case_key, two)) and len(two) == 8
    assert {r["env"]["device_index"] for r in two} == {"0", "1"}  # each record names its device
    p = dslbench("merge", str(tmp_path / "two.jsonl"), "--out", str(tmp_path / "merged.jsonl"))
    assert p.returncode == 0, p.stderr  # one environment: merge-compatible


def test_a_dead_worker_is_replaced_and_the_other_devices_go_on(tmp_path):
    out = tmp_path / "run.jsonl"
    p = dslbench("run", "--op", "tests.fake_op", "--backend", "abort,ok", "--quiet", "--devices", "2",
                 *shapes(4), "--out", str(out))
    records = load(out)
    assert p.returncode == 1  # the aborts are errors
    assert len(records) == 8 and len(set(map(case_key, records))) == 8
    assert all(r["status"] == "pass" for r in records if r["backend"] == "ok")
    assert all(r["status"] == "error" and "SIGABRT" in r["reason"] for r in records if r["backend"] == "abort")


def test_the_queue_runs_the_headline_then_the_longest_groups_first():
    spec = lambda name, flops, headline=lambda s, d: False: type(  # noqa: E731
        "Spec", (), {"NAME": name, "flops": staticmethod(flops), "headline": staticmethod(headline)})
    gemm = spec("gemm", lambda s: s["N"] ** 3, lambda s, d: s["N"] == 64)
    small = spec("small", lambda s: s["N"])
    groups = [(small, ["a"], "fp16", {"N": 10}), (gemm, ["a", "b"], "fp16", {"N": 8}),
              (gemm, ["a"], "fp16", {"N": 64}), (small, ["a", "b", "c"], "fp16", {"N": 1000})]
    assert [(g[0].NAME, g[3]["N"]) for g in longest_first(groups)] == [
        ("gemm", 64), ("small", 1000), ("gemm", 8), ("small", 10)]


@pytest.mark.parametrize("text,count", [("all", os.cpu_count()), ("3", 3), ("0,2,5", 3)])
def test_devices_on_the_cpu_are_workers_sharing_the_cores(text, count):
    slots = pool.slots(text, "cpu")
    assert len(slots) == count and all(s.threads == max(1, (os.cpu_count() or 1) // count) for s in slots)


@pytest.mark.parametrize("text,message", [("0", "give at least 1"), ("1,1", "distinct"), ("x", "write all, a count")])
def test_bad_devices_are_one_line_errors(text, message):
    with pytest.raises(UsageError, match=message):
        pool.slots(text, "cpu")


def test_gpus_are_pinned_by_their_visible_number(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6,7")
    assert [s.index for s in pool.slots("0,2", "cuda")] == ["3", "6"]
    assert [s.index for s in pool.slots("all", "cuda")] == ["3", "5", "6", "7"]
    with pytest.raises(UsageError, match="this machine has 4 GPU"):
        pool.slots("5", "cuda")
    from bench.run.sweep import worker_env

    env = worker_env("cuda", pool.Slot("6"))
    assert env["CUDA_VISIBLE_DEVICES"] == "6" and env["DSLBENCH_DEVICE_INDEX"] == "6"


SLURM = {
    "array job from 1": ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}, "3/4"),
    "array job from 0": ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0"}, "1/2"),
    "srun steps": ({"SLURM_PROCID": "5", "SLURM_NTASKS": "8"}, "6/8"),
}


@pytest.mark.parametrize("env,shard", SLURM.values(), ids=SLURM.keys())
def test_shard_auto_takes_k_of_n_from_slurm(env, shard):
    assert cli.slurm_shard(env) == shard


def test_shard_auto_without_slurm_is_a_one_line_error(monkeypatch):
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        monkeypatch.delenv(name)
    with pytest.raises(UsageError, match="--shard auto needs SLURM"):
        cli.shard([1, 2, 3], "auto")


def test_slurm_array_tasks_partition_the_suite_exactly(monkeypatch):
    args = cli.parser().parse_args(["run", "--op", "matmul,attention"])
    groups = cli.select(args)
    seen = []
    for task in range(3):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
        monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
        monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "0")
        seen += [(g[0].NAME, g[2], ops.shape_str(g[3])) for g in cli.shard(groups, "auto")]
    assert sorted(seen) == sorted((g[0].NAME, g[2], ops.shape_str(g[3])) for g in groups) and len(seen) == len(set(seen))


def two_runs(tmp_path, performance=True):
    """The same cases measured with two Triton releases; Triton's best kernel is faster on the newer."""
    paths = []
    for k, release in enumerate(("3.6.0", "3.9.0")):
        records = []
        for i, shape in enumerate({"M": m, "N": 4096, "K": 4096} for m in (1024, 4096)):
            for j, backend in enumerate(("triton-best", "tilelang-best", "torch")):
                faster = 0.8 if k and backend == "triton-best" else 1.0
                r = case(backend, shape, samples((1 + i + 0.05 * j) * faster, 0.01, 20, 10 * i + j + 100 * k),
                         dtype="bf16", device="cuda" if performance else "cpu")
                r["env"]["triton"] = release
                records.append(r)
        paths.append(str(write(tmp_path / f"run-{release}.jsonl", records)))
    return paths


def test_many_runs_one_report_side_by_side(tmp_path):
    paths = two_runs(tmp_path)
    assert cli.main(["report", *paths, "--out", str(tmp_path / "both")]) == 0
    text = (tmp_path / "both" / "report.md").read_text()
    assert "labelled by what differs between them: triton" in text
    assert "| backend | shapes in every run | triton 3.6.0 | triton 3.9.0 |" in text
    assert (tmp_path / "both" / "runs_matmul_bf16.png").read_bytes().startswith(b"\x89PNG")
    verdict = text.split("## Verdict per run", 1)[1]
    row = next(line for line in verdict.splitlines() if line.startswith("| matmul bf16 |"))
    assert row.count("(best)") == 2 and row.endswith("| yes |")  # 1.00x on 3.6, 0.8x on 3.9: the answer changed


def test_cpu_runs_side_by_side_show_pass_rates(tmp_path):
    paths = two_runs(tmp_path, performance=False)
    assert cli.main(["report", *paths, "--out", str(tmp_path / "cpu")]) == 0
    text = (tmp_path / "cpu" / "report.md").read_text()
    assert "CPU paths: pass rates, not performance" in text and "| triton-best | 2 | 2/2 | 2/2 |" in text


def test_a_group_one_run_lacks_has_no_shape_in_every_run(tmp_path):
    paths = two_runs(tmp_path, performance=False)
    with open(paths[1], "a") as f:  # attention only in the second run
        f.write(json.dumps(case("triton-best", {"B": 1, "Hq": 2, "Hkv": 2, "Sq": 64, "Skv": 64, "D": 64, "causal": 0},
                                samples(1.0, 0.01, 20, 7), op="attention", dtype="fp16", device="cpu")) + "\n")
    assert cli.main(["report", *paths, "--out", str(tmp_path / "cpu")]) == 0
    section = (tmp_path / "cpu" / "report.md").read_text().split("### attention fp16", 1)[1]
    assert "| triton-best | 0 | - | 1/1 |" in section
    verdict = section.split("## Verdict per run", 1)[1]
    assert "| attention fp16 | - | CPU path: TileLang 0 passed, Triton 1 | - |" in verdict  # nothing to compare



def test_without_a_gpu_the_default_is_one_worker_per_core_the_memory_feeds():
    from bench.session import WORKER_MEMORY, default_cpu_workers

    assert default_cpu_workers(cores=2, available=24 << 30) == "2"  # CI: 2 cores, 24 GiB
    assert default_cpu_workers(cores=16, available=20 * WORKER_MEMORY) == "16"
    assert default_cpu_workers(cores=16, available=5 * WORKER_MEMORY) == "5"  # memory decides
    assert default_cpu_workers(cores=16, available=WORKER_MEMORY // 2) == "1"
    assert default_cpu_workers(cores=1, available=None) == "1"


def session_of(monkeypatch, *argv):
    from bench import cli, session

    monkeypatch.setattr(session, "default_cpu_workers", lambda: "2")
    args = cli.parser().parse_args(["check", "--op", "tests.fake_op", "--backend", "ok", *argv])
    s = session.Session(args, timed=False, dev="cpu", out=None, done={}, total=1)
    s.close()
    return s


def test_check_spreads_over_workers_by_default_and_devices_1_does_not(monkeypatch):
    spread = session_of(monkeypatch)
    assert spread.pool is not None and len(spread.pool.sweeps) == 2 and spread.sweep is None
    one = session_of(monkeypatch, "--devices", "1")
    assert one.pool is None and one.sweep is not None
    inline = session_of(monkeypatch, "--inline")
    assert inline.pool is None
