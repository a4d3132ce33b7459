"""Run one group of cases: one (op, dtype, shape), every asked-for backend on the same inputs.

Phases, in order: inputs and the float64 reference (once); each backend prepared (compiled,
autotuned on a GPU) and checked; then the backends that passed timed together, interleaved.
`on_phase(backend, phase)` is told before each step, so that a supervising process knows
which backend a crash or hang belongs to (bench/run/sweep.py).
"""
import traceback

from bench.run import backends, check, guards, telemetry, timing
from bench.core import env
from bench.core.ops import is_user, split_backend, user_kernel
from bench.core.records import SCHEMA

TIMING_LABEL = {
    "cuda": "cuda-events, L2 flushed before each repetition, backends interleaved",
    "cuda-graph": "cuda-graph replays with the L2 flush inside, minus a flush-only graph",
    "cpu": "cpu-path wall clock (interpreter / C backend): not performance",
}


def base_record(spec, backend, dtype, shape, seed, device):
    dsl, track = split_backend(backend)  # both None for a vendor baseline or the reference
    if is_user(backend):  # a user's kernel: its DSL label, track "user", and which file it was
        kernel = user_kernel(backend)
        dsl, track = kernel["dsl"], "user"
    record = {
        "schema": SCHEMA, "kind": "case", "op": spec.NAME, "backend": backend, "dsl": dsl, "track": track,
        "dtype": dtype, "shape": dict(shape), "shape_class": shape_class(spec, shape), "seed": seed, "device": device,
        "path": "cuda" if device == "cuda" else backends.cpu_path(backend),
        "status": None, "reason": "", "emulated": False, "config": None,
        "flops": spec.flops(shape), "bytes": spec.bytes_moved(shape, dtype),
    }
    if is_user(backend):
        record["kernel_file"] = {"path": kernel["file"], "sha256": kernel["sha256"]}
    return record


def shape_class(spec, shape):
    """The op's name for this shape's class (e.g. attention's "decode"), reported as a group of
    its own; None when the op names none."""
    classify = getattr(spec, "shape_class", None)
    return classify(shape) if classify else None


def finish(record):
    record["env"] = env.environment()
    record["utc"] = env.utc_now()
    return record


class Carry:
    """Yielded before run_group stops at a sticky error: the backends that had passed their
    check, with what their preparation chose and cost ({backend: {config, compile_ms,
    autotune_ms, autotune}}). The supervisor runs them again in a fresh process with that config
    alone (`chosen`), so a sticky fault in one backend does not re-autotune the others."""

    def __init__(self, prepared):
        self.prepared = prepared


class Retime:
    """Yielded instead of records when backends timed together failed and errors are isolated:
    the supervisor times each alone, in a fresh process (the failure may have left a sticky
    CUDA error behind, and which backend caused it is unknown)."""


def run_group(spec, names, dtype, shape, seed, device, timed, config="first", cuda_graph=False, interleave=True,
              on_phase=lambda backend, phase: None, isolate_errors=False, time_reference=False, exclude=None,
              chosen=None):
    """Yield one finished record per backend.

    isolate_errors: stop at the first backend whose error may be sticky (backends.sticky: on a
    GPU a fault leaves a CUDA error that would fail every later backend under its own name),
    its record marked `sticky` and followed by a Carry of the backends that had passed, so
    that a supervising process can run the rest in a fresh process; any other error is that
    backend's record and the group goes on here. A config that faulted while autotuning is
    named in its record (`faulted_config`) for the same reason.
    chosen: {backend: what a Carry held}: prepare that backend with its chosen config alone and
    keep the first process's compile and autotune facts.
    time_reference: time the float64 reference too (only when asked for: it is the yardstick,
    not a contender; and never inside a CUDA graph). exclude: {backend: configs} not to try."""
    on_phase(None, "warm-up")
    backends.warm_up(device)
    on_phase(None, "inputs")
    inputs = spec.make_inputs(shape, dtype, seed, device)
    reference = spec.reference(inputs, **spec.kernel_flags(shape))
    pristine, second = guards.snapshot(inputs), {}  # the inputs before any call; the second call's (honesty)
    waiting, runs, stages = {}, {}, {}
    for backend in names:
        on_phase(backend, "prepare")
        record = base_record(spec, backend, dtype, shape, seed, device)
        try:
            if backend == "reference":  # computed once above; timed: the float64 computation itself
                prepared = backends.Prepared(run=lambda: spec.reference(inputs, **spec.kernel_flags(shape)),
                                             outputs=reference)
            else:
                earlier = (chosen or {}).get(backend)
                prepared = backends.prepare(backend, spec, shape, dtype, earlier["config"] if earlier else config,
                                            inputs, device, exclude=(exclude or {}).get(backend, ()))
                if earlier:
                    carried(prepared, earlier)
            record.update(checked(spec, dtype, prepared, reference_for(spec, inputs, prepared.outputs, reference),
                                  unwritten_for(spec, inputs)))
            if backend != "reference" and record["status"] == "pass":
                on_phase(backend, "check again")
                record.update(honesty(spec, shape, dtype, seed, device, prepared, pristine, second))
            if earlier:
                record["prepared_again"] = "in a fresh process after another backend's sticky error: its chosen config only"
            if timed and record["status"] == "pass" and (backend != "reference" or time_reference):
                waiting[backend], runs[backend], stages[backend] = record, prepared.run, prepared.stages
                continue
        except backends.Skip as skip:
            record.update(status="skipped", reason=str(skip))
        except backends.ConfigFault as fault:
            record.update(status="error", reason=str(fault), faulted_config=fault.config, sticky=True)
        except Exception as exc:  # a crashing kernel is a result, not the end of the sweep
            record.update(status="error", reason=one_line(exc), traceback=traceback.format_exc(limit=8))
            if isolate_errors and backends.sticky(exc, device):
                record["sticky"] = True
        yield finish(record)
        if record.get("sticky") and isolate_errors:
            yield carry(waiting)
            return
    if runs:
        yield from timed_records(spec, shape, dtype, device, waiting, runs, cuda_graph, interleave, on_phase,
                                 isolate_errors, stages)


def honesty(spec, shape, dtype, seed, device, prepared, pristine, second):
    """The honesty guards (bench/run/guards.py) after a passing check: the inputs as they were,
    and a second call on other inputs (made once per group, in `second`) that passes too; the
    record's new status and reason when not, else `second_call` (its seed and errors)."""
    wrote = guards.written(prepared.inputs, guards.as_read(prepared.inputs, pristine))
    if wrote:
        guards.restore(prepared.inputs, pristine)
        return {"status": "fail", "reason": guards.written_reason(wrote)}
    other_seed = seed + guards.SECOND_SEED
    if not second:
        second["inputs"] = spec.make_inputs(shape, dtype, other_seed, device)
        second["reference"] = spec.reference(second["inputs"], **spec.kernel_flags(shape))
    outputs, wrote = guards.second_call(prepared, second["inputs"], device)
    if wrote:
        return {"status": "fail", "reason": guards.written_reason(wrote) + " (on its second call)"}
    result = check.compare(outputs, reference_for(spec, second["inputs"], outputs, second["reference"]),
                           spec.TOLERANCE[dtype], unwritten_for(spec, second["inputs"]))
    if not result["passed"]:
        return {"status": "fail", "reason": f"a second call, on other inputs (seed {other_seed}), fails: "
                                            f"{result['reason']} (an answer kept from the first call?)"}
    return {"second_call": {"seed": other_seed, "max_abs_err": result["max_abs_err"], "rel_err": result["rel_err"]}}


def carry(waiting):
    """The Carry of the backends that passed their check ({backend: record})."""
    kept = ("config", "compile_ms", "autotune_ms", "autotune", "cold_compile_ms")
    return Carry({name: {key: r.get(key) for key in kept} for name, r in waiting.items() if name != "reference"})


def carried(prepared, earlier):
    """A backend prepared again with its chosen config: the facts of its first preparation."""
    prepared.compile_ms, prepared.autotune_ms = earlier["compile_ms"], earlier["autotune_ms"]
    prepared.cold_compile_ms = earlier.get("cold_compile_ms")
    prepared.tried = earlier.get("autotune") or prepared.tried


def reference_for(spec, inputs, outputs, reference):
    """What a backend's outputs are checked against: the group's float64 reference, or, for an
    op where more than one answer is right (spec.reference_for: a top-k among keys whose
    scores tie within the tolerance), the reference that matches these outputs."""
    adapt = getattr(spec, "reference_for", None)
    return adapt(inputs, outputs, reference) if adapt else reference


def unwritten_for(spec, inputs):
    """{output: bool mask} of the elements no kernel may write (spec.unwritten), or None."""
    marks = getattr(spec, "unwritten", None)
    return marks(inputs) if marks else None


def checked(spec, dtype, prepared, reference, unwritten=None):
    tolerance = spec.TOLERANCE[dtype]
    result = check.compare(prepared.outputs, reference, tolerance, unwritten)
    out = {
        "status": "pass" if result["passed"] else "fail", "reason": result["reason"],
        "emulated": prepared.emulated, "config": prepared.config,
        "max_abs_err": result["max_abs_err"], "rel_err": result["rel_err"],
        "tolerance": tolerance if isinstance(tolerance, dict) else {"rel": tolerance[0], "abs": tolerance[1]},
        "compile_ms": prepared.compile_ms, "autotune_ms": prepared.autotune_ms,
        "cold_compile_ms": prepared.cold_compile_ms,
    }
    if prepared.tried:
        out["autotune"] = prepared.tried
    return out


def timed_records(spec, shape, dtype, device, waiting, runs, cuda_graph, interleave, on_phase, isolate_errors=False,
                  stages=None):
    """Time the checked backends with the one procedure and yield their records.

    Interleaved (A, B, A, B, ...) unless told otherwise or in CUDA-graph mode, where each
    backend's graph is captured and timed on its own (one graph's memory pool alive at a time).
    A backend whose timing raises gets an error record; the others keep their times. Then the
    stages of each backend that has them (spec.STAGES), with the same procedure, into its
    record's `stage_time` ({stage: the same statistics as `time`}); on a GPU, each backend's
    host time per call into its record's `launch` (timing.launch_all)."""
    before = telemetry.snapshot() if device == "cuda" else None
    stats, errors, stage_stats = {}, {}, {}
    if interleave and not cuda_graph and len(runs) > 1:
        on_phase(list(runs), "time")
        try:
            stats = timing.time_all(runs, device)
        except Exception:
            if isolate_errors:  # who failed is unknown, and a CUDA error may be sticky: retime apart
                yield carry(waiting)
                yield Retime()
                return
    for name, run in runs.items():
        if name in stats:
            continue
        on_phase(name, "time")
        try:  # the reference is never captured in a graph (it syncs with the host, holds GBs)
            stats.update(timing.time_all({name: run}, device, cuda_graph and name != "reference"))
        except Exception as exc:
            errors[name] = f"timing: {one_line(exc)}"
            if isolate_errors:
                break
    for name, runs_of_stages in (stages or {}).items():
        if runs_of_stages and name in stats:
            on_phase(name, "time stages")
            try:
                stage_stats[name] = timing.time_all(runs_of_stages, device, cuda_graph)
            except Exception as exc:
                errors[name] = f"timing its stages: {one_line(exc)}"
                if isolate_errors:
                    break
    launch = timing.launch_all({n: runs[n] for n in stats if n not in errors}, device, stats, on_phase)
    streams = {}
    try:
        on_phase(None, "stream check")
        streams = timing.stream_checks({n: runs[n] for n in stats if n not in errors}, device, cuda_graph)
    except Exception as exc:  # the cases were timed: their records keep their times, and say why this is missing
        streams = {n: {"error": one_line(exc)} for n in stats}
    after = telemetry.snapshot() if device == "cuda" else None
    for name, record in waiting.items():
        if name in errors:
            record.update(status="error", reason=errors[name])
        elif name not in stats:
            continue  # not timed: an earlier backend's error stopped this process (isolate_errors)
        else:
            graph = cuda_graph and device == "cuda" and name != "reference"
            record.update(timed_fields(spec, shape, dtype, stats[name], "cuda-graph" if graph else device))
            if name in stage_stats:
                record["stage_time"] = stage_stats[name]
            if name in launch:
                record["launch"] = launch[name]
            if name in streams:
                record["stream_check"] = streams[name]
            if before is not None:
                record["telemetry"] = telemetry.flags(before, after)
        yield finish(record)


def timed_fields(spec, shape, dtype, stats, label):
    seconds = stats["median_ms"] / 1e3
    return {"timing": TIMING_LABEL[label], "time": stats,
            "tflops": spec.flops(shape) / seconds / 1e12 if seconds else None,
            "gbps": spec.bytes_moved(shape, dtype) / seconds / 1e9 if seconds else None}


def one_line(exc):
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
