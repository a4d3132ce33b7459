"""Backends of the fake op: one right, the others crash, hang, raise, crawl or are wrong."""
import os
import time


def ok(x, y):
    y.copy_(2 * x)


def abort(x, y):
    os.abort()  # SIGABRT, as a segfaulting kernel would take the process down


def hang(x, y):
    time.sleep(3600)


def fail(x, y):
    raise RuntimeError("CUDA error: an illegal memory access was encountered (simulated)")


def slow(x, y):
    time.sleep(0.3)
    y.copy_(2 * x)


def wrong(x, y):
    y.copy_(2 * x + 1e-3)


BASELINES = {"ok": ok, "abort": abort, "hang": hang, "raise": fail, "slow": slow, "wrong": wrong}
