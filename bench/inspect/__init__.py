"""`dslbench inspect`: compile every kernel of both DSLs for a GPU arch, with no GPU, and read the
cubin: compile time, registers, spills, shared memory and the SASS instruction mix; for AMD
(gfx942) Triton's amdgcn assembly, and TileLang's HIP source (which needs ROCm to compile); for
Huawei Ascend (ascend) TileLang's AscendC source (which needs CANN's bisheng; Triton: skipped).

It answers "what does each DSL make of the same kernel on Hopper?" on any machine: whether the
tensor-core path is warpgroup MMA (HGMMA, QGMMA for fp8) or the older HMMA, whether loads go
through TMA (UTMALDG) or cp.async (LDGSTS), and what that costs in registers and shared memory.
Compiles run in a few worker processes (bench/inspect/worker.py), each one cold.
"""
import importlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from bench.core import mma, ops
from bench.inspect import toolchain
from bench.core.records import SCHEMA

def inspect_shape(spec):
    """The one shape each op is compiled for: the spec's INSPECT_SHAPE, else its first GPU shape
    (TileLang specializes on the shape; Triton on its alignment and divisibility)."""
    return dict(getattr(spec, "INSPECT_SHAPE", None) or spec.GPU_SUITE[0])


def jobs(op_text=None, backend_text=None, dtype_text=None, arch_text=None, every_config=True, track_text=None,
         shape_of=None):
    """Every (op, backend, dtype, config, arch) to compile, each name checked before any compile;
    the two DSLs of a track sit on adjacent rows for the same case. Backends are <dsl>-<track>
    (a bare DSL name: all its tracks); an arch variant (kernels/<op>/<dsl>_<track>_<arch>.py)
    adds its backend for its arch even before the spec lists that track. every_config=False keeps
    one config per dtype and track, a different one for each dtype in turn (quick, and still
    covers several). shape_of(spec) picks the shape to compile instead of inspect_shape (smoke
    compiles each op's SMOKE_SHAPE)."""
    archs = toolchain.parse_archs(arch_text)
    specs = [ops.load_spec(op) for op in ops.parse_list(op_text, ops.OPS, "op")]
    valid = list(dict.fromkeys([*(b for s in specs for a in archs for b in ops.arch_backends(s, a.name)),
                                *(b for s in specs for b in ops.user_backends(s))]))
    backends = ops.expand_backends(ops.parse_list(backend_text, [*valid, *ops.DSLS], "backend"), valid)
    tracks = ops.parse_list(track_text, ops.TRACKS, "track")
    dtypes = ops.parse_list(dtype_text, list(dict.fromkeys(d for s in specs for d in s.DTYPES)), "dtype")
    if any(ops.backend_dsl(b) == "tilelang" for b in backends) and any(a.vendor == "cuda" for a in archs):
        toolchain.nvcc()  # a missing or mixed CUDA wheel: one line, before anything runs
    if any(a.vendor == "cuda" for a in archs):
        toolchain.triton_tool("cuobjdump")
    out = []
    for spec in specs:
        shape = (shape_of or inspect_shape)(spec)
        for track in (t for t in ops.TRACKS if t in tracks):
            for dtype in (d for d in dtypes if d in spec.DTYPES):
                i = spec.DTYPES.index(dtype)  # the same config for a dtype whatever else is asked for
                for arch in archs:
                    mine = [b for b in ops.arch_backends(spec, arch.name)
                            if b in backends and ops.split_backend(b)[1] == track]
                    for backend in mine:
                        configs = ops.backend_configs(spec, backend, dtype, arch.name)
                        configs = configs if every_config else configs[i % len(configs):][:1] if configs else []
                        out += [dict(op=spec.NAME, spec=spec.__name__, backend=backend, dtype=dtype, shape=shape,
                                     config=c, arch=arch.name) for c in configs]
        out += user_jobs(spec, shape, dtypes, archs, every_config, backends)
    return order(out)


def user_jobs(spec, shape, dtypes, archs, every_config, backends):
    """The jobs of the users' kernels of this op (`--kernel`) written in Triton or TileLang (what
    inspect can compile): each config of the file's CONFIGS (the first only, with every_config
    off), for the dtypes it takes. Its file is imported here only to read those two lists."""
    out = []
    for backend in (b for b in ops.user_backends(spec) if b in backends):
        kernel = ops.user_kernel(backend)
        if kernel["dsl"] not in ops.DSLS:
            continue
        from bench.core import user

        module = ops.load_user_kernel(backend)
        configs = user.configs(module)[:None if every_config else 1]
        taken = getattr(module, "DTYPES", spec.DTYPES)
        out += [dict(op=spec.NAME, spec=spec.__name__, backend=backend, dtype=dtype, shape=shape, config=c,
                     arch=arch.name) for dtype in dtypes if dtype in spec.DTYPES and dtype in taken
                for arch in archs for c in configs]
    return out


def headline_jobs(backend_text=None, arch_text=None, every_config=True, track_text=None):
    """The jobs of `--suite headline`: every kernel the headline run compiles (each op's
    HEADLINE_SUITE in its GPU dtypes, every config of every DSL backend), for counting its
    compiles and timing them ahead of a GPU window."""
    out = []
    for op in ops.OPS:
        spec = ops.load_spec(op)
        for shape in getattr(spec, "HEADLINE_SUITE", ()):
            for dtype in (d for d in getattr(spec, "GPU_DTYPES", spec.DTYPES) if spec.headline(shape, d)):
                out += jobs(op, backend_text, dtype, arch_text, every_config, track_text,
                            shape_of=lambda _spec, shape=shape: dict(shape))
    return out


def mma_dtypes(spec, dtype):
    """The dtypes the kernel's matrix instructions take: the case's dtype, or for an op that chains
    stages of several (dsa_step: an FP8 indexer, then bf16 sparse MLA) the spec's MMA_DTYPES;
    none for an op with no matrix product (act_quant: MMA_DTYPES = ())."""
    declared = getattr(spec, "MMA_DTYPES", None)
    return list(declared if declared is not None else (dtype,))


def order(job_list):
    """Jobs grouped as the table reads best: per op, track, dtype and arch, each config's two DSLs
    on adjacent rows."""
    def key(job):
        return (job["op"], ops.split_backend(job["backend"])[1], job["dtype"], job["arch"])
    groups = {}
    for job in job_list:
        groups.setdefault(key(job), []).append(job)
    out = []
    for group in groups.values():
        configs = list(dict.fromkeys(repr(j["config"]) for j in group))
        out += [j for c in configs for j in group if repr(j["config"]) == c]
    return out


def run(job_list, workers=None):
    """Yield one record per job, in job order, as soon as it and those before it are done."""
    from bench.core import env
    from bench.inspect.worker import compile_case, init

    if not job_list:
        return
    workers = max(1, min(workers or os.cpu_count() or 1, len(job_list)))
    backends = sorted({ops.backend_dsl(j["backend"]) for j in job_list})
    context = multiprocessing.get_context("spawn")  # fresh interpreters: see worker.py
    archs = list(dict.fromkeys(j["arch"] for j in job_list))
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=init, initargs=(archs, backends))
    try:
        futures = [pool.submit(compile_case, job) for job in job_list]
        for job, future in zip(job_list, futures):
            yield record(job, outcome(future), env.environment(), env.utc_now(), workers)
    finally:  # on an interrupt, do not wait for the compiles not yet started
        pool.shutdown(cancel_futures=True)


def outcome(future):
    """The worker's result; a worker that died (a crash in a compiler it loaded) is an error row."""
    from bench.inspect.worker import one_line

    try:
        return future.result()
    except Exception as exc:
        return {"status": "error", "reason": f"compile worker died: {one_line(exc)}", "metrics": {}}


def record(job, result, environment, utc, workers):
    """A result record as `run` writes them, of kind "inspect": compile facts under metrics."""
    metrics = result["metrics"]
    out = {
        "schema": SCHEMA, "kind": "inspect", "op": job["op"], "backend": job["backend"], "dsl": ops.backend_dsl(job["backend"]),
        "track": "user" if ops.is_user(job["backend"]) else ops.split_backend(job["backend"])[1], "dtype": job["dtype"],
        "shape": dict(job["shape"]), "config": job["config"], "arch": job["arch"],
        "mma_dtypes": mma_dtypes(importlib.import_module(job["spec"]), job["dtype"]),
        "path": f"compile-only for {job['arch']}", "status": result["status"], "reason": result["reason"],
        "compile_ms": metrics.get("compile_ms"), "concurrent_compiles": workers,
        "metrics": metrics, "env": environment, "utc": utc,
    }
    # The tensor-core path by the rule of bench/core/mma.py: native, fallback or failed.
    out["tensor_core"] = {"path": mma.classify(out), "families": mma.families(out),
                          "native": "+".join(mma.natives(out)) or None}
    return out
