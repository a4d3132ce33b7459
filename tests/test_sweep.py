"""The sweep survives anything: crashes, hangs, exceptions, kill -9; shards merge into one run."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.core import ops
from bench.run import sweep, timing
from bench.core.records import case_key, load

ROOT = Path(__file__).resolve().parent.parent
FAKE = ops.load_spec("tests.fake_op")


# The sweep's mechanics, on the fake op: the same on any machine, so always on the CPU path.
CPU_ENV = {**os.environ, "DSLBENCH_DEVICE": "cpu"}


def dslbench(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env=CPU_ENV, **kwargs)


def test_abort_hang_and_raise_are_recorded_and_the_sweep_goes_on():
    records = []
    s = sweep.Sweep(records.append, "cpu", timeout_s=3, timed=True)
    names = ["ok", "abort", "hang", "raise", "wrong", "reference"]
    try:
        for n in (3, 5):
            s.run(FAKE, names, "fp32", dict(N=n), seed=0)
    finally:
        s.close()
    by = {(r["shape"]["N"], r["backend"]): r for r in records}
    assert len(records) == 12 and len(by) == 12  # every case exactly once, both groups done
    for n in (3, 5):
        assert by[n, "ok"]["status"] == "pass" and by[n, "ok"]["time"]["n"] >= 3
        assert by[n, "reference"]["status"] == "pass"
        assert by[n, "abort"]["status"] == "error" and "SIGABRT during prepare" in by[n, "abort"]["reason"]
        assert by[n, "hang"]["status"] == "error" and "timed out after 3 s during prepare" in by[n, "hang"]["reason"]
        assert by[n, "raise"]["status"] == "error" and "illegal memory access" in by[n, "raise"]["reason"]
        assert by[n, "wrong"]["status"] == "fail"
        assert all(r["env"] and r["utc"] for r in records)


def test_a_sweep_killed_with_sigkill_resumes_with_every_case_once(tmp_path):
    out = tmp_path / "run.jsonl"
    args = ["run", "--op", "tests.fake_op", "--backend", "slow,ok", "--quiet", "--out", str(out)]
    for n in range(1, 7):
        args += ["--shape", f"N={n}"]
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=CPU_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(load(out))
    assert 3 <= before < 12, "the kill must land mid-sweep"
    p = dslbench(*[a for a in args if a not in ("--out", str(out))], "--resume", str(out))
    assert p.returncode == 0, p.stderr
    keys = [case_key(r) for r in load(out)]
    assert len(keys) == len(set(keys)) == 12
    assert f"{before} already in" in p.stdout


def test_shards_merge_to_the_same_set_as_one_run(tmp_path):
    base = ["run", "--op", "tests.fake_op", "--backend", "ok,reference", "--quiet"]
    assert dslbench(*base, "--out", str(tmp_path / "all.jsonl")).returncode == 0
    for k in (1, 2, 3):
        assert dslbench(*base, "--shard", f"{k}/3", "--out", str(tmp_path / f"s{k}.jsonl")).returncode == 0
    shards = [str(tmp_path / f"s{k}.jsonl") for k in (1, 2, 3)]
    p = dslbench("merge", *shards, "--out", str(tmp_path / "merged.jsonl"))
    assert p.returncode == 0, p.stderr
    merged = {case_key(r) for r in load(tmp_path / "merged.jsonl")}
    assert merged == {case_key(r) for r in load(tmp_path / "all.jsonl")} and len(merged) == 6
    assert all(len(load(s)) < 6 for s in shards)


def test_merge_refuses_duplicates_and_mixed_environments(tmp_path):
    run = tmp_path / "a.jsonl"
    assert dslbench("run", "--op", "tests.fake_op", "--backend", "ok", "--quiet", "--inline",
                    "--out", str(run)).returncode == 0
    p = dslbench("merge", str(run), str(run), "--out", str(tmp_path / "m.jsonl"))
    assert p.returncode == 2 and "--allow-duplicates" in p.stderr and len(p.stderr.splitlines()) == 1
    other = tmp_path / "b.jsonl"
    lines = [json.loads(line) for line in run.read_text().splitlines()]
    for r in lines:
        r["env"]["torch"], r["seed"] = "0.0.0-other", 7
    other.write_text("".join(json.dumps(r) + "\n" for r in lines))
    p = dslbench("merge", str(run), str(other), "--out", str(tmp_path / "m.jsonl"))
    assert p.returncode == 2 and "mixed environments (torch" in p.stderr
    assert dslbench("merge", str(run), str(other), "--allow-mixed", "--out", str(tmp_path / "m.jsonl")).returncode == 0


@pytest.mark.parametrize("content,message", [
    (None, "no such result file"),
    ("", "empty result file"),
    ('{"schema": 1, "kind": "case", "op": "matmul"}\n', "a case record without backend, dtype, shape"),
    ('{"schema": 1, "op": "matmul", "backend": "x"\n{"schema": 1, "kind": "machine"}\n', "line 1 is not JSON"),
    ('{"hello": "world"}\n', "not a dslbench record"),
    ('{"schema": 99, "op": "matmul"}\n', "schema 99"),
])
def test_bad_result_files_are_one_line_errors_for_resume_and_merge(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content)
    for args in (["run", "--op", "tests.fake_op", "--resume", str(path)],
                 ["merge", str(path), "--out", str(tmp_path / "m.jsonl")]):
        p = dslbench(*args)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and message in p.stderr, p.stderr


def test_shard_argument_is_checked():
    p = dslbench("run", "--op", "tests.fake_op", "--shard", "3/2")
    assert p.returncode == 2 and "K/N" in p.stderr


def test_interleaved_order_and_statistics():
    assert timing.interleave({"a": 3, "b": 1}) == ["a", "b", "a", "a"]
    stats = timing.summarize([5.0, 1.0, 2.0, 3.0, 4.0])
    assert stats["median_ms"] == 3.0 and stats["min_ms"] == 1.0 and stats["n"] == 5
    assert stats["p10_ms"] <= stats["median_ms"] <= stats["p90_ms"] and stats["iqr_ms"] == 2.0
    assert stats["samples_ms"] == [5.0, 1.0, 2.0, 3.0, 4.0]  # kept in the order measured


def test_records_carry_the_shape_class_the_op_names():
    from bench.run import runner

    assert runner.base_record(FAKE, "ok", "fp32", dict(N=3), 0, "cpu")["shape_class"] is None
    classed = type("Spec", (), {"NAME": "fake", "flops": FAKE.flops, "bytes_moved": FAKE.bytes_moved,
                                "shape_class": staticmethod(lambda s: "decode" if s["N"] == 1 else None)})
    assert runner.base_record(classed, "ok", "fp32", dict(N=1), 0, "cpu")["shape_class"] == "decode"
    assert runner.base_record(classed, "ok", "fp32", dict(N=3), 0, "cpu")["shape_class"] is None


def run_isolated(names, isolate, config="first", timed=True):
    records = []
    s = sweep.Sweep(records.append, "cpu", timeout_s=60, timed=timed, config=config, isolate_errors=isolate)
    try:
        s.run(FAKE, names, "fp32", dict(N=5), seed=0)
    finally:
        s.close()
    return {r["backend"]: r for r in records}, records


def test_after_a_sticky_fault_the_rest_of_the_group_runs_in_a_fresh_worker():
    # `poison` leaves a (simulated) sticky CUDA error: in the same process `ok` would fail too.
    names = ["poison", "ok", "reference"]
    by, records = run_isolated(names, isolate=True)
    assert len(records) == 3 and by["poison"]["status"] == "error"
    assert by["ok"]["status"] == "pass" and by["ok"]["time"]["n"] >= 3, by["ok"]["reason"]
    shared, _ = run_isolated(names, isolate=False)  # what isolation prevents
    assert shared["ok"]["status"] == "error" and "illegal memory access" in shared["ok"]["reason"]


def counting_workers(monkeypatch):
    started = []

    class Counted(sweep.Worker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self.proc.pid)
    monkeypatch.setattr(sweep, "Worker", Counted)
    return started


def test_after_an_error_that_is_not_sticky_the_group_goes_on_in_the_same_worker(monkeypatch):
    started = counting_workers(monkeypatch)
    by, records = run_isolated(["ok", "mistake", "slow", "reference"], isolate=True)
    assert len(records) == 4 and len(started) == 1  # one worker for the whole group
    assert by["mistake"]["status"] == "error" and "ValueError: block_N must divide N" in by["mistake"]["reason"]
    assert "sticky" not in by["mistake"] and "prepared_again" not in by["ok"]
    assert by["ok"]["time"]["n"] >= 3 and by["slow"]["time"]["n"] >= 3


def test_after_a_sticky_fault_the_backends_that_had_passed_keep_their_chosen_config(monkeypatch):
    # triton-matched autotunes (its first config faults: left out, in a fresh worker, as above),
    # passes, then `poison` faults: the fresh worker prepares triton-matched with the config it
    # chose, once, and its record keeps the first preparation's facts.
    started = counting_workers(monkeypatch)
    by, records = run_isolated(["triton-matched", "poison", "ok"], isolate=True, config="autotune")
    r = by["triton-matched"]
    assert len(records) == 3 and r["status"] == "pass" and r["config"] == {"mode": "double"}, r["reason"]
    assert by["poison"]["status"] == "error" and by["poison"]["sticky"] is True
    assert "chosen config only" in r["prepared_again"]
    assert [t["config"] for t in r["autotune"]] == [{"mode": "fault"}, {"mode": "double"}]  # the first autotune's
    assert by["ok"]["status"] == "pass" and len(started) == 3


def test_a_config_that_faults_while_autotuning_is_left_out_in_a_fresh_worker():
    # triton-matched's first config faults (sticky); the second is right and must be chosen.
    by, records = run_isolated(["triton-matched", "ok"], isolate=True, config="autotune")
    r = by["triton-matched"]
    assert len(records) == 2 and r["status"] == "pass", r["reason"]
    assert r["config"] == {"mode": "double"} and "faulted_config" not in r
    assert r["autotune"][0]["config"] == {"mode": "fault"} and "faulted in an earlier process" in r["autotune"][0]["error"]
    assert by["ok"]["status"] == "pass"


def test_a_backend_failing_while_timed_fails_alone():
    # `once` passes its check and raises when timed: timed together the culprit is unknown,
    # so each is timed alone (in a fresh worker when errors are isolated).
    for isolate in (True, False):
        by, records = run_isolated(["ok", "once", "slow"], isolate=isolate)
        assert len(records) == 3, isolate
        assert by["once"]["status"] == "error" and by["once"]["reason"].startswith("timing: RuntimeError"), isolate
        assert by["ok"]["time"]["n"] >= 3 and by["slow"]["time"]["n"] >= 3, isolate


def test_the_reference_is_timed_only_when_asked_and_never_in_a_graph(monkeypatch):
    from bench.run import runner

    calls = []

    def fake_time_all(fns, device, cuda_graph=False):
        calls.append((sorted(fns), cuda_graph))
        return {name: timing.summarize([1.0, 1.0, 1.0]) for name in fns}
    monkeypatch.setattr(runner.timing, "time_all", fake_time_all)
    run = lambda **kw: list(runner.run_group(FAKE, ["ok", "slow", "reference"], "fp32", dict(N=3), 0, "cpu", True, **kw))
    by = {r["backend"]: r for r in run()}
    assert calls == [(["ok", "slow"], False)]
    assert by["reference"]["status"] == "pass" and "time" not in by["reference"]  # the yardstick, untimed
    calls.clear()
    records = run(cuda_graph=True, time_reference=True)
    # one graph per backend, captured alone; the reference timed without a graph
    assert calls == [(["ok"], True), (["slow"], True), (["reference"], False)]
    assert all(r["status"] == "pass" and r["time"] for r in records)


def test_resume_with_another_seed_runs_every_case_again(tmp_path):
    out = tmp_path / "run.jsonl"
    base = ["run", "--op", "tests.fake_op", "--backend", "ok", "--quiet"]
    assert dslbench(*base, "--seed", "1", "--out", str(out)).returncode == 0
    first = load(out)
    p = dslbench(*base, "--seed", "2", "--resume", str(out))
    assert p.returncode == 0, p.stderr
    records = load(out)
    assert len(records) == 2 * len(first) == 2 * len(FAKE.CPU_SUITE)
    assert sorted(r["seed"] for r in records) == [1] * len(first) + [2] * len(first)


def test_a_torn_last_line_is_read_without_and_resume_cuts_it_off(tmp_path):
    """What a kill or a full disk leaves mid-write: report and compare read the file without the
    torn line (and say so); --resume removes it and goes on."""
    out = tmp_path / "run.jsonl"
    args = ["run", "--op", "tests.fake_op", "--backend", "ok", "--quiet"]
    assert dslbench(*args, "--shape", "N=3", "--out", str(out)).returncode == 0
    whole = out.read_text()
    out.write_text(whole + whole.splitlines()[0][:40])  # a second record, torn after 40 characters
    for command in (["report", str(out), "--out", str(tmp_path / "r")], ["compare", str(out), str(out)]):
        p = dslbench(*command)
        assert p.returncode == 0, p.stderr
        warnings = p.stderr.strip().splitlines()  # one per reading of the file (compare reads it twice here)
        assert warnings and all("line 2 is torn" in w for w in warnings), p.stderr
    p = dslbench(*args, "--resume", str(out))
    assert p.returncode == 0, p.stderr
    assert "torn last line was removed" in p.stderr
    records = load(out)  # every line whole again: the first case, then the rest of the suite
    ns = [r["shape"]["N"] for r in records]
    assert ns[0] == 3 and sorted(ns[1:]) == [5, 8]  # the rest as the workers finished them


def in_folder(tmp_path, *args, **kwargs):
    """dslbench run from another folder (where runs/ is made), this checkout on the path."""
    env = {**CPU_ENV, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, env=env, **kwargs)


def test_a_run_without_out_saves_to_runs_and_says_how_to_report_it(tmp_path):
    p = in_folder(tmp_path, "run", "--op", "tests.fake_op", "--backend", "ok", "--quiet", "--shape", "N=3")
    assert p.returncode == 0, p.stderr
    [saved] = list((tmp_path / "runs").glob("*-cpu-*-cpu.jsonl"))
    assert len(load(saved)) == 1
    assert f"saved in runs/{saved.name}; report it with: dslbench report runs/{saved.name}" in p.stdout.splitlines()
    assert p.stdout.strip().splitlines()[-1].startswith("GPU numbers need a GPU: there, run `dslbench smoke` first")
    again = in_folder(tmp_path, "run", "--op", "tests.fake_op", "--backend", "ok", "--quiet", "--shape", "N=3")
    assert again.returncode == 0 and len(list((tmp_path / "runs").glob("*.jsonl"))) == 2  # never appended to


@pytest.mark.parametrize("out,message", [("nope/run.jsonl", "folder nope does not exist"), (".", "is a directory")])
def test_a_bad_out_is_refused_before_any_work(tmp_path, out, message):
    t0 = time.time()
    p = in_folder(tmp_path, "run", "--op", "tests.fake_op", "--backend", "slow", "--out", out)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert time.time() - t0 < 30 and p.stdout == ""


def test_resume_refuses_a_file_from_another_environment_unless_allowed(tmp_path):
    out = tmp_path / "run.jsonl"
    args = ["run", "--op", "tests.fake_op", "--backend", "ok", "--quiet", "--shape", "N=3"]
    assert dslbench(*args, "--out", str(out)).returncode == 0
    record = json.loads(out.read_text())
    record["env"]["torch"] = "0.0.0-other"
    out.write_text(json.dumps(record) + "\n")
    p = dslbench(*args[:-2], "--resume", str(out))
    assert p.returncode == 2 and "another environment (torch: '0.0.0-other' vs" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and len(load(out)) == 1
    assert dslbench(*args[:-2], "--resume", str(out), "--allow-mixed").returncode == 0
    assert len(load(out)) == len(FAKE.CPU_SUITE)


def test_ctrl_c_prints_one_line_and_its_resume_command_finishes_the_run(tmp_path):
    # one sweep (--devices 1): with a worker per core the twelve cases can all end between two
    # looks at the file on a loaded machine, and then there is nothing left to interrupt
    args = ["run", "--op", "tests.fake_op", "--backend", "slow,ok", "--devices", "1"] + [
        a for n in range(1, 7) for a in ("--shape", f"N={n}")]
    # Ctrl-C's default meaning in the child, whatever this suite inherited (a shell's background
    # job ignores SIGINT, and Python then never raises KeyboardInterrupt)
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=tmp_path, text=True, start_new_session=True,
                            env={**CPU_ENV, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (list((tmp_path / "runs").glob("*.jsonl")) and
                                          len(load(next((tmp_path / "runs").glob("*.jsonl")), quiet=True)) >= 3):
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground process group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("interrupted: ") and "cases saved in runs/" in line and "Traceback" not in stderr
    command = line.split("continue with: ", 1)[1]
    assert command.startswith("dslbench run ") and "--resume runs/" in command
    p = in_folder(tmp_path, *shlex.split(command)[1:])
    assert p.returncode == 0, p.stderr
    [saved] = list((tmp_path / "runs").glob("*.jsonl"))
    keys = [case_key(r) for r in load(saved)]
    assert len(keys) == len(set(keys)) == 12
