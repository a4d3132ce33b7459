"""`dslbench smoke`: every code path a run on this machine takes, once, at a small size, as a checklist.

On a GPU (the first command to run on one, within a few minutes): the measured peak, telemetry,
every op x both DSLs in every track x every installed vendor baseline (compiled, checked, timed
with CUDA events), autotuning over two configs, CUDA-graph timing, `inspect` for this GPU's arch,
the pytest-benchmark tiny benchmarks (with --benchmarks: they compile their kernels again). Without a GPU: both CPU paths on every op, the inspect
toolchain and TileLang's CUDA JIT for sm_90a. Each item prints ok, skipped (with the reason) or
FAILED (with a one-line reason) as it finishes; any failure exits 1.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.core import ops

ROOT = Path(__file__).resolve().parents[1]


class Checklist:
    """Items as they finish: ok / skipped / FAILED, and the tally."""

    def __init__(self, out=sys.stdout):
        self.out, self.counts, self.t0 = out, {"ok": 0, "skipped": 0, "FAILED": 0}, time.perf_counter()

    def add(self, status, item, detail=""):
        self.counts[status] += 1
        elapsed = time.perf_counter() - self.t0
        print(f"[{elapsed:6.1f}s] {status:7s} {item}" + (f": {detail}" if detail else ""), file=self.out, flush=True)

    def record(self, record):
        """A case record as a checklist item."""
        item = f"{record['op']} {record['dtype']} {record['backend']} {ops.shape_str(record['shape'])}"
        if record["status"] == "pass":
            t = (record.get("time") or {}).get("median_ms")
            tried = len(record.get("autotune") or []) or 1
            parts = [f"{t:.4g} ms" if t else "checked", f"{tried} config(s)" if tried > 1 else "",
                     "emulated" if record.get("emulated") else "", record.get("timing", "").split(",")[0]]
            self.add("ok", item, ", ".join(p for p in parts if p))
        elif record["status"] == "skipped":
            self.add("skipped", item, record["reason"])
        else:
            self.add("FAILED", item, f"{record['status']}: {record['reason']}")

    def summary(self):
        c = self.counts
        return f"smoke: {c['ok']} ok, {c['skipped']} skipped, {c['FAILED']} FAILED in {time.perf_counter() - self.t0:.0f} s"


def smoke_shape(spec):
    """A small shape every kernel takes: the op's SMOKE_SHAPE, else the first of its CPU suite."""
    return dict(getattr(spec, "SMOKE_SHAPE", None) or spec.CPU_SUITE[0])


def smoke_dtype(spec, device):
    return (getattr(spec, "GPU_DTYPES", None) or spec.DTYPES)[0] if device == "cuda" else spec.DTYPES[-1]


def run_cases(check, device, timeout_s, cuda_graph=False, config="first", only=None):
    """Every op (or `only`'s) on its smoke shape, every backend but the reference, in workers."""
    from bench.run.backends import backends_for
    from bench.run.sweep import Sweep

    sweep = Sweep(check.record, device, timeout_s, timed=device == "cuda", config=config, cuda_graph=cuda_graph)
    try:
        for op, names in (only or {op: None for op in ops.OPS}).items():
            spec = ops.load_spec(op)
            names = names or [b for b in backends_for(spec) if b != "reference"]
            sweep.run(spec, names, smoke_dtype(spec, device), smoke_shape(spec), seed=0)
    finally:
        sweep.close()


def step(check, item, fn):
    """Run one checklist item that is not a case: fn() -> (status, detail); an exception FAILS it."""
    try:
        status, detail = fn()
    except Exception as exc:  # a smoke test reports, it does not stop
        status, detail = "FAILED", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    check.add(status, item, detail)


def peak_item(timeout_s):
    from bench.run.sweep import Sweep

    sweep = Sweep(None, "cuda", timeout_s)
    try:
        m = sweep.machine()
    finally:
        sweep.close()
    if not m:
        return "FAILED", "the peak measurement's worker gave no record"
    return "ok", f"{m['peak_tflops_bf16']:.0f} TFLOP/s bf16, {m['peak_gbps']:.0f} GB/s"


def telemetry_item():
    from bench.run import telemetry

    snap = telemetry.snapshot()
    if snap is None:
        return "skipped", "neither nvidia-ml-py nor nvidia-smi answered for this GPU"
    if "error" in snap:
        return "FAILED", snap["error"]
    return "ok", f"{snap['source']}: SM {snap['sm_clock_mhz']} MHz, {snap['temperature_c']} C, slowdown {snap.get('slowdown')}"


def inspect_item(arch):
    """matmul compiled for `arch` by every DSL backend (one config each), without running it."""
    from bench import inspect as compile_report

    jobs = [j for j in compile_report.jobs("matmul", dtype_text="bf16", arch_text=arch, every_config=False)]
    rows = list(compile_report.run(jobs, workers=2))
    failed = [f"{r['backend']}: {r['reason']}" for r in rows if r["status"] != "compiled"]
    if failed:
        return "FAILED", "; ".join(failed)
    mma = {r["backend"]: "+".join(k for k in ("HGMMA", "QGMMA", "HMMA", "UTCHMMA") if r["metrics"]["sass"].get(k))
           for r in rows}
    return "ok", ", ".join(f"{b} {m or 'no MMA'}" for b, m in mma.items())


def tilelang_jit_item():
    """TileLang's CUDA JIT (device code and host launcher) for sm_90a, without a GPU."""
    import logging

    from bench.inspect import inspect_shape
    from bench.run.backends import tilelang_compile

    spec = ops.load_spec("matmul")
    backend = ops.dsl_backends(spec, dsls=("tilelang",))[0]
    logging.getLogger("tilelang").setLevel(logging.WARNING)
    config = spec.configs_for("bf16", ops.split_backend(backend)[1])[0]
    tilelang_compile(spec, backend, "bf16", inspect_shape(spec), config, None, {"kind": "cuda", "arch": "sm_90a"})
    return "ok", f"{backend} matmul bf16 built for sm_90a"


def benchmarks_item():
    """The pytest-benchmark tiny instance of matmul (a source checkout has tests/)."""
    tests = ROOT / "tests" / "test_benchmarks.py"
    if not tests.exists():
        return "skipped", "no tests/ here (an installed package): run it from a checkout"
    p = subprocess.run([sys.executable, "-m", "pytest", str(tests), "-q", "-n", "0", "-p", "no:cacheprovider", "-k", "matmul",
                        "--benchmark-columns=median"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")})
    last = (p.stdout.strip().splitlines() or ["no output"])[-1]
    return ("ok" if p.returncode == 0 else "FAILED"), last


BENCHMARKS_SKIPPED = ("it compiles its kernels again in a process of its own (about 2 minutes of a short GPU "
                      "window): dslbench smoke --benchmarks runs it")


def run(timeout_s=120, op_text=None, benchmarks=False):
    """The checklist for this machine (its cases for the ops in op_text, default all); returns
    the exit code (1 on any failure). benchmarks: on a GPU, the pytest-benchmark step too."""
    import torch

    from bench.core import env

    cases = {op: None for op in ops.parse_list(op_text, ops.OPS, "op")}
    device = env.device()
    env.configure(device)
    check = Checklist()
    print(f"dslbench smoke on {env.environment()['device_name']} ({device}): "
          + ("every GPU code path once" if device == "cuda" else "the CPU checklist (no GPU here)"), flush=True)
    if device == "cuda":
        step(check, "measured peak", lambda: peak_item(timeout_s))
        step(check, "telemetry", telemetry_item)
        run_cases(check, device, timeout_s, only=cases)
        run_cases(check, device, timeout_s, config="autotune:2", only={"matmul": None})
        run_cases(check, device, timeout_s, cuda_graph=True, only={"matmul": None})
        from bench.inspect.toolchain import ARCHS

        arch = ops.cuda_arch(torch.cuda.get_device_capability())
        step(check, f"inspect for {arch}", (lambda: inspect_item(arch)) if arch in ARCHS else
             (lambda: ("skipped", f"inspect does not target {arch}")))
        step(check, "pytest-benchmark tiny benchmarks",
             benchmarks_item if benchmarks else (lambda: ("skipped", BENCHMARKS_SKIPPED)))
    else:
        run_cases(check, device, timeout_s, only=cases)
        step(check, "inspect toolchain (sm_90a, no GPU)", lambda: inspect_item("sm_90a"))
        step(check, "TileLang CUDA JIT (sm_90a, no GPU)", tilelang_jit_item)
    print(check.summary())
    return 1 if check.counts["FAILED"] else 0
