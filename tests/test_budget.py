"""--budget: no group starts that the time left cannot cover; the run ends as a finished one does."""
import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.core.ops import UsageError
from bench.core.records import case_key, load
from bench.run.budget import Budget, parse_duration

ROOT = Path(__file__).resolve().parent.parent
CPU_ENV = {**os.environ, "DSLBENCH_DEVICE": "cpu"}


@pytest.mark.parametrize("text,seconds", [("7m", 420), ("90s", 90), ("1h30m", 5400), ("420", 420), ("2.5m", 150)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7x", "m", "-5", "0s", "7 m"])
def test_bad_durations_are_one_line_errors(text):
    with pytest.raises(UsageError, match="--budget"):
        parse_duration(text)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def group(op, backends):
    return (SimpleNamespace(NAME=op), ["b"] * backends, "bf16", {})


def test_a_group_starts_only_if_its_estimate_fits_the_time_left():
    clock = Clock()
    budget = Budget(100, clock)
    first = group("gemm", 4)
    assert budget.admit(first)  # nothing to go on yet: it starts
    clock.now = 40
    budget.done(first, 40)  # 10 s a backend for gemm
    assert budget.estimate(group("gemm", 2)) == 20
    assert budget.estimate(group("attention", 3)) == 30  # an op not seen yet: the run's mean
    assert budget.admit(group("gemm", 6))  # 60 s of 60 left
    clock.now = 50
    assert not budget.admit(group("gemm", 6))  # 60 s of 50 left: not started
    assert budget.admit(group("gemm", 1))  # a smaller one still fits
    budget.done(group("attention", 1), 1)  # attention is fast: 1 s a backend
    assert budget.admit(group("attention", 40))
    clock.now = 100
    assert not budget.admit(group("attention", 1))  # no time left at all
    assert budget.refused_line().startswith("budget: 2 groups (7 cases) not started, the 100 s budget could not")


def test_a_run_out_of_budget_ends_cleanly_saves_and_says_how_to_continue(tmp_path):
    out = tmp_path / "run.jsonl"
    shapes = [a for n in range(1, 5) for a in ("--shape", f"N={n}")]
    args = ["run", "--op", "tests.fake_op", "--backend", "slow,ok", "--quiet", "--devices", "1", *shapes]
    # the first group alone takes longer than 1 s (slow's calls sleep 0.3 s each): it is the only one
    p = subprocess.run([sys.executable, "-m", "bench", *args, "--budget", "1s", "--out", str(out)], cwd=ROOT,
                       env=CPU_ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert [r["shape"]["N"] for r in load(out)] == [1, 1]
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("budget: 3 groups (6 cases) not started, the 1 s budget could not cover them"), last
    resume = shlex.split(last.split("continue with: ", 1)[1])
    assert resume[0] == "dslbench" and resume[-2:] == ["--resume", str(out)]
    p = subprocess.run([sys.executable, "-m", "bench", *resume[1:], "--budget", "1h"], cwd=ROOT, env=CPU_ENV,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    keys = [case_key(r) for r in load(out)]
    assert len(keys) == len(set(keys)) == 8 and "budget:" not in p.stdout
