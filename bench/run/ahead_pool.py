"""The compile-ahead pool (bench/run/ahead.py says what it does and what stays fair): processes
that build TileLang's configs into the shared cache and mark each done. Apart from ahead.py,
which the timing worker imports, because this side needs the backends and the worker."""
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.run.ahead import ahead_configs, key, read_mark, write_mark


def init(folder, parent):
    """A pool process: TileLang's kernel cache in the shared folder; it ends with its parent."""
    from bench.run.worker import die_with_parent

    os.environ["TILELANG_CACHE_DIR"] = str(Path(folder) / "tilelang")
    die_with_parent(parent)


def compile_one(folder, name, spec_name, backend, dtype, shape, config, arch, target, concurrent):
    """Build one config into the cache; its mark says done with the compile time, or failed."""
    import importlib

    from bench.run.backends import tilelang_compile

    spec = importlib.import_module(spec_name)
    t0 = time.perf_counter()
    try:
        tilelang_compile(spec, backend, dtype, shape, config, arch, target, cache=True)
    except Exception as exc:  # the timing worker compiles it itself and records the error there
        write_mark(folder, name, {"state": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]})
        return
    write_mark(folder, name, {"state": "done", "compile_ms": (time.perf_counter() - t0) * 1e3,
                              "concurrent_compiles": concurrent})


class CompileAhead:
    """The pool: submit(groups) queues the TileLang configs of those groups, in order."""

    def __init__(self, folder, workers, config="autotune", arch=None, target="cuda"):
        self.folder, self.workers, self.config, self.arch, self.target = str(folder), workers, config, arch, target
        Path(self.folder, "tilelang").mkdir(parents=True, exist_ok=True)
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=init,
                                        initargs=(self.folder, os.getpid()))
        self.futures = []

    def submit(self, groups):
        """Queue every config the pool builds for these [(spec, backends, dtype, shape)]; returns
        how many."""
        count = 0
        for spec, names, dtype, shape in groups:
            for backend in names:
                for config in ahead_configs(spec, backend, dtype, self.config):
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
