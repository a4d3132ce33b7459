"""Compile ahead, the timing worker's side (the pool itself: bench/run/ahead_pool.py): while
the GPU times one group, a pool of processes (one per core, less one: the timing worker keeps
its own) builds the configs of the groups that follow, for both DSLs alike, into caches the
timing worker then loads from: TileLang's kernel cache, and Triton's disk cache, one folder per
config.

What stays fair (README: On a GPU): at the first shape a kernel (op, DSL backend, dtype) runs
in a run, its *first* config is never compiled ahead. The timing worker compiles it itself,
cold (TileLang's cache off, Triton's in a fresh folder), on the core the pool leaves free, for
both DSLs alike: that is the record's `cold_compile_ms`, which the verdict compares, one per
kernel. Everything else comes from the pool, the first config at the kernel's later shapes too
(those records have no `cold_compile_ms`): their compile time is the pool's, measured there
while others compiled too, and their autotune entries say so (`compiled: "ahead"`,
`concurrent_compiles`). Measuring the cold compile once per kernel, not once per shape, is
what lets the pool take the rest: the headline's 190 compiles would otherwise wait on 44 done
one after another.

Triton's JIT keys its cache on the launch's bound arguments (signature, constexprs, 16-byte
alignment and divisibility), which the pool reproduces without a launch: `dslbench inspect`'s
binder on the wrapper's launch arguments, on meta tensors (bench/core/triton_launch.py). The
worker points Triton's cache at the config's folder; should its launch compile after all (a
key the pool did not reproduce), the folder gains an entry, and the entry says
`compiled: "ahead-missed"` with the worker's own compile time.

A config is compiled ahead once: the pool marks each (kernel, shape, dtype, config) queued,
then done with its compile time, in the ahead folder; the timing worker waits for a queued one
to be done (it compiles it itself if the pool failed), then compiles with TileLang's cache on,
or Triton's pointed at the pool's folder: a load of what the pool built.
"""
import hashlib
import json
import os
import time
from pathlib import Path

FOLDER_ENV = "DSLBENCH_AHEAD_DIR"  # set for the timing workers: where the pool's marks are
WAIT_S = 900  # the longest a timing worker waits for a queued config (then compiles it itself)


def workers_for(cpus=None):
    """One compile process per core, less the timing worker's; none on a machine of 2 cores or
    fewer (the pool would take the worker's core)."""
    cpus = cpus or os.cpu_count() or 1
    return cpus - 1 if cpus > 2 else 0


def key(spec_name, backend, dtype, shape, config):
    text = json.dumps([spec_name, backend, dtype, dict(shape), config], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def mark_path(folder, name):
    return Path(folder) / "marks" / f"{name}.json"


def write_mark(folder, name, content):
    path = mark_path(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content))
    os.replace(tmp, path)  # atomic: a reader sees the old mark or the new one


def read_mark(folder, name):
    try:
        return json.loads(mark_path(folder, name).read_text())
    except (OSError, ValueError):
        return None


def tried_configs(spec, backend, dtype, config):
    """The configs an autotune `config` ("autotune", "autotune:N": the list's first N) tries for
    a DSL backend; none for a baseline or when only one config runs."""
    from bench.core.ops import DSLS, split_backend

    dsl, track = split_backend(backend)
    if dsl not in DSLS or not (isinstance(config, str) and config.startswith("autotune")):
        return []
    count = int(config.partition(":")[2] or 0) or None
    return spec.configs_for(dtype, track)[:count]


def ahead_configs(spec, backend, dtype, config, cold_here=True):
    """The configs of a DSL backend that the pool compiles: those an autotune tries, less the
    first where the kernel's cold compile is measured (`cold_here`: its first shape in the run;
    the timing worker compiles that one)."""
    return tried_configs(spec, backend, dtype, config)[1 if cold_here else 0:]


def pool_queue(groups, config, cold_at):
    """(spec, backend, dtype, shape, config) of every compile the pool takes for these groups
    [(spec, backends, dtype, shape)], in order. cold_at {(op, backend, dtype): shape}, kept
    across calls, is where each kernel's cold compile is measured: its first group seen."""
    for spec, names, dtype, shape in groups:
        for backend in names:
            shape_key = json.dumps(dict(shape), sort_keys=True)
            cold_here = cold_at.setdefault((spec.__name__, backend, dtype), shape_key) == shape_key
            for c in ahead_configs(spec, backend, dtype, config, cold_here):
                yield spec, backend, dtype, shape, c


def triton_cache(folder, name):
    """The folder of Triton's disk cache the pool compiles one config into."""
    return Path(folder) / "triton" / name


def cache_entries(folder):
    """What a Triton cache folder holds (one entry per compiled kernel): a launch that compiles
    adds one."""
    try:
        return sorted(p.name for p in Path(folder).iterdir())
    except OSError:
        return []


def compiled_ahead(spec, backend, dtype, shape, config, folder=None):
    """In the timing worker: the pool's mark for this config once it is done (waiting while it
    is queued), or None when the pool has not got it (or failed it): compile it here then."""
    folder = folder or os.environ.get(FOLDER_ENV)
    if not folder:
        return None
    name = key(spec.__name__, backend, dtype, shape, config)
    deadline = time.monotonic() + WAIT_S
    while True:
        mark = read_mark(folder, name)
        if mark is None or mark["state"] == "failed":
            return None
        if mark["state"] == "done":
            return mark
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def schedule(groups, compile_s, processes, config="autotune"):
    """The compile side of a GPU run with the pool, replayed from measured compile times (the GPU's
    own time taken as nil): the pool takes what `CompileAhead.submit` would queue, first come
    first built on `processes` processes, while the timing worker goes through the groups in
    order, compiling each kernel's cold first config itself and waiting for the rest.
    groups: [(spec, backends, dtype, shape)]; compile_s(spec, backend, dtype, shape, config):
    seconds. Returns {"worker": compiles in the timing worker, "pool": compiles in the pool,
    "end_s": when the timing worker has them all, "serial_s": the same compiles one at a time}."""
    import heapq

    pool = list(pool_queue(groups, config, {})) if processes > 0 else []  # no pool: the worker compiles all
    free, built = [0.0] * max(processes, 1), {}
    for spec, backend, dtype, shape, c in pool:
        done = heapq.heappop(free) + compile_s(spec, backend, dtype, shape, c)
        built[key(spec.__name__, backend, dtype, shape, c)] = done
        heapq.heappush(free, done)
    now = serial = 0.0
    worker = 0
    for spec, names, dtype, shape in groups:
        for backend, c in ((b, c) for b in names for c in tried_configs(spec, b, dtype, config)):
            seconds = compile_s(spec, backend, dtype, shape, c)
            serial += seconds
            name = key(spec.__name__, backend, dtype, shape, c)
            if name in built:
                now = max(now, built[name])
            else:
                now, worker = now + seconds, worker + 1
    return {"worker": worker, "pool": len(pool), "end_s": now, "serial_s": serial}
