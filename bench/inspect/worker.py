"""One compile per call, in a worker process of its own.

Workers are fresh (spawned) interpreters that drop TRITON_INTERPRET before any kernel module is
imported: with it set (as the CPU tests and `check` do), @triton.jit would give an interpreted
function, which cannot be compiled for a GPU. Each worker imports the DSLs and warms Triton up
once, so that no compile time includes an import or a one-time setup.
"""
import importlib
import os

from bench.core.ops import backend_dsl, is_user, user_kernel
from bench.inspect.toolchain import ARCHS


def init(archs, backends):
    """Import what the compiles need and warm Triton up once for each arch (its NVIDIA and AMD
    backends each load once)."""
    os.environ.pop("TRITON_INTERPRET", None)
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton's default, said aloud (silences a warning)
    import torch  # noqa: F401  (imported here, not inside the first timed compile)

    if "tilelang" in backends:
        import tilelang  # noqa: F401
    if "triton" in backends:
        from bench.inspect.triton_build import warm_up

        for arch in (a for a in archs if ARCHS[a].vendor != "ascend"):  # Triton has no Ascend target
            warm_up(ARCHS[arch])


def compile_case(job):
    """{status, reason, metrics} for one job (op, its spec module, backend, dtype, shape, config, arch).
    A backend that launches several kernels gets the main one's metrics (the largest), spills and
    instruction counts summed over all, and each kernel's own under metrics["kernels"].
    status: compiled (machine code read: SASS, or amdgcn for Triton on AMD), lowered (TileLang on
    AMD, AscendC source for Ascend: source only, which needs ROCm's or CANN's compiler), skipped
    (the kernel refused the shape: kernels.Skip; Triton for Ascend: TRITON_ASCEND), error."""
    from bench.inspect.sass import combine
    from bench.inspect.tilelang_build import LoweringFailed
    from kernels import Skip

    try:
        spec = importlib.import_module(job["spec"])
        dsl = backend_dsl(job["backend"])
        if dsl == "tilelang" and is_user(job["backend"]) and user_kernel(job["backend"])["host"] != "factory":
            raise Skip(f"inspect compiles a TileLang file's factory {spec.NAME}_kernel; this file has a host function only")
        if dsl == "triton" and ARCHS[job["arch"]].vendor == "ascend":
            raise Skip(TRITON_ASCEND)
        if dsl == "triton":
            from bench.inspect.triton_build import compile_triton as build
        else:
            from bench.inspect.tilelang_build import compile_tilelang as build
        parts, facts = build(spec, job["backend"], job["shape"], job["dtype"], job["config"], ARCHS[job["arch"]])
        kernels = {}
        for binary, log, launched in parts:
            for name, metrics in read(binary, log, facts["source"], launched).items():
                metrics.update(launched.get(name) or (next(iter(launched.values())) if len(launched) == 1 else {}))
                metrics["smem_bytes"] = smem_bytes(metrics)
                kernels[name] = metrics
        main = max(kernels, key=lambda n: sum((kernels[n].get("sass") or kernels[n].get("amdgcn") or
                                                kernels[n].get("ascend") or kernels[n].get("mma") or {}).values()))
        metrics = {**facts, **combine(kernels, main)}
        if facts["source"] in NOT_COMPILED:
            return {"status": "lowered", "reason": NOT_COMPILED[facts["source"]], "metrics": metrics}
        return {"status": "compiled", "reason": "", "metrics": metrics}
    except Skip as exc:
        return {"status": "skipped", "reason": str(exc), "metrics": {}}
    except LoweringFailed as exc:  # already one line (bench/inspect/ascend.py, reason)
        return {"status": "error", "reason": str(exc), "metrics": {}}
    except Exception as exc:  # a config that does not compile for this arch is a result
        return {"status": "error", "reason": one_line(exc), "metrics": {}}


NOT_COMPILED_HIP = ("lowered to HIP source only: compiling it needs ROCm's hipcc/amdclang, not installed here "
                    "(registers, spills and instruction counts unknown)")
NOT_COMPILED_ASCEND = ("lowered to AscendC source only (TileLang's Ascend 950 target, dav-3510): compiling it "
                       "needs CANN's bisheng, which no registry here offers (binary, registers and timing unknown)")
NOT_COMPILED = {"hip-source": NOT_COMPILED_HIP, "ascend-source": NOT_COMPILED_ASCEND}
# Why Triton has no Ascend row (checked 2026-12-07: `pip download --no-deps triton-ascend` gets
# triton_ascend-3.2.0, whose wheel holds the package `triton` itself, __version__ 3.2.0): the only
# Ascend Triton replaces the project's Triton instead of adding a backend to it, and even there its
# NPU binary (stage "npubin") comes from CANN's bishengir-compile. Installed apart (pip install
# --target, with pybind11), it takes a tl.dot kernel for GPUTarget("npu", ...) as far as linalg MLIR
# (stage "ttadapter": a linalg.matmul, mix_mode "mix"), which does not say whether the Cube unit
# runs it (bishengir-compile decides that), then stops: "ASCEND_HOME_PATH is not set".
TRITON_ASCEND = ("no Ascend target in the project's Triton: triton-ascend 3.2.0 (PyPI) installs its own `triton` "
                 "package in place of Triton 3.9.0, and its NPU binary needs CANN's bishengir-compile")


def smem_bytes(metrics):
    """A kernel's shared memory: static (from the binary) plus dynamic (from its launch)."""
    return (metrics.get("static_smem_bytes") or 0) + metrics.get("dynamic_smem_bytes", 0)


def read(binary, log, source, launched):
    """{kernel name: metrics} from what a build produced: a cubin (SASS), Triton's amdgcn
    assembly, or TileLang's HIP or AscendC source (one entry per kernel it launches)."""
    from bench.inspect import amdgcn, ascend, sass

    if source == "sass":
        return sass.analyze(binary, log)
    if source == "amdgcn":
        return amdgcn.analyze(binary)
    if source == "ascend-source":
        return ascend.analyze_source(binary, launched)
    return amdgcn.analyze_hip_source(binary, launched)


def one_line(exc):
    """The telling line of an error: the first, unless it only introduces the rest (Triton's
    'at 1:0:' before the source excerpt), then the last."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = (lines[-1] if lines[0].endswith(":") else lines[0]) if lines else ""
    return f"{type(exc).__name__}: {text}"[:300]
