"""Result records made up for tests of report, compare and export: the fields a run writes,
with times drawn from a seeded noise model (lognormal with a given coefficient of variation)."""
import json
import math
import random

from bench.core import ops
from bench.core.records import SCHEMA
from bench.run.timing import summarize

ENV = {"device_kind": "gpu", "device_name": "NVIDIA H100 80GB HBM3", "cpu": "x86_64", "python": "3.11.7",
       "torch": "2.8.0", "triton": "3.4.0", "tilelang": "0.1.6", "cuda": "12.8", "driver": "570.86",
       "git_commit": "0" * 40}


def samples(median_ms, cv, n, seed):
    """n times around median_ms, lognormal with coefficient of variation cv."""
    rng = random.Random(seed)
    sigma = math.sqrt(math.log(1 + cv * cv))
    return [median_ms * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


def case(backend, shape, times_ms=None, op="matmul", dtype="fp16", status="pass", device="cuda", config=None, **extra):
    """One case record; `times_ms` are its timing samples (None: untimed)."""
    spec = ops.load_spec(op)
    record = {
        "schema": SCHEMA, "kind": "case", "op": op, "backend": backend, "dsl": ops.split_backend(backend)[0],
        "track": ops.split_backend(backend)[1], "dtype": dtype, "shape": dict(shape),
        "seed": 0, "device": device, "path": "cuda" if device == "cuda" else "cpu", "status": status,
        "reason": "" if status == "pass" else "made up", "emulated": False, "config": config,
        "flops": spec.flops(shape), "bytes": spec.bytes_moved(shape, dtype), "max_abs_err": 1e-3, "rel_err": 1e-4,
        "tolerance": {"rel": 1e-3, "abs": 4e-3}, "compile_ms": 500.0 if backend.startswith("tilelang") else 200.0,
        "autotune_ms": 300.0, "env": dict(ENV), "utc": "2026-01-01T00:00:00+00:00",
    }
    if times_ms:
        record["time"] = summarize(times_ms)
        record["timing"] = "cuda-events" if device == "cuda" else "cpu-path wall clock: not performance"
        record["tflops"] = record["flops"] / (record["time"]["median_ms"] / 1e3) / 1e12
        record["gbps"] = record["bytes"] / (record["time"]["median_ms"] / 1e3) / 1e9
    record.update(extra)
    return record


def inspect(backend, config, registers, sass, op="matmul", dtype="fp16", shape=None, compile_ms=900.0):
    """A `dslbench inspect` record."""
    return {"schema": SCHEMA, "kind": "inspect", "op": op, "backend": backend, "dsl": ops.split_backend(backend)[0],
            "track": ops.split_backend(backend)[1], "dtype": dtype,
            "shape": shape or {"M": 1024, "N": 1024, "K": 1024}, "config": config, "arch": "sm_90a",
            "status": "compiled", "reason": "", "compile_ms": compile_ms,
            "metrics": {"compile_ms": compile_ms, "registers": registers, "spill_store_bytes": 0, "spill_load_bytes": 0,
                        "smem_bytes": 65536, "threads": 256, "sass": sass}, "env": dict(ENV), "utc": "2026-01-01T00:00:00+00:00"}


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
