"""Workers never outlive their command, and their start-up is not a hang.

A GPU window's command is cut at its time limit (SIGTERM, then SIGKILL): workers left behind
would go on compiling and timing into the next command. The waits here are generous deadlines
for something that should happen at once, never a measurement: robust on a loaded machine.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.run import sweep

ROOT = Path(__file__).resolve().parent.parent
CPU_ENV = {**os.environ, "DSLBENCH_DEVICE": "cpu"}


def children(pid):
    """Pids of the processes whose parent is `pid` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, deadline_s=120):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def start_run(tmp_path, *backends_and_shapes):
    out = tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--op", "tests.fake_op", "--quiet", "--out", str(out),
                             "--timeout", "600", *backends_and_shapes], cwd=ROOT, env=CPU_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


# A supervisor that starts a real worker, gives it the fake op's hanging backend, says the
# worker's pid once it is inside that backend, and waits to be killed.
SUPERVISOR = textwrap.dedent("""
    import sys, time
    from bench.run import sweep
    worker = sweep.Worker("cpu")
    worker.send(dict(spec="tests.fake_op.spec", backends=["hang"], dtype="fp32", shape={"N": 3}, seed=0, timed=False,
                     config="first", cuda_graph=False, interleave=True, exclude={}))
    for event in worker.events(600):
        if event.get("backend") == "hang" and event.get("phase") == "prepare":
            print(worker.proc.pid, flush=True)
            time.sleep(3600)
""")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_dies_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", SUPERVISOR], cwd=ROOT, env=CPU_ENV, stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())  # the worker is running the hanging kernel now
        assert alive(worker)
        parent.send_signal(signal.SIGKILL)  # no handler runs: the worker must notice on its own
        parent.wait()
        assert wait_for(lambda: not alive(worker), 60), "the worker outlived its parent"
    finally:
        parent.kill()
        parent.communicate()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path):
    shapes = [a for n in range(1, 9) for a in ("--shape", f"N={n}")]
    proc, out = start_run(tmp_path, "--backend", "slow,ok", *shapes)
    try:
        assert wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2), "no record came"
        workers = children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "interrupted:" in err and "continue with: dslbench run" in err and "--resume" in err
    assert wait_for(lambda: not any(alive(w) for w in workers), 60)


FAKE_WORKER = textwrap.dedent("""
    import json, sys, time
    time.sleep({startup})  # a slow start-up (importing torch on a loaded machine)
    print(json.dumps({{"event": "ready"}}), flush=True)
    sys.stdin.readline()
    print(json.dumps({{"event": "phase", "backend": "b", "phase": "{phase}"}}), flush=True)
    time.sleep({silence})
    print(json.dumps({{"event": "done"}}), flush=True)
""")


def fake_worker(startup, phase, silence):
    return sweep.Worker("cpu", command=[sys.executable, "-c", FAKE_WORKER.format(startup=startup, phase=phase,
                                                                                silence=silence)])


def events(worker, timeout_s):
    worker.send({})
    try:
        return [e["event"] for e in worker.events(timeout_s)]
    finally:
        worker.kill()


def test_a_slow_start_up_is_not_silence_but_silence_after_it_is():
    assert events(fake_worker(startup=2, phase="prepare", silence=0), timeout_s=0.5) == ["phase", "done"]
    with pytest.raises(sweep.WorkerDied, match="timed out after 0.5 s"):
        events(fake_worker(startup=0, phase="prepare", silence=5), timeout_s=0.5)


def test_the_reference_phase_gets_longer(monkeypatch):
    monkeypatch.setitem(sweep.SLOW_PHASES, "inputs", 20)
    assert events(fake_worker(startup=0, phase="inputs", silence=2), timeout_s=0.5) == ["phase", "done"]
