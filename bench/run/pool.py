"""Every device of a machine at once (`--devices`): one sweep per device, fed from one queue.

Each sweep's worker processes are pinned to one device (a GPU by CUDA_VISIBLE_DEVICES; on the
CPU, a share of the cores), and each takes the next group of cases from the one queue as it
finishes its last (the queue is ordered longest first, so the tail of the run is short). All
records go to one place, in the order they finish. A worker that dies is replaced by its sweep,
as with one device; the other devices go on.
"""
import os
import queue
import threading
import time
from dataclasses import dataclass

from bench.core.ops import UsageError
from bench.run.sweep import Sweep


@dataclass(frozen=True)
class Slot:
    """One device of the pool: its index (a CUDA_VISIBLE_DEVICES entry on a GPU, a worker
    number on the CPU) and, on the CPU, the threads its worker may use."""
    index: str
    threads: int = 0


def slots(text, device):
    """--devices all | N | 0,2,5 -> [Slot]; a one-line UsageError for anything else."""
    if device == "cuda":
        import torch

        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else [str(i) for i in range(torch.cuda.device_count())]
        chosen = pick(text, len(ids), "GPU")
        return [Slot(ids[i]) for i in chosen]
    cores = os.cpu_count() or 1
    count = len(pick(text, None, "CPU worker"))
    return [Slot(str(i), max(1, cores // count)) for i in range(count)]


def pick(text, available, what):
    """Indices into the devices there are (available=None: as many as asked for)."""
    text = text.strip()
    if text == "all":
        return list(range(available if available is not None else os.cpu_count() or 1))
    if text.isdigit() and "," not in text:
        count = int(text)
        if count < 1 or (available is not None and count > available):
            raise UsageError(f"--devices {text}: this machine has {available} {what}(s)" if available is not None
                             else f"--devices {text}: give at least 1")
        return list(range(count))
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() for p in parts) or len(set(parts)) < len(parts):
        raise UsageError(f"--devices {text!r}: write all, a count (2) or distinct device numbers (0,2,5)")
    chosen = [int(p) for p in parts]
    if available is not None and max(chosen) >= available:
        raise UsageError(f"--devices {text}: this machine has {available} {what}(s), numbered 0-{available - 1}")
    return chosen


class DevicePool:
    """One sweep per slot; `run(groups, seed)` hands the groups out from one queue, in threads."""

    def __init__(self, emit, device, timeout_s, slot_list, **sweep_options):
        self.emit, self.lock, self.stopping, self.failures = emit, threading.Lock(), False, []
        self.sweeps = [Sweep(self.emit_safely, device, timeout_s, slot=s, **sweep_options) for s in slot_list]
        self.threads = []

    def emit_safely(self, record):
        """Records come from several threads; none after a stop (Ctrl-C: the workers were ended)."""
        with self.lock:
            if not self.stopping:
                self.emit(record)

    def machine(self):
        return self.sweeps[0].machine()

    def run(self, groups, seed, budget=None):
        """Run [(spec, backends, dtype, shape)] in queue order over every slot; returns when all
        are done (a KeyboardInterrupt in the waiting thread goes to the caller). budget: a
        bench/run/budget.Budget that admits each group as a slot takes it."""
        work = queue.Queue()
        for group in groups:
            work.put(group)
        self.threads = [threading.Thread(target=self.drain, args=(sweep, work, seed, budget), daemon=True)
                        for sweep in self.sweeps]
        for thread in self.threads:
            thread.start()
        for thread in self.threads:
            while thread.is_alive():
                thread.join(timeout=0.2)  # short waits: Ctrl-C stays deliverable
        if self.failures:
            raise self.failures[0]

    def drain(self, sweep, work, seed, budget=None):
        while not self.stopping:
            try:
                group = work.get_nowait()
            except queue.Empty:
                return
            if budget and not budget.admit(group):
                continue
            started = time.monotonic()
            try:
                sweep.run(*group, seed)
                if budget:
                    budget.done(group, time.monotonic() - started)
            except Exception as exc:  # not a kernel's failure (those are records): the harness's own
                if not self.stopping:
                    self.failures.append(exc)
                return

    def close(self):
        with self.lock:
            self.stopping = True
        for sweep in self.sweeps:
            sweep.stop()
        for thread in self.threads:
            thread.join(timeout=10)
