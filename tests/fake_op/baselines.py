"""Backends of the fake op: one right, the others crash, hang, raise, crawl, are wrong, leave a
(simulated) sticky CUDA error behind, or fail only when timed."""
import os
import time

# What CUDA says after a kernel faults; the error then stays with the process (sticky).
STICKY = "CUDA error: an illegal memory access was encountered (simulated)"
POISONED = []  # set once a simulated fault happened in this process: every later call fails
CALLS = {}


def healthy():
    if POISONED:
        raise RuntimeError(STICKY)


def ok(x, y):
    healthy()
    y.copy_(2 * x)


def abort(x, y):
    os.abort()  # SIGABRT, as a segfaulting kernel would take the process down


def hang(x, y):
    time.sleep(3600)


def fail(x, y):
    raise RuntimeError(STICKY)


def mistake(x, y):
    """An ordinary exception (a bad argument, a shape a kernel refuses): nothing sticky."""
    raise ValueError("block_N must divide N (simulated)")


def poison(x, y):
    """A kernel that faults: this process's CUDA context is unusable from now on."""
    POISONED.append(True)
    raise RuntimeError(STICKY)


def slow(x, y):
    time.sleep(0.3)
    y.copy_(2 * x)


def wrong(x, y):
    y.copy_(2 * x + 1e-3)


def once(x, y):
    """Right on its first two calls (so it passes the check and the honesty guards' second call,
    bench/run/guards.py), raises on every later one (timing)."""
    CALLS["once"] = CALLS.get("once", 0) + 1
    if CALLS["once"] > 2:
        raise RuntimeError("fails when called again")
    y.copy_(2 * x)


BASELINES = {"ok": ok, "abort": abort, "hang": hang, "raise": fail, "mistake": mistake, "poison": poison, "slow": slow,
             "wrong": wrong, "once": once}
