"""A worker process: runs the groups of cases the sweep sends it, one JSON line each on stdin,
and answers with JSON-line events on its stdout: `phase` before each step, `record` for each
finished case, `done` after each group. Anything the kernels print goes to stderr instead,
so it cannot corrupt the protocol. Started by bench/run/sweep.py as `python -m bench.run.worker`.
"""
import importlib
import json
import os
import sys

from bench.core import env
from bench.run import peak, runner
from bench.core.records import dumps


def main():
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    device = env.device()
    env.configure(device)

    def send(event):
        protocol.write(dumps(event) + "\n")
        protocol.flush()

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
                    exclude=job.get("exclude")):
                if isinstance(record, runner.Retime):
                    send({"event": "retime"})
                else:
                    send({"event": "record", "record": record})
        send({"event": "done"})


if __name__ == "__main__":
    main()
