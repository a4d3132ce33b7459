"""A worker process: runs the groups of cases the sweep sends it, one JSON line each on stdin,
and answers with JSON-line events on its stdout: `phase` before each step, `record` for each
finished case, `done` after each group. Anything the kernels print goes to stderr instead,
so it cannot corrupt the protocol. Started by bench/run/sweep.py as `python -m bench.run.worker`.
"""
import importlib
import json
import os
import signal
import sys
import threading
import time

from bench.core import env
from bench.run import peak, runner
from bench.core.records import dumps


PARENT_ENV = "DSLBENCH_PARENT_PID"  # set by bench/run/sweep.py: the process this worker serves


def die_with_parent(parent, poll_s=0.5):
    """End this process as soon as `parent` is gone. A worker runs in a session of its own (Ctrl-C
    goes to the supervisor, which ends its workers itself), so nothing else would stop it when the
    supervisor is killed (SIGKILL, or a command cut at its time limit): it would go on compiling
    and timing into the next command. A thread polls for the parent becoming some other process's
    child, which also holds for a parent killed before the thread started."""
    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        try:  # this worker leads its own process group: the compilers it started go with it
            os.killpg(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def main():
    if os.environ.get(PARENT_ENV):
        die_with_parent(int(os.environ[PARENT_ENV]))
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    device = env.device()
    env.configure(device)

    def send(event):
        protocol.write(dumps(event) + "\n")
        protocol.flush()

    send({"event": "ready"})  # imports done: from here on, silence counts (bench/run/sweep.py)

    for line in sys.stdin:
        job = json.loads(line)
        if job.get("machine"):
            send({"event": "record", "record": peak.measure()})
        else:
            spec = importlib.import_module(job["spec"])
            for record in runner.run_group(
                    spec, job["backends"], job["dtype"], job["shape"], job["seed"], device, job["timed"],
                    job["config"], job["cuda_graph"], job["interleave"],
                    on_phase=lambda backend, phase: send({"event": "phase", "backend": backend, "phase": phase}),
                    isolate_errors=job.get("isolate_errors", False), time_reference=job.get("time_reference", False),
                    exclude=job.get("exclude"), chosen=job.get("chosen")):
                if isinstance(record, runner.Retime):
                    send({"event": "retime"})
                elif isinstance(record, runner.Carry):
                    send({"event": "carry", "prepared": record.prepared})
                else:
                    send({"event": "record", "record": record})
        send({"event": "done"})


if __name__ == "__main__":
    main()
