"""A sweep that survives anything: each group of cases runs in a worker process.

A kernel that segfaults, aborts, hangs past the time limit, raises or runs out of memory
becomes an `error` record naming the phase it died in, and the sweep goes on with a fresh
worker. The worker tells us the backend and phase before each step, so a crash is charged
to the right case; a crash while backends were timed together is retried once with each
backend timed alone, to find the culprit. On a GPU, a worker that saw an error is replaced,
so a sticky CUDA error cannot poison later cases.
"""
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time

from bench.run import runner

class WorkerDied(Exception):
    pass


# A fresh worker imports torch (and more) before it can say anything: seconds on a loaded
# machine, which are not a hang. Its start-up gets this long, or the sweep's timeout if longer.
STARTUP_S = 120
# The float64 reference of a large case (a dense 32k sparse_mla prefill) takes minutes on an
# H100: the `inputs` phase is allowed this many times the sweep's timeout.
SLOW_PHASES = {"inputs": 3}


def worker_env(device, slot=None):
    """A worker's environment: the sweep's device, and with a slot (see bench/run/pool.py) the
    one device it is pinned to: a GPU by CUDA_VISIBLE_DEVICES; on the CPU, its share of the cores."""
    env = dict(os.environ)
    env["DSLBENCH_PARENT_PID"] = str(os.getpid())  # the worker ends when this process does (bench/run/worker.py)
    if device == "cpu":
        env["DSLBENCH_DEVICE"] = "cpu"
    if slot is not None:
        env["DSLBENCH_DEVICE_INDEX"] = str(slot.index)
        if device == "cuda":
            env["CUDA_VISIBLE_DEVICES"] = str(slot.index)
        elif slot.threads:
            env["OMP_NUM_THREADS"] = str(slot.threads)
    return env


class Worker:
    """One `python -m bench.run.worker` process and its JSON-line event stream."""

    def __init__(self, device, slot=None, command=(sys.executable, "-m", "bench.run.worker")):
        self.stderr = tempfile.TemporaryFile()
        # In a session of its own: Ctrl-C reaches the supervisor, which ends its workers itself
        # (a worker that died of it would look like a crash of its case).
        self.proc = subprocess.Popen(list(command), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=worker_env(device, slot),
                                     start_new_session=True)
        self.buffer, self.ready = b"", False

    def send(self, job):
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise WorkerDied(self.death()) from None

    def events(self, timeout_s):
        """Events until `done`; WorkerDied if the process ends or is silent for timeout_s (its
        start-up: STARTUP_S; a slow phase: SLOW_PHASES times timeout_s)."""
        allowed = timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in self.buffer:
                    line, self.buffer = self.buffer.split(b"\n", 1)
                    event = json.loads(line)
                    if event["event"] == "ready":
                        self.ready = True
                        continue
                    allowed = timeout_s * SLOW_PHASES.get(event.get("phase"), 1) if event["event"] == "phase" else timeout_s
                    yield event
                    if event["event"] == "done":
                        return
                wait = allowed if self.ready else max(allowed, STARTUP_S)
                if not sel.select(wait):
                    self.kill()
                    raise WorkerDied(f"timed out after {wait:g} s" + ("" if self.ready else " starting"))
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise WorkerDied(self.death())
                self.buffer += chunk

    def death(self):
        """Why the worker ended: its signal or exit code, and its last line of stderr."""
        code = self.proc.wait()
        why = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        self.stderr.seek(0)
        lines = [ln for ln in self.stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        return why + (f" ({lines[-1].strip()[:200]})" if lines else "")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class Sweep:
    """Runs groups in workers; `emit(record)` is called as each case finishes.

    isolate_errors (default: on a GPU): after a backend's error that may be sticky (a CUDA
    fault leaves an error in its process that would fail every later backend under its own
    name), the rest of its group runs in a fresh worker, the backends that had already passed
    with the config they chose (no second autotune), and a config that faulted while
    autotuning is retried away: the backend runs again in a fresh worker without it. Any
    other error is that backend's record, and the group goes on in the same worker."""

    def __init__(self, emit, device, timeout_s, timed=True, config="first", cuda_graph=False,
                 isolate_errors=None, time_reference=False, slot=None):
        self.emit, self.device, self.timeout_s, self.slot = emit, device, timeout_s, slot
        self.isolate = device == "cuda" if isolate_errors is None else isolate_errors
        self.job = {"timed": timed, "config": config, "cuda_graph": cuda_graph, "isolate_errors": self.isolate,
                    "time_reference": time_reference}
        self.worker, self.stopped = None, False

    def machine(self):
        """Measure the machine's peak in a worker (GPU runs); None if that fails."""
        record = None
        try:
            for event in self.start({"machine": True}):
                if event["event"] == "record":
                    record = event["record"]
            return record
        except WorkerDied:
            self.close()
            return None

    def start(self, job):
        if self.stopped:
            raise WorkerDied("the sweep was stopped")
        if self.worker is None:
            self.worker = Worker(self.device, self.slot)
        self.worker.send(job)
        return self.worker.events(self.timeout_s)

    def run(self, spec, names, dtype, shape, seed):
        left, interleave, failed, exclude, chosen = list(names), True, False, {}, {}
        while left and not self.stopped:
            job = dict(self.job, spec=spec.__name__, backends=left, dtype=dtype, shape=shape, seed=seed,
                       interleave=interleave, exclude=exclude, chosen=chosen)
            current, restart = (None, "start"), False
            try:
                for event in self.start(job):
                    if event["event"] == "phase":
                        current = (event["backend"], event["phase"])
                    elif event["event"] == "retime":  # timed together, something failed: apart, afresh
                        interleave, restart = False, True
                    elif event["event"] == "carry":  # passed before a sticky error: their configs
                        chosen.update(event["prepared"])
                    elif event["event"] == "record":
                        restart |= self.take(event["record"], left, exclude)
            except WorkerDied as died:
                self.close()
                backend, phase = current
                if phase == "time" and isinstance(backend, list):
                    interleave = False  # time each alone to find which one dies
                    continue
                for name in ([backend] if isinstance(backend, str) else list(left)):
                    left.remove(name)
                    record = runner.base_record(spec, name, dtype, shape, seed, self.device)
                    record.update(status="error", reason=f"worker {died} during {phase}")
                    self.emit(runner.finish(record))
                failed = True
                continue
            failed |= restart
            if restart or (left and self.isolate):
                self.close()  # the rest of the group in a fresh process
        if failed and self.device == "cuda":
            self.close()  # a CUDA error can be sticky: the next group gets a fresh process

    def take(self, record, left, exclude):
        """Emit a finished record; True when the worker must be replaced. A record naming a
        faulted config is not final: the backend runs again, in a fresh worker, without it."""
        faulted = record.get("faulted_config")
        if faulted is not None:
            exclude.setdefault(record["backend"], []).append({"config": faulted, "reason": record["reason"]})
            return True
        left.remove(record["backend"])
        self.emit(record)
        return bool(record.get("sticky")) and self.isolate  # any other error: the group goes on here

    def close(self):
        """End the current worker (the next group starts a fresh one)."""
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def stop(self):
        """End the current worker for good: a run() in progress in another thread returns."""
        self.stopped = True
        self.close()
