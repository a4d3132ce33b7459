"""`dslbench smoke`: a checklist of every code path of this machine, exit 1 on any failure."""
import io
import os
import subprocess
import sys
from pathlib import Path

from bench import smoke
from tests.conftest import COMPILE_GROUP

pytestmark = COMPILE_GROUP

ROOT = Path(__file__).resolve().parent.parent


def test_the_checklist_says_ok_skipped_or_failed_with_the_reason_and_counts():
    out = io.StringIO()
    check = smoke.Checklist(out)
    base = {"op": "matmul", "dtype": "bf16", "shape": {"M": 1}, "backend": "triton-best"}
    check.record(dict(base, status="pass", time={"median_ms": 0.0123}, autotune=[{}, {}], timing="cuda-events, L2"))
    check.record(dict(base, backend="deepgemm", status="skipped", reason="deep_gemm is not installed"))
    check.record(dict(base, backend="tilelang-best", status="error", reason="worker killed by SIGSEGV during prepare"))
    smoke.step(check, "telemetry", lambda: 1 / 0)  # a step that raises is a failure, not the end
    lines = out.getvalue().splitlines()
    assert "ok      matmul bf16 triton-best M=1: 0.0123 ms, 2 config(s), cuda-events" in lines[0]
    assert "skipped matmul bf16 deepgemm M=1: deep_gemm is not installed" in lines[1]
    assert "FAILED  matmul bf16 tilelang-best M=1: error: worker killed by SIGSEGV during prepare" in lines[2]
    assert "FAILED  telemetry: ZeroDivisionError" in lines[3]
    assert check.summary().startswith("smoke: 1 ok, 1 skipped, 2 FAILED")


def test_smoke_passes_here():
    p = subprocess.run([sys.executable, "-m", "bench", "smoke", "--op", "matmul"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "DSLBENCH_DEVICE": "cpu"})
    assert p.returncode == 0, p.stdout + p.stderr
    assert not [line for line in p.stdout.splitlines() if "] FAILED" in line]
    assert p.stdout.splitlines()[-1].startswith("smoke: ") and " 0 FAILED" in p.stdout.splitlines()[-1]
    assert "inspect toolchain (sm_90a, no GPU)" in p.stdout and "TileLang CUDA JIT" in p.stdout
