"""The GPU timing procedure's logic, run on the CPU with stand-ins for CUDA events: the
order of flushes, calls and events is what makes the numbers honest, and it is the same
Python on a GPU. Also the roofline and throttle flags computed from what a GPU would report."""
import time

import pytest
import torch

from bench.run import peak, telemetry, timing


class FakeEvent:
    """A CUDA event that stamps the host clock when recorded (the work is synchronous here)."""
    log = None

    def __init__(self, enable_timing=True):
        self.t = None

    def record(self):
        self.t = time.perf_counter()
        FakeEvent.log.append("event")

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


@pytest.fixture
def fake_cuda(monkeypatch):
    log = []
    FakeEvent.log = log
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: log.append("sync"))
    monkeypatch.setattr(timing, "WARMUP_MS", 5.0)
    monkeypatch.setattr(timing, "MEASURE_MS", 30.0)
    timer = timing.GpuTimer.__new__(timing.GpuTimer)
    timer.flush_buffer = torch.empty(16, dtype=torch.int8)
    flush = timer.flush
    timer.flush = lambda: (log.append("flush"), flush())
    return timer, log


def sleeper(ms, name, log):
    def fn():
        log.append(name)
        time.sleep(ms / 1e3)
    return fn


def test_gpu_timer_flushes_before_every_timed_call_and_interleaves(fake_cuda):
    timer, log = fake_cuda
    stats = timer.time({"a": sleeper(2.0, "a", log), "b": sleeper(1.0, "b", log)})
    reps = stats["a"]["n"] + stats["b"]["n"]
    # The measured part is the log's tail: per repetition flush, event, call, event (the
    # flush outside the timed interval), then one synchronize for all of them.
    assert log[-1] == "sync" and "sync" not in log[-1 - 4 * reps:-1]
    blocks = [log[i:i + 4] for i in range(len(log) - 1 - 4 * reps, len(log) - 1, 4)]
    assert all(b[0] == "flush" and b[1] == b[3] == "event" for b in blocks)
    calls = [b[2] for b in blocks]
    assert calls == timing.interleave({"a": stats["a"]["n"], "b": stats["b"]["n"]})  # a, b, a, b, ...
    assert stats["a"]["n"] >= timing.MIN_REPS and stats["b"]["n"] > stats["a"]["n"]  # reps from the budget
    assert 1.9 < stats["a"]["median_ms"] < 4 and 0.9 < stats["b"]["median_ms"] < 3
    assert len(stats["a"]["samples_ms"]) == stats["a"]["n"]


def test_roofline_picks_the_bound_by_arithmetic_intensity():
    machine = {"peak_tflops_bf16": 800.0, "peak_gbps": 3000.0}  # ridge: 266.7 FLOP/byte
    gemm = {"dtype": "bf16", "flops": 2 * 4096**3, "bytes": 3 * 4096**2 * 2, "tflops": 600.0}
    copy_like = {"dtype": "bf16", "flops": 10**9, "bytes": 10**9, "tflops": 2.0}
    roof = peak.roofline(gemm, machine)
    assert roof["bound"] == "compute" and roof["pct_of_peak"] == pytest.approx(75.0)
    roof = peak.roofline(copy_like, machine)
    assert roof["bound"] == "memory" and roof["pct_of_peak"] == pytest.approx(2.0e12 / 3.0e12 * 100)
    assert peak.roofline(dict(gemm, dtype="e4m3"), machine) is None  # no measured FP8 roof
    assert peak.roofline(gemm, None) is None


def test_throttle_flag_from_nvml_slowdown_reasons():
    calm = {"sm_clock_mhz": 1980, "slowdown": []}
    hot = {"sm_clock_mhz": 1500, "slowdown": ["sw_thermal_slowdown"]}
    assert telemetry.throttled(calm, calm) is False
    assert telemetry.throttled(calm, hot) is True
    assert telemetry.throttled(None, {"error": "not supported"}) is None


def test_nvidia_smi_readings_parse_into_a_snapshot():
    hot = telemetry.parse_smi("1410, 1980, 83, 699.12, 0x0000000000000020\n")
    assert hot == {"sm_clock_mhz": 1410.0, "max_sm_clock_mhz": 1980.0, "temperature_c": 83.0, "power_w": 699.12,
                   "slowdown": ["sw_thermal_slowdown"], "power_capped": False, "reasons": "0x20", "source": "nvidia-smi"}
    calm = telemetry.parse_smi("1980, 1980, 40, [N/A], 0x0000000000000001")  # bit 0: idle, not a slowdown
    assert calm["power_w"] is None and calm["slowdown"] == []
    assert telemetry.throttled(calm, hot) is True and telemetry.throttled(calm, calm) is False


class FakeGraph:
    """A captured CUDA graph stand-in: logs its capture, each replay, and when it is freed."""

    def __init__(self, name, log):
        self.name, self.log = name, log
        log.append(("capture", name))

    def replay(self):
        self.log.append(("replay", self.name))

    def __del__(self):
        self.log.append(("free", self.name))


def test_graph_mode_warms_each_graph_and_keeps_one_alive_at_a_time(fake_cuda, monkeypatch):
    timer, log = fake_cuda
    backends = {"a": lambda: None, "b": lambda: None}
    names = {id(fn): name for name, fn in backends.items()}
    monkeypatch.setattr(timer, "capture", lambda fn, calls: FakeGraph(names.get(id(fn), "flush"), log))
    stats = timer.time_graphs(backends)
    assert stats["a"]["n"] == stats["b"]["n"] == timing.GRAPH_REPLAYS
    graph_log = [e for e in log if isinstance(e, tuple)]
    alive, most = set(), 0
    for what, name in graph_log:
        alive = alive | {name} if what == "capture" else alive - {name} if what == "free" else alive
        most = max(most, len(alive))
    assert most == 2  # the flush-only graph and one backend's: never two backends' pools at once
    for name in backends:  # captured, replayed once to warm up, then sampled against the flush graph
        i = graph_log.index(("capture", name))
        assert graph_log[i + 1] == ("replay", name) and graph_log[i + 2] == ("replay", name)
        assert graph_log[i + 3] == ("replay", "flush")
        assert graph_log.index(("free", name)) < (graph_log.index(("capture", "b")) if name == "a" else len(graph_log))


class Props:
    """torch's device properties of a GPU at PCI 0000:9b:00.0 (a second GPU, say)."""
    pci_domain_id, pci_bus_id, pci_device_id = 0, 0x9B, 0


def test_telemetry_reads_the_gpu_torch_uses_by_its_pci_bus_id(monkeypatch):
    import sys
    import types

    assert telemetry.pci_bus_id(Props()) == "00000000:9B:00.0"
    assert telemetry.pci_bus_id(object()) is None  # an older torch: no telemetry rather than another GPU's
    monkeypatch.setattr(telemetry, "current_bus_id", lambda: "00000000:9B:00.0")
    asked = []
    nvml = types.SimpleNamespace(nvmlInit=lambda: None, nvmlDeviceGetHandleByPciBusId=lambda b: asked.append(b) or "h",
                                 nvmlDeviceGetHandleByIndex=lambda i: pytest.fail("NVML's index is not torch's"))
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    telemetry.handle.cache_clear()
    try:
        assert telemetry.handle() == "h" and asked == ["00000000:9B:00.0"]
    finally:
        telemetry.handle.cache_clear()
    commands = []
    monkeypatch.setattr(telemetry.shutil, "which", lambda exe: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(telemetry.subprocess, "run", lambda cmd, **kw: commands.append(cmd) or types.SimpleNamespace(
        returncode=0, stdout="1980, 1980, 40, 300.0, 0x0"))
    assert telemetry.smi_snapshot()["sm_clock_mhz"] == 1980.0
    assert commands[0][-1] == "--id=00000000:9B:00.0"


def test_statistics_agree_with_numpy_on_skewed_samples():
    """Evenly spaced samples hide a wrong quantile index; skewed ones (a long tail) do not."""
    import numpy as np

    rng = np.random.default_rng(0)
    for n in (5, 7, 30, 101):
        samples = list(np.exp(rng.normal(0.0, 0.8, n)) + 0.1 * np.arange(n) ** 2 / n)
        stats = timing.summarize(samples)
        p10, p25, p50, p75, p90 = np.percentile(samples, [10, 25, 50, 75, 90])
        assert stats["median_ms"] == pytest.approx(p50, rel=1e-12)
        assert stats["p10_ms"] == pytest.approx(p10, rel=1e-12) and stats["p90_ms"] == pytest.approx(p90, rel=1e-12)
        assert stats["iqr_ms"] == pytest.approx(p75 - p25, rel=1e-12)
        assert stats["cv"] == pytest.approx(np.std(samples) / np.mean(samples), rel=1e-12)
