"""Export a dslbench run to pytest-benchmark's JSON, so that its tools read our runs.

Each timed case becomes one benchmark named as the matching test of tests/test_benchmarks.py,
so `pytest --benchmark-compare=FILE.json` lines our run up against a pytest-benchmark run of
the same cases, and `pytest-benchmark compare A.json B.json` compares two dslbench runs.
The statistics are ours (CUDA events on a GPU), converted to seconds, pytest-benchmark's unit.
"""
import json
import statistics

from bench.core.records import load
from bench.core.ops import shape_str

BENCH_FILE = "tests/test_benchmarks.py"
BENCH_TEST = "test_kernel"
FORMAT_VERSION = "5.1.0"  # the pytest-benchmark JSON layout written here


def case_id(op, backend, dtype, shape, seed):
    """The pytest parameter id of a case: the same in the benchmark tests and in exports."""
    return f"{op}-{backend}-{dtype}-{shape_str(shape)}-seed{seed}"


def group(op, dtype, shape):
    """pytest-benchmark's group: the backends of one case side by side."""
    return f"{op} {dtype} {shape_str(shape)}"


def stats(time):
    """pytest-benchmark's fields from our summary: median and min as measured, the rest from
    the stored samples; quartiles the way our iqr_ms is computed (inclusive method)."""
    s = sorted(ms / 1e3 for ms in time["samples_ms"])
    q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive") if len(s) > 1 else (s[0],) * 3
    mean = statistics.fmean(s)
    stddev = statistics.stdev(s) if len(s) > 1 else 0.0
    iqr = q3 - q1
    low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_outliers = sum(not low <= x <= high for x in s)
    stddev_outliers = sum(not mean - stddev <= x <= mean + stddev for x in s)
    return {
        "min": time["min_ms"] / 1e3, "max": s[-1], "mean": mean, "stddev": stddev, "rounds": time["n"],
        "median": time["median_ms"] / 1e3, "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_outliers, "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": min(x for x in s if x >= low), "hd15iqr": max(x for x in s if x <= high),
        "ops": 1 / mean if mean else 0.0, "total": sum(s), "data": s, "iterations": 1,
    }


EXTRA = ("op", "backend", "dtype", "shape", "seed", "device", "path", "status", "emulated", "config", "timing",
         "tflops", "gbps", "flops", "bytes", "compile_ms", "autotune_ms", "max_abs_err", "rel_err",
         "roofline", "telemetry", "launch", "utc")


def benchmark(record):
    cid = case_id(record["op"], record["backend"], record["dtype"], record["shape"], record.get("seed"))
    name = f"{BENCH_TEST}[{cid}]"
    return {
        "group": group(record["op"], record["dtype"], record["shape"]),
        "name": name, "fullname": f"{BENCH_FILE}::{name}",
        "params": {"case": cid}, "param": cid,
        "extra_info": {"source": "dslbench", **{k: record[k] for k in EXTRA if k in record}},
        "options": {"timer": "cuda events" if record.get("device") == "cuda" else "perf_counter",
                    "disable_gc": False, "min_rounds": None, "max_time": None, "min_time": None, "warmup": True},
        "stats": stats(record["time"]),
    }


def machine_info(env):
    """pytest-benchmark's machine_info keys we know, plus our whole environment."""
    return {"machine": env.get("cpu"), "processor": env.get("device_name"), "python_implementation": "CPython",
            "python_version": env.get("python"), "gpu": env.get("device_name") if env.get("device_kind") == "gpu" else None,
            "dslbench_env": env}


def commit_info(env):
    commit = env.get("git_commit") or ""
    return {"id": commit.removesuffix("-dirty") or None, "dirty": commit.endswith("-dirty"), "project": "dslbench"}


def to_pytest_benchmark(records):
    """The pytest-benchmark document for the timed cases of a run."""
    timed = [r for r in records if r.get("kind", "case") == "case" and (r.get("time") or {}).get("samples_ms")]
    env = next((r["env"] for r in timed if r.get("env")), {})
    return {
        "machine_info": machine_info(env), "commit_info": commit_info(env),
        "benchmarks": [benchmark(r) for r in timed],
        "datetime": max((r.get("utc") or "" for r in timed), default=""),
        "version": FORMAT_VERSION,
    }


def run(path, out, fmt="pytest-benchmark"):
    """The command: write the export; say how many cases went into it."""
    from bench.core.ops import UsageError

    document = to_pytest_benchmark(load(path))
    if not document["benchmarks"]:
        raise UsageError(f"{path}: no timed case to export (a `dslbench check` file has no timings)")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
    print(f"wrote {len(document['benchmarks'])} benchmarks in {fmt} format to {out}")
    return 0
