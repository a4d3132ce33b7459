"""One compile per call, in a worker process of its own.

Workers are fresh (spawned) interpreters that drop TRITON_INTERPRET before any kernel module is
imported: with it set (as the CPU tests and `check` do), @triton.jit would give an interpreted
function, which cannot be compiled for a GPU. Each worker imports the DSLs and warms Triton up
once, so that no compile time includes an import or a one-time setup.
"""
import importlib
import os

from bench.core.ops import split_backend
from bench.inspect.toolchain import ARCHS


def init(arch, backends):
    os.environ.pop("TRITON_INTERPRET", None)
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton's default, said aloud (silences a warning)
    import torch  # noqa: F401  (imported here, not inside the first timed compile)

    if "tilelang" in backends:
        import tilelang  # noqa: F401
    if "triton" in backends:
        from bench.inspect.triton_build import warm_up

        warm_up(ARCHS[arch])


def compile_case(job):
    """{status, reason, metrics} for one job (op, its spec module, backend, dtype, shape, config, arch).
    A backend that launches several kernels gets the main one's metrics (the largest), spills and
    instruction counts summed over all, and each kernel's own under metrics["kernels"]."""
    from bench.inspect.sass import analyze, combine

    try:
        spec = importlib.import_module(job["spec"])
        if split_backend(job["backend"])[0] == "triton":
            from bench.inspect.triton_build import compile_triton as build
        else:
            from bench.inspect.tilelang_build import compile_tilelang as build
        parts, facts = build(spec, job["backend"], job["shape"], job["dtype"], job["config"], ARCHS[job["arch"]])
        kernels = {}
        for cubin, log, launched in parts:
            for name, metrics in analyze(cubin, log).items():
                metrics.update(launched.get(name) or (next(iter(launched.values())) if len(launched) == 1 else {}))
                metrics["smem_bytes"] = (metrics["static_smem_bytes"] or 0) + metrics.get("dynamic_smem_bytes", 0)
                kernels[name] = metrics
        main = max(kernels, key=lambda n: sum(kernels[n]["sass"].values()))
        return {"status": "compiled", "reason": "", "metrics": {**facts, **combine(kernels, main)}}
    except Exception as exc:  # a config that does not compile for this arch is a result
        return {"status": "error", "reason": one_line(exc), "metrics": {}}


def one_line(exc):
    """The telling line of an error: the first, unless it only introduces the rest (Triton's
    'at 1:0:' before the source excerpt), then the last."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = (lines[-1] if lines[0].endswith(":") else lines[0]) if lines else ""
    return f"{type(exc).__name__}: {text}"[:300]
