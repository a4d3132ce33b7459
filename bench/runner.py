"""Run cases: inputs and reference once per (op, dtype, shape), then every backend on them."""
import traceback

from bench import backends, check, env, timing
from bench.records import SCHEMA

TIMING_LABEL = {
    "cuda": "cuda-events, L2 flushed before each repetition",
    "cpu": "cpu-path wall clock (interpreter / C backend): not performance",
}


def base_record(spec, backend, dtype, shape, seed, device):
    return {
        "schema": SCHEMA, "kind": "case", "op": spec.NAME, "backend": backend, "dtype": dtype, "shape": dict(shape),
        "seed": seed, "device": device,
        "path": "cuda" if device == "cuda" else backends.CPU_PATH.get(backend, "cpu"),
        "status": None, "reason": "", "emulated": False, "config": None,
        "flops": spec.flops(shape), "bytes": spec.bytes_moved(shape, dtype),
    }


def run_group(spec, names, dtype, shape, seed, device, timed, config="first"):
    """Yield one record per backend for one (dtype, shape), sharing inputs and reference."""
    inputs = spec.make_inputs(shape, dtype, seed, device)
    reference = spec.reference(inputs)
    if config == "first":
        config = spec.configs_for(dtype)[0]
    for backend in names:
        record = base_record(spec, backend, dtype, shape, seed, device)
        try:
            record.update(run_backend(spec, backend, dtype, shape, inputs, reference, device, timed, config))
        except backends.Skip as skip:
            record.update(status="skipped", reason=str(skip))
        except Exception as exc:  # a crashing kernel is a result, not the end of the sweep
            record.update(status="error", reason=one_line(exc), traceback=traceback.format_exc(limit=8))
        record["env"] = env.environment()
        record["utc"] = env.utc_now()
        yield record


def run_backend(spec, backend, dtype, shape, inputs, reference, device, timed, config):
    prepared = backends.prepare(backend, spec, shape, dtype, config, inputs, device)
    tolerance = spec.TOLERANCE[dtype]
    result = check.compare(prepared.outputs, reference, tolerance)
    out = {
        "status": "pass" if result["passed"] else "fail", "reason": result["reason"],
        "emulated": prepared.emulated, "config": prepared.config,
        "max_abs_err": result["max_abs_err"], "rel_err": result["rel_err"],
        "tolerance": {"rel": tolerance[0], "abs": tolerance[1]} if not isinstance(tolerance, dict) else tolerance,
        "compile_ms": prepared.compile_ms, "autotune_ms": prepared.autotune_ms,
    }
    if prepared.tried:
        out["autotune"] = prepared.tried
    if timed and result["passed"]:
        if backend == "reference":
            prepared.run = lambda: spec.reference(inputs)
        stats = timing.time_fn(prepared.run, device)
        seconds = stats["median_ms"] / 1e3
        out.update(timing=TIMING_LABEL[device], time=stats,
                   tflops=spec.flops(shape) / seconds / 1e12 if seconds else None,
                   gbps=spec.bytes_moved(shape, dtype) / seconds / 1e9 if seconds else None)
    return out


def one_line(exc):
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
