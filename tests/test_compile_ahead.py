"""The compile-ahead pool (bench/run/ahead.py): TileLang's autotune configs built in other
processes, loaded from the cache by the timing worker; each kernel's first config still cold."""
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.core import ops
from bench.run import ahead
from tests.conftest import COMPILE_GROUP
from tests.test_inspect import needs_extra

ROOT = Path(__file__).resolve().parent.parent
MATMUL = ops.load_spec("matmul")
SHAPE = dict(M=256, N=256, K=256)
HOPPER = {"kind": "cuda", "arch": "sm_90a"}


@pytest.mark.parametrize("cpus,workers", [(16, 15), (3, 2), (2, 0), (1, 0)])
def test_one_process_per_core_less_the_timing_workers(cpus, workers):
    assert ahead.workers_for(cpus) == workers


def test_both_dsls_autotune_configs_after_the_first_are_built_ahead():
    for dsl in ops.DSLS:
        configs = MATMUL.configs_for("bf16", "best")
        assert ahead.ahead_configs(MATMUL, f"{dsl}-best", "bf16", "autotune") == configs[1:]
        assert ahead.ahead_configs(MATMUL, f"{dsl}-best", "bf16", "autotune:2") == configs[1:2]
        assert ahead.ahead_configs(MATMUL, f"{dsl}-best", "bf16", "first") == []
    assert ahead.ahead_configs(MATMUL, "torch", "bf16", "autotune") == []


def test_a_kernels_cold_compile_is_measured_at_its_first_shape_only():
    """The pool queues the first config too at a kernel's later shapes (the timing worker
    measures that kernel's cold compile once, at its first group), and a group queued again
    adds nothing."""
    from bench.run.ahead_pool import CompileAhead

    class Queue:
        def __init__(self):
            self.configs = []

        def submit(self, fn, folder, name, spec_name, backend, dtype, shape, config, *rest):
            self.configs.append((backend, shape["M"], config))

    pool = CompileAhead.__new__(CompileAhead)
    pool.folder, pool.workers, pool.config, pool.arch, pool.target = "", 3, "autotune", "sm_90a", "cuda"
    pool.pool, pool.futures, pool.cold_at = Queue(), [], {}
    configs = MATMUL.configs_for("bf16", "best")
    small, large = dict(M=256, N=256, K=256), dict(M=512, N=256, K=256)
    with pytest.MonkeyPatch.context() as mp:
        marks = {}
        mp.setattr("bench.run.ahead_pool.read_mark", lambda folder, name: marks.get(name))
        mp.setattr("bench.run.ahead_pool.write_mark", lambda folder, name, mark: marks.__setitem__(name, mark))
        assert pool.submit([(MATMUL, ["triton-best"], "bf16", small)]) == len(configs) - 1
        assert pool.submit([(MATMUL, ["triton-best", "cublas"], "bf16", large)]) == len(configs)
        assert pool.submit([(MATMUL, ["triton-best"], "bf16", small)]) == 0
    assert ("triton-best", 256, configs[0]) not in pool.pool.configs
    assert ("triton-best", 512, configs[0]) in pool.pool.configs
    assert ahead.ahead_configs(MATMUL, "triton-best", "bf16", "autotune", cold_here=False) == configs


@pytest.mark.parametrize("processes", [0, 1, 3, 15])
def test_the_schedule_replays_the_pool_and_the_timing_worker(processes):
    """ahead.schedule: one cold compile per kernel in the timing worker when there is a pool,
    everything there without one; its end lies between the busiest side and one at a time."""
    shapes = [dict(M=m, N=256, K=256) for m in (256, 512, 1024)]
    names = ["triton-best", "tilelang-best", "triton-matched", "cublas"]
    groups = [(MATMUL, names, "bf16", s) for s in shapes]
    seconds = {}

    def compile_s(spec, backend, dtype, shape, config):  # a different, repeatable time per compile
        name = ahead.key(spec.__name__, backend, dtype, shape, config)
        return seconds.setdefault(name, 1 + int(name[:4], 16) % 7)
    plan = ahead.schedule(groups, compile_s, processes)
    total = sum(len(MATMUL.configs_for("bf16", ops.split_backend(b)[1])) for b in names[:3]) * len(shapes)
    assert plan["worker"] + plan["pool"] == total
    assert plan["worker"] == (3 if processes else total)
    assert plan["serial_s"] == sum(seconds.values())
    assert plan["end_s"] <= plan["serial_s"]
    if processes:
        pooled = plan["serial_s"] - sum(compile_s(MATMUL, b, "bf16", shapes[0], MATMUL.configs_for("bf16", t)[0])
                                        for b, t in (("triton-best", "best"), ("tilelang-best", "best"),
                                                     ("triton-matched", "matched")))
        assert plan["end_s"] >= pooled / processes
    else:
        assert plan["end_s"] == plan["serial_s"]


def test_a_triton_config_whose_launch_compiled_after_all_says_so_with_its_own_time(tmp_path):
    """The worker's side of a Triton config built ahead: its cache folder gaining an entry
    in the first launch means the JIT compiled it (a key the pool did not reproduce)."""
    from bench.run import backends

    def build(missed):
        def run_config(config):
            cache = tmp_path / f"cache-{missed}"
            cache.mkdir()
            mark = {"state": "done", "compile_ms": 1e6, "concurrent_compiles": 3, "cache": str(cache)}
            before = ahead.cache_entries(cache)

            def run():
                if missed:
                    (cache / "new-key").mkdir(exist_ok=True)
            run.built_ahead, run.ahead_missed = mark, lambda: ahead.cache_entries(cache) != before
            return run
        return run_config
    hit = backends.compiled(build(False), {"x": 1}, "cpu")
    assert hit.compile_ms >= 1e6 and backends.ahead_fields(hit) == {"compiled": "ahead", "concurrent_compiles": 3}
    miss = backends.compiled(build(True), {"x": 1}, "cpu")
    assert miss.compile_ms < 1e6 and backends.ahead_fields(miss) == {"compiled": "ahead-missed",
                                                                    "concurrent_compiles": 3}
    tried = [{"compile_ms": 7.0, "compiled": "ahead-missed"}, {"compile_ms": 5.0}]
    assert backends.first_cold(tried) == 5.0  # the cold compile is one compiled alone, never the pool's time


def test_a_config_the_pool_has_not_got_is_compiled_by_the_worker(tmp_path):
    assert ahead.compiled_ahead(MATMUL, "tilelang-best", "bf16", SHAPE, {"x": 1}, folder=str(tmp_path)) is None
    name = ahead.key(MATMUL.__name__, "tilelang-best", "bf16", SHAPE, {"x": 1})
    ahead.write_mark(tmp_path, name, {"state": "failed", "reason": "nvcc failed"})
    assert ahead.compiled_ahead(MATMUL, "tilelang-best", "bf16", SHAPE, {"x": 1}, folder=str(tmp_path)) is None
    ahead.write_mark(tmp_path, name, {"state": "done", "compile_ms": 5.0, "concurrent_compiles": 3})
    assert ahead.compiled_ahead(MATMUL, "tilelang-best", "bf16", SHAPE, {"x": 1}, folder=str(tmp_path))["compile_ms"] == 5


def test_no_pool_on_the_cpu_or_when_asked_for_none():
    from bench.session import compile_ahead

    args = SimpleNamespace(compile_ahead=None, inline=False)
    assert compile_ahead(args, True, "cpu", "first") is None
    assert compile_ahead(SimpleNamespace(compile_ahead=0, inline=False), True, "cuda", "autotune") is None


def test_the_verdict_compares_the_cold_first_config_compile():
    from bench.results import verdict

    def record(dsl, compile_ms, cold):
        return {"op": "matmul", "dtype": "bf16", "track": "best", "backend": f"{dsl}-best", "dsl": dsl,
                "compile_ms": compile_ms, "cold_compile_ms": cold, "autotune_ms": 1.0, "status": "pass"}
    groups = {("matmul", "bf16"): [record("triton", 5000, 1000), record("tilelang", 90000, 4000)]}
    [row] = verdict.compile_rows(groups)
    assert row[3:6] == ["1000", "4000", verdict.x(4.0)]


TRITON_HIT = """
import json, os, sys
from pathlib import Path
import triton
from bench.core import ops
from bench.core.triton_launch import cuda_target, launches, source_of
from bench.run import ahead
from kernels import compiling_for
spec, shape, config, cache = ops.load_spec("matmul"), json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
os.environ["TRITON_CACHE_DIR"] = cache
target = cuda_target("sm_90a")
before = ahead.cache_entries(cache)
# bound on real tensors, as a launch binds them (here on the CPU: the same shapes, strides, alignment)
with compiling_for("sm_90a"):
    found = launches(spec, "triton-best", shape, "bf16", config, "sm_90a", device="cpu")
for kernel, args, kwargs in found:
    source, options = source_of(kernel, args, kwargs, target)
    triton.compile(source, target=target, options=options)
print(json.dumps({"before": before, "after": ahead.cache_entries(cache)}))
"""

WORKER_SIDE = """
import json, os, sys
from pathlib import Path
from bench.core import ops
from bench.run import ahead
from bench.run.backends import tilelang_compile
spec, shape, config, target = ops.load_spec("matmul"), json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
mark = ahead.compiled_ahead(spec, "tilelang-best", "bf16", shape, config)
cache = Path(os.environ["TILELANG_CACHE_DIR"])
before = sorted(str(p) for p in cache.rglob("*"))
kernel = tilelang_compile(spec, "tilelang-best", "bf16", shape, config, None, target, cache=mark is not None)
print(json.dumps({"mark": mark, "before": before, "after": sorted(str(p) for p in cache.rglob("*"))}))
"""


@needs_extra
@COMPILE_GROUP
def test_the_worker_loads_what_the_pool_built(tmp_path):
    from bench.run.ahead_pool import CompileAhead

    pool = CompileAhead(tmp_path, 1, "autotune:2", arch="sm_90a", target=HOPPER)
    try:
        assert pool.submit([(MATMUL, ["tilelang-best", "triton-best", "torch"], "bf16", SHAPE)]) == 2
        assert pool.submit([(MATMUL, ["tilelang-best", "triton-best"], "bf16", SHAPE)]) == 0  # queued once
        pool.wait()
    finally:
        pool.close()
    [config] = ahead.ahead_configs(MATMUL, "tilelang-best", "bf16", "autotune:2")
    env = {**os.environ, ahead.FOLDER_ENV: str(tmp_path), "TILELANG_CACHE_DIR": str(tmp_path / "tilelang")}
    p = subprocess.run([sys.executable, "-c", WORKER_SIDE, json.dumps(SHAPE), json.dumps(config), json.dumps(HOPPER)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["mark"]["state"] == "done" and seen["mark"]["compile_ms"] > 0 and seen["mark"]["concurrent_compiles"] == 1
    assert seen["before"] and seen["after"] == seen["before"]  # a load from the cache: nothing new compiled

    # Triton: the pool's build is what a launch of that config asks Triton's cache for
    mark = ahead.compiled_ahead(MATMUL, "triton-best", "bf16", SHAPE, config, folder=str(tmp_path))
    assert mark["state"] == "done" and mark["compile_ms"] > 0 and ahead.cache_entries(mark["cache"])
    p = subprocess.run([sys.executable, "-c", TRITON_HIT, json.dumps(SHAPE), json.dumps(config), mark["cache"]],
                       cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"},
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["before"] and seen["after"] == seen["before"]  # a hit: nothing new compiled


def test_inspect_headline_ends_with_the_pools_schedule():
    """`inspect --suite headline` prints how a 16-core GPU machine's pool would build what it
    compiled: one cold compile per kernel in the timing worker, the rest in the pool."""
    from bench import inspect as compile_report
    from bench.cli import headline_schedule

    try:
        job_list = compile_report.headline_jobs()
    except Exception as exc:  # no nvcc or cuobjdump: the job list cannot be made here
        pytest.skip(f"inspect's toolchain: {exc}")
    records = [{**{k: job[k] for k in ("op", "backend", "dtype", "shape", "config", "arch")}, "status": "compiled",
                "compile_ms": 1000.0, "concurrent_compiles": 2} for job in job_list]
    kernels = {(r["op"], r["backend"], r["dtype"]) for r in records}
    lines = headline_schedule(records)
    assert lines[0].startswith("the headline in a GPU run") and "2 at a time" in lines[0]
    assert (f"a pool of 15 (a machine of 16 cores): {len(kernels)} compiles in the timing worker, "
            f"{len(records) - len(kernels)} in the pool") in lines[1]
    assert f"({len(records)} s one at a time)" in lines[1]
