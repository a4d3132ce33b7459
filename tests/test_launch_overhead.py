"""Launch overhead: the host's time per call against the GPU's, with one procedure for every
backend (bench/run/timing.py). The procedure runs here against a simulated GPU: a stream that
runs work in order, never before the host issued it, with events stamped in stream time; each
fake kernel costs the host and the GPU known times, which the measurement must recover. On the
CPU no record carries a launch field."""
import pytest
from synthetic import case, write

from bench.core import ops
from bench.results import export, launch as launch_report
from bench.results.report import write as write_report
from bench.run import runner, telemetry, timing


class SimulatedGpu:
    """A one-stream GPU in simulated milliseconds: the host's clock advances by what a call
    costs the host; the stream runs each piece of work when it is free and the work issued."""

    def __init__(self):
        self.host = self.stream = 0.0
        self.holds = []

    def issue(self, host_ms, device_ms):
        self.host += host_ms
        self.stream = max(self.stream, self.host) + device_ms

    def now_ms(self):
        return self.host

    def sync(self):
        self.host = max(self.host, self.stream)

    def event(self):
        self.issue(0.0, 0.0)
        return self.stream  # the stream time the GPU reaches it

    @staticmethod
    def elapsed_ms(start, end):
        return end - start

    def done(self, event):
        return event <= self.host

    def hold(self, ms):
        self.holds.append(ms)
        self.issue(0.0, ms)

    def kernel(self, host_us, device_us, syncs=False):
        def call():
            self.issue(host_us / 1e3, device_us / 1e3)
            if syncs:  # e.g. reads a result back: the host waits for the GPU
                self.sync()
        return call


def test_a_host_bound_call_shows_its_overhead():
    gpu = SimulatedGpu()
    out = timing.launch_overhead(gpu.kernel(host_us=20.0, device_us=5.0), gpu, median_ms=0.005)
    assert out["calls"] == timing.LAUNCH_MAX_CALLS and out["reps"] == timing.LAUNCH_REPS
    assert out["host_us_per_call"] == pytest.approx(20.0)
    assert out["device_us_per_call"] == pytest.approx(5.0)
    assert out["wall_us_per_call"] == pytest.approx(20.05)  # the last kernel's 5 us, over 100 calls
    assert out["host_overhead_us"] == pytest.approx(15.05)


def test_a_device_bound_call_hides_its_host_time():
    gpu = SimulatedGpu()
    out = timing.launch_overhead(gpu.kernel(host_us=8.0, device_us=400.0), gpu, median_ms=0.4)
    assert out["calls"] == int(timing.LAUNCH_BUDGET_MS / 0.4)
    assert out["host_us_per_call"] == pytest.approx(8.0) and out["device_us_per_call"] == pytest.approx(400.0)
    assert out["wall_us_per_call"] == pytest.approx(400.0 + 8.0 / out["calls"])  # only the first issue shows
    assert out["host_overhead_us"] == pytest.approx(8.0 / out["calls"])
    assert all(ms >= 2 * out["calls"] * 0.4 for ms in gpu.holds)  # the hold outlasts the issuing


def test_calls_are_sized_from_the_timed_median_within_bounds():
    assert timing.launch_calls(1e-4) == timing.LAUNCH_MAX_CALLS
    assert timing.launch_calls(timing.LAUNCH_MAX_MS) == max(timing.LAUNCH_MIN_CALLS,
                                                            int(timing.LAUNCH_BUDGET_MS / timing.LAUNCH_MAX_MS))
    assert timing.launch_calls(50.0) == timing.LAUNCH_MIN_CALLS


def test_a_short_hold_is_lengthened_until_the_calls_are_all_queued(monkeypatch):
    """A host that issues more slowly while the GPU is held than in the back-to-back pass."""
    gpu = SimulatedGpu()
    slow = {"on": False}
    hold = gpu.hold
    monkeypatch.setattr(gpu, "hold", lambda ms: (slow.update(on=True), hold(ms)))
    def call():
        gpu.issue((60.0 if slow["on"] and len(gpu.holds) % 3 == 1 else 10.0) / 1e3, 2.0 / 1e3)
    out = timing.launch_overhead(call, gpu, median_ms=0.002, reps=1)
    assert gpu.holds[1] == 4 * gpu.holds[0]  # the first hold ran dry: tried again, 4x longer
    assert out["device_us_per_call"] == pytest.approx(2.0) and out["host_us_per_call"] == pytest.approx(10.0)


def test_a_call_that_waits_for_the_gpu_gets_no_device_time():
    gpu = SimulatedGpu()
    out = timing.launch_overhead(gpu.kernel(host_us=10.0, device_us=5.0, syncs=True), gpu, median_ms=0.005)
    assert out["device_us_per_call"] is None and out["host_overhead_us"] is None and out["host_us_per_call"] is None
    assert "waits for the GPU" in out["reason"]
    assert out["wall_us_per_call"] == pytest.approx(15.0)  # measured: every call issues, then waits
    assert len(gpu.holds) == timing.LAUNCH_ATTEMPTS and gpu.holds[-1] <= timing.LAUNCH_HOLD_MS[1]


def test_every_backend_gets_the_same_procedure_and_the_reference_none():
    gpu, seen = SimulatedGpu(), []
    runs = {"triton-best": gpu.kernel(12.0, 5.0), "tilelang-best": gpu.kernel(30.0, 4.0),
            "cublas": gpu.kernel(6.0, 5.0), "reference": gpu.kernel(1.0, 1.0), "slow": gpu.kernel(5.0, 3000.0)}
    stats = {n: {"median_ms": 3.0 if n == "slow" else 0.005} for n in runs}
    out = timing.launch_all(runs, "cuda", stats, on_phase=lambda b, p: seen.append((b, p)), clock=gpu)
    assert seen == [("triton-best", "launch"), ("tilelang-best", "launch"), ("cublas", "launch")]
    assert "reference" not in out and "timed median 3 ms > 1 ms" in out["slow"]["skipped"]
    for name, host in (("triton-best", 12.0), ("tilelang-best", 30.0), ("cublas", 6.0)):
        assert out[name]["calls"] == timing.LAUNCH_MAX_CALLS and out[name]["host_us_per_call"] == pytest.approx(host)
    assert out["tilelang-best"]["host_overhead_us"] == pytest.approx(26.04)


def test_a_measurement_that_raises_is_an_error_in_the_launch_field_only():
    gpu = SimulatedGpu()
    out = timing.launch_all({"a": lambda: 1 / 0}, "cuda", {"a": {"median_ms": 0.01}}, clock=gpu)
    assert out == {"a": {"error": "ZeroDivisionError: division by zero"}}


def test_on_the_cpu_nothing_is_measured():
    calls = []
    assert timing.launch_all({"a": lambda: calls.append(1)}, "cpu", {"a": {"median_ms": 0.01}}) == {}
    assert calls == []


def test_the_cuda_clock_sizes_its_busy_wait_from_measured_cycles(monkeypatch):
    import torch

    slept = []

    class Event:
        def __init__(self, enable_timing):
            pass

        def record(self):
            self.t = sum(slept) / 2e6  # a 2 GHz busy-wait: 2e6 cycles a ms

        def elapsed_time(self, end):
            return end.t - self.t

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "_sleep", slept.append)
    clock = timing.CudaClock()
    clock.hold(3.0)
    assert clock.cycles_per_ms == pytest.approx(2e6) and slept[-1] == 6_000_000


SPEC, SHAPE = ops.load_spec("matmul"), {"M": 16, "N": 4096, "K": 4096}


def timed(device, monkeypatch, runs):
    waiting = {n: {**runner.base_record(SPEC, n, "bf16", SHAPE, 0, device), "status": "pass"} for n in runs}
    return list(runner.timed_records(SPEC, SHAPE, "bf16", device, waiting, runs, False, True, lambda b, p: None))


def test_gpu_records_carry_the_launch_field(monkeypatch):
    gpu = SimulatedGpu()
    monkeypatch.setattr(timing, "cuda_clock", lambda: gpu)
    monkeypatch.setattr(telemetry, "snapshot", lambda: None)
    monkeypatch.setattr(timing, "time_all", lambda runs, device, graph=False: {
        n: timing.summarize([0.02, 0.021, 0.019]) for n in runs})
    records = timed("cuda", monkeypatch, {"triton-best": gpu.kernel(12.0, 20.0), "tilelang-best": gpu.kernel(25.0, 18.0)})
    launch = {r["backend"]: r["launch"] for r in records}
    assert launch["triton-best"]["host_us_per_call"] == pytest.approx(12.0)
    assert launch["tilelang-best"]["host_overhead_us"] == pytest.approx(25.0 - 18.0, abs=0.5)


def test_cpu_records_carry_no_launch_field(monkeypatch):
    records = timed("cpu", monkeypatch, {"triton-best": lambda: None, "tilelang-best": lambda: None})
    assert [r["status"] for r in records] == ["pass", "pass"] and records[0]["time"]["n"] >= timing.CPU_MIN_REPS
    assert all("launch" not in r for r in records)


def launch_field(host, device, calls=100):
    wall = max(host, device)
    return {"calls": calls, "reps": 5, "wall_us_per_call": wall, "host_us_per_call": host, "device_us_per_call": device,
            "host_overhead_us": wall - device, "method": timing.LAUNCH_METHOD}


DECODE = {"M": 16, "N": 4096, "K": 4096}
BIG = {"M": 8192, "N": 8192, "K": 8192}


def gpu_run(tmp_path):
    recs = [case("triton-best", DECODE, [0.02] * 9, dtype="bf16", launch=launch_field(14.0, 10.0)),
            case("tilelang-best", DECODE, [0.02] * 9, dtype="bf16", launch=launch_field(35.0, 9.0)),
            case("cublas", DECODE, [0.02] * 9, dtype="bf16", launch=launch_field(7.0, 10.0)),
            case("triton-best", BIG, [1.6] * 9, dtype="bf16", launch={"skipped": "timed median 1.6 ms > 1 ms"}),
            case("tilelang-best", BIG, [1.7] * 9, dtype="bf16", launch={"skipped": "timed median 1.7 ms > 1 ms"})]
    return write(tmp_path / "gpu.jsonl", recs)


def test_the_report_has_a_launch_table_per_backend_and_the_verdict_a_line(tmp_path):
    report, _ = write_report(gpu_run(tmp_path), tmp_path / "out")
    text = report.read_text()
    section = text.split("## Launch overhead", 1)[1].split("\n## ", 1)[0]
    assert "| matmul | bf16 | M=16,N=4096,K=4096 | tilelang-best | 100 | 9 | 35 | 35 | 26 |" in section
    assert "| matmul | bf16 | M=16,N=4096,K=4096 | cublas | 100 | 10 | 7 | 10 | 0 |" in section
    assert "| tilelang-best | 1 | 35 | 26 |" in section and "| triton-best | 1 | 14 | 4 |" in section
    assert "| M=8192" not in section and "| matmul | bf16 | M=8192" not in section
    assert ("2 case(s) not measured: triton-best M=8192,N=8192,K=8192: timed median 1.6 ms > 1 ms; "
            "tilelang-best M=8192,N=8192,K=8192: timed median 1.7 ms > 1 ms.") in section
    verdict = text.split("## Verdict", 1)[1]
    assert "TileLang's host time per call is 2.50x Triton's" in verdict  # 35 / 14, best track, one shape


def test_a_cpu_report_has_no_launch_section(tmp_path):
    """(Equal samples, too: their p10-p90 whisker once missed the median by a rounding error.)"""
    recs = [case("triton-best", DECODE, [3.0] * 3, dtype="bf16", device="cpu"),
            case("tilelang-best", DECODE, [3.0] * 3, dtype="bf16", device="cpu")]
    text = write_report(write(tmp_path / "cpu.jsonl", recs), tmp_path / "out")[0].read_text()
    assert "## Launch overhead" not in text and "host time per call" not in text
    assert launch_report.section({}) == []


def test_the_export_carries_the_launch_field(tmp_path):
    from bench.core.records import load

    document = export.to_pytest_benchmark(load(gpu_run(tmp_path)))
    extra = {b["extra_info"]["backend"] + " " + str(b["extra_info"]["shape"]["M"]): b["extra_info"]
             for b in document["benchmarks"]}
    assert extra["tilelang-best 16"]["launch"]["host_us_per_call"] == 35.0
    assert "skipped" in extra["triton-best 8192"]["launch"]
