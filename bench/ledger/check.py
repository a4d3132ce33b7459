"""Run the ledger's reproducers, each in a fresh process, a few at a time, and make one record per
finding: its facts, the installed release of its DSL, and `present`, `fixed`, `skipped`,
`error` or `not reproduced` (a finding recorded as not reproducible in isolation)."""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from bench.core.records import SCHEMA

TIMEOUT_S = 600  # a TileLang lowering plus nvcc takes under a minute; a hung compiler must not hold CI


def probe(finding, timeout=TIMEOUT_S):
    """{status, reason, seconds} of one reproducer, run in a fresh interpreter."""
    if finding.not_reproducible:
        return {"status": "not reproduced", "reason": finding.not_reproducible, "seconds": 0.0}
    inherited = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the file's ENV says if it wants it
    env = {**inherited, **{k: str(v) for k, v in finding.env.items()}}
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "bench.ledger.probe", str(finding.path)], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:g} s", "seconds": timeout}
    seconds = time.perf_counter() - t0
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        result = {"status": "error", "reason": f"the reproducer's process died (exit {done.returncode}): {tail}"[:300]}
    return {**result, "seconds": round(seconds, 2)}


def record(finding, result, releases):
    return {"schema": SCHEMA, "kind": "finding", "finding": finding.id, "dsl": finding.dsl,
            "finding_kind": finding.kind, "found_in": finding.found_in, "release": releases.get(finding.dsl),
            "title": finding.title, "expected": finding.expected, "actual": finding.actual,
            "workaround": list(finding.workaround), "how": finding.how, **result}


def run(findings, jobs=None, timeout=TIMEOUT_S):
    """Yield one record per finding, in ledger order, as soon as it and those before it are done."""
    from bench.core.env import environment, utc_now

    env = environment()  # the machine and versions, as every result record holds them
    releases = {d: env[d] for d in ("triton", "tilelang")}  # the releases the reproducers import
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        futures = [pool.submit(probe, f, timeout) for f in findings]
        for finding, future in zip(findings, futures):
            yield {**record(finding, future.result(), releases), "env": env, "utc": utc_now()}
