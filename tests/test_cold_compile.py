"""Compile times are cold for both DSLs alike: Triton's in-memory and disk caches are fresh for each
prepared case (TileLang's cache is off), and the cache folders do not outlive their process."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run without TRITON_INTERPRET (a GPU process's state), in a process of its own.
PROBE = """
import json, os
os.environ.pop("TRITON_INTERPRET", None)
from bench.run import backends
from kernels.matmul import triton_matched as module
module.matmul_kernel.device_caches["an earlier shape"] = "a compiled kernel"
backends.cold_triton(module)
first = os.environ["TRITON_CACHE_DIR"]
cleared = not module.matmul_kernel.device_caches
backends.cold_triton(module)
print(json.dumps({"root": backends.cache_root(), "first": first, "second": os.environ["TRITON_CACHE_DIR"],
                  "cleared": cleared}))
"""


def test_each_prepared_triton_case_compiles_cold_and_its_caches_are_removed_at_exit():
    env = {k: v for k, v in __import__("os").environ.items() if k != "TRITON_INTERPRET"}
    p = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["cleared"], "Triton's in-memory kernels of an earlier shape would be reused: a warm compile"
    assert seen["first"] != seen["second"]  # an empty disk cache for each prepared case
    assert all(Path(seen[k]).parent == Path(seen["root"]) for k in ("first", "second"))
    assert not Path(seen["root"]).exists(), "the process's Triton caches outlived it"


def test_both_dsls_compile_their_configs_one_at_a_time(monkeypatch):
    """Compile times are comparable only if none is measured under another's contention."""
    import threading
    import time

    from bench.run import backends
    from kernels.matmul import spec
    from tests.conftest import DEVICE

    state = {"active": 0, "most": 0}
    lock = threading.Lock()

    def compiled(build, config, device):
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        time.sleep(0.05)
        with lock:
            state["active"] -= 1
        return backends.Prepared(run=lambda: None, outputs={}, compile_ms=10.0, config=config)
    monkeypatch.setattr(backends, "compiled", compiled)
    shape = dict(M=16, N=16, K=16)
    inputs = spec.make_inputs(shape, "fp16", 0, DEVICE)
    for backend in ("triton-matched", "tilelang-matched"):
        prepared = backends.prepare(backend, spec, shape, "fp16", "autotune", inputs, DEVICE)
        configs = spec.configs_for("fp16", "matched")
        assert state["most"] == 1, f"{backend} compiled configs concurrently"
        assert prepared.compile_ms == 10.0 * len(configs) and len(prepared.tried) == len(configs)
