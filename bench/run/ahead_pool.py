"""The compile-ahead pool (bench/run/ahead.py says what it does and what stays fair): processes
that build both DSLs' configs into the caches the timing worker loads from (TileLang's shared
kernel cache; one Triton cache folder per config) and mark each done. Apart from ahead.py,
which the timing worker imports, because this side needs the backends and the worker."""
import functools
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.run.ahead import key, pool_queue, read_mark, triton_cache, write_mark


def init(folder, parent):
    """A pool process: TileLang's kernel cache in the shared folder; Triton compiled for the GPU,
    never interpreted; it ends with its parent."""
    from bench.run.worker import die_with_parent

    os.environ["TILELANG_CACHE_DIR"] = str(Path(folder) / "tilelang")
    os.environ.pop("TRITON_INTERPRET", None)  # before any kernel module is imported
    die_with_parent(parent)


@functools.lru_cache(maxsize=None)
def triton_warmed_up(arch):
    """The arch, Triton's one-time setup for it paid once per pool process (as the timing
    worker's warm-up does), not by the first config this process compiles."""
    from bench.core.triton_launch import cuda_target, warm_up

    warm_up(cuda_target(arch))
    return arch


def compile_into_cache(spec, backend, shape, dtype, config, arch, cache):
    """Compile every Triton kernel the wrapper launches on a GPU of CUDA arch `arch` (sm_90a)
    into Triton's disk cache at `cache`, as the JIT of such a launch would compile them (the
    launch bound on meta tensors: bench/core/triton_launch.py): a JIT pointed at that folder
    then loads them instead of compiling."""
    import triton

    from bench.core.triton_launch import cuda_target, launches, source_of
    from kernels import compiling_for

    target = cuda_target(arch)
    os.environ["TRITON_CACHE_DIR"] = str(cache)
    with compiling_for(arch):
        found = launches(spec, backend, shape, dtype, config, arch)
    for kernel, args, kwargs in found:
        source, options = source_of(kernel, args, kwargs, target)
        triton.compile(source, target=target, options=options)


def compile_one(folder, name, spec_name, backend, dtype, shape, config, arch, target, concurrent):
    """Build one config into its cache; its mark says done with the compile time (and, for
    Triton, the cache folder), or failed."""
    import importlib

    from bench.core.ops import split_backend

    done = {"state": "done", "concurrent_compiles": concurrent}
    try:
        spec = importlib.import_module(spec_name)
        if split_backend(backend)[0] == "triton":
            done["cache"] = str(triton_cache(folder, name))
            triton_warmed_up(arch)
            t0 = time.perf_counter()
            compile_into_cache(spec, backend, shape, dtype, config, arch, done["cache"])
        else:
            from bench.run.backends import tilelang_compile

            t0 = time.perf_counter()
            tilelang_compile(spec, backend, dtype, shape, config, arch, target, cache=True)
    except Exception as exc:  # the timing worker compiles it itself and records the error there
        write_mark(folder, name, {"state": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]})
        return
    write_mark(folder, name, {**done, "compile_ms": (time.perf_counter() - t0) * 1e3})


class CompileAhead:
    """The pool: submit(groups) queues the configs of those groups' DSL backends, in order, all
    of them but the first config of each kernel's first group (ahead.pool_queue)."""

    def __init__(self, folder, workers, config="autotune", arch=None, target="cuda"):
        self.folder, self.workers, self.config, self.arch, self.target = str(folder), workers, config, arch, target
        Path(self.folder, "tilelang").mkdir(parents=True, exist_ok=True)
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=init,
                                        initargs=(self.folder, os.getpid()))
        self.futures = []
        self.cold_at = {}  # (op, backend, dtype): the shape whose group measures its cold compile

    def submit(self, groups):
        """Queue every config the pool builds for these [(spec, backends, dtype, shape)]; returns
        how many."""
        count = 0
        for spec, backend, dtype, shape, config in pool_queue(groups, self.config, self.cold_at):
            name = key(spec.__name__, backend, dtype, shape, config)
            if read_mark(self.folder, name):
                continue
            write_mark(self.folder, name, {"state": "queued"})
            self.futures.append(self.pool.submit(compile_one, self.folder, name, spec.__name__, backend, dtype,
                                                 dict(shape), config, self.arch, self.target, self.workers))
            count += 1
        return count

    def wait(self):
        for future in self.futures:
            future.result()

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)
