"""One timing procedure for every backend. All times are in milliseconds (`_ms`).

GPU (CUDA events): a first estimate sizes the warm-up (~25 ms) and the measured run
(~100 ms), as triton.testing.do_bench does; before every repetition the L2 cache is flushed
by writing a 256 MiB buffer, outside the timed interval; one event pair per repetition and a
single synchronize at the end. The backends of one case are timed interleaved (A, B, A, B,
...) so that clock drift and throttling hit all of them alike.
Optional CUDA-graph mode: each backend's n calls, each after a flush, are captured in one
graph, and so are n flushes alone; a call's time is (graph - flush graph) / n. The flush
sits inside the graph because graph timings without one overstate speed (up to 1.6x). Each
graph is replayed once before it is sampled, and backends are captured one at a time.
CPU: perf_counter around each call, interleaved the same way. These are CPU-path timings
(an interpreter, a C backend), not performance, and are labelled so.

Launch overhead (GPU only, `launch_all`): the host's cost of a call, which decides decode-sized
kernels and differs between the DSLs' launchers. The same procedure for every backend, L2 warm
(no flush between calls), in repetitions of two passes of N calls each:
- back to back, as a caller's loop runs them: the wall time of N calls until the GPU is done,
  per call (`wall_us_per_call`);
- the same N calls issued while a busy-wait kernel holds the GPU, so that all of them are
  queued before the first runs: the host's time to issue them (`host_us_per_call`), and
  the GPU's time to run them with no wait for the host, from events around them
  (`device_us_per_call`). If the GPU was no longer held when the host had issued them all
  (a call that waits for the GPU), the hold is lengthened; failing that, no device time.
`host_overhead_us` = wall - device: what a back-to-back loop loses per call to the host.
On the CPU there is no device time to set the host's against: no launch field at all.

Stream check (GPU only, `stream_checks`, every backend alike): events time the current stream,
so a kernel that puts its work on another stream would look fast. A few calls, each after a flush
on an idle GPU, are timed both by events on the current stream and by the host's clock until the
whole device is done (a synchronize); a median device time above STREAM_RATIO x the stream's plus
STREAM_SLACK_MS (a synchronize's own latency, on a host the compile-ahead pool keeps busy) marks
the record `stream_check.agree = false`, and its time is not used (bench/results/analysis.py).
"""
import functools
import statistics
import time

import torch

L2_FLUSH_BYTES = 256 * 1024 * 1024
WARMUP_MS = 25.0
MEASURE_MS = 100.0
MIN_REPS, MAX_REPS = 5, 1000
CPU_MEASURE_MS = 200.0
CPU_MIN_REPS, CPU_MAX_REPS = 3, 10
GRAPH_CALLS, GRAPH_REPLAYS = 10, 20
LAUNCH_BUDGET_MS = 5.0  # the N calls of one pass take about this long at the kernel's timed median
# At most 100 calls: held behind the busy-wait, they must all fit CUDA's queue of pending
# launches (about a thousand kernels), room for a call that launches several kernels.
LAUNCH_MIN_CALLS, LAUNCH_MAX_CALLS = 10, 100
LAUNCH_REPS = 5
LAUNCH_MAX_MS = 1.0  # a slower kernel hides the host's few microseconds per call: not measured
LAUNCH_HOLD_MS = (1.0, 200.0)  # the busy-wait: at least, at most
LAUNCH_ATTEMPTS = 3  # holds tried per pass, each 4x longer
STREAM_CHECK_REPS = 5
STREAM_RATIO, STREAM_SLACK_MS = 1.5, 0.05
LAUNCH_METHOD = ("N back-to-back calls, L2 warm: wall until done per call; the same calls queued behind a busy-wait "
                 "kernel: host time to issue, and device time from events; overhead = wall - device")


def summarize(samples_ms):
    """median, p10/p90, inter-quartile range and coefficient of variation; samples kept in order."""
    s = sorted(samples_ms)
    q = statistics.quantiles(s, n=20, method="inclusive") if len(s) > 1 else [s[0]] * 19
    mean = statistics.fmean(s)
    return {
        "median_ms": statistics.median(s),
        "p10_ms": q[1],
        "p90_ms": q[17],
        "iqr_ms": q[14] - q[4],
        "min_ms": s[0],
        "cv": statistics.pstdev(s) / mean if mean > 0 else 0.0,
        "n": len(s),
        "samples_ms": list(samples_ms),
    }


def interleave(counts):
    """The order of repetitions: one of each backend in turn until each has its count."""
    order, left = [], dict(counts)
    while any(left.values()):
        for name in counts:
            if left[name]:
                order.append(name)
                left[name] -= 1
    return order


class GpuTimer:
    def __init__(self):
        self.flush_buffer = torch.empty(L2_FLUSH_BYTES, dtype=torch.int8, device="cuda")

    def flush(self):
        self.flush_buffer.zero_()

    def estimate_ms(self, fn, calls=5):
        """Mean time of a few flushed calls (the flush included: an upper bound)."""
        fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            self.flush()
            fn()
        end.record()
        torch.cuda.synchronize()
        return max(start.elapsed_time(end) / calls, 1e-3)

    def time(self, fns):
        """{name: stats} for {name: fn}: warm-up and rep counts from budgets, interleaved."""
        estimates = {name: self.estimate_ms(fn) for name, fn in fns.items()}
        for name, fn in fns.items():
            for _ in range(max(1, int(WARMUP_MS / estimates[name]))):
                fn()
        counts = {n: min(MAX_REPS, max(MIN_REPS, int(MEASURE_MS / e))) for n, e in estimates.items()}
        order = interleave(counts)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in order]
        for name, (start, end) in zip(order, events):
            self.flush()
            start.record()
            fns[name]()
            end.record()
        torch.cuda.synchronize()
        samples = {name: [] for name in fns}
        for name, (start, end) in zip(order, events):
            samples[name].append(start.elapsed_time(end))
        return {name: summarize(s) for name, s in samples.items()}

    def capture(self, fn, calls):
        graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            fn and fn()  # warm on the side stream before capture
        torch.cuda.current_stream().wait_stream(stream)
        with torch.cuda.graph(graph):
            for _ in range(calls):
                self.flush()
                if fn:
                    fn()
        return graph

    def time_graphs(self, fns):
        """CUDA-graph mode: per replay, (graph of flush+call) - (graph of flush), over calls.
        One backend at a time: its graph is captured, replayed once to warm it, sampled, and
        freed before the next is captured, so that only one graph's memory pool is alive."""
        flush_only = self.capture(None, GRAPH_CALLS)
        flush_only.replay()
        out = {}
        for name, fn in fns.items():
            graph = self.capture(fn, GRAPH_CALLS)
            graph.replay()  # the first replay uploads the graph: not a sample
            torch.cuda.synchronize()
            out[name] = summarize([self.graph_sample(graph, flush_only) for _ in range(GRAPH_REPLAYS)])
            del graph
        return out

    def graph_sample(self, graph, flush_only):
        """One call's time from one replay of each graph."""
        timed = []
        for g in (graph, flush_only):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            g.replay()
            end.record()
            timed.append((start, end))
        torch.cuda.synchronize()
        with_call, alone = (s.elapsed_time(e) for s, e in timed)
        return max(with_call - alone, 0.0) / GRAPH_CALLS


def time_cpu(fns):
    """Wall-clock repetitions on the CPU, interleaved: a few each, within a small budget."""
    estimates = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        estimates[name] = max((time.perf_counter() - t0) * 1e3, 1e-3)
    counts = {n: min(CPU_MAX_REPS, max(CPU_MIN_REPS, int(CPU_MEASURE_MS / e))) for n, e in estimates.items()}
    samples = {name: [] for name in fns}
    for name in interleave(counts):
        t0 = time.perf_counter()
        fns[name]()
        samples[name].append((time.perf_counter() - t0) * 1e3)
    return {name: summarize(s) for name, s in samples.items()}


def time_all(fns, device, cuda_graph=False):
    """{name: stats}: the one timing procedure, for every backend of a case alike."""
    if not fns:
        return {}
    if device != "cuda":
        return time_cpu(fns)
    timer = gpu_timer()
    return timer.time_graphs(fns) if cuda_graph else timer.time(fns)


@functools.lru_cache(maxsize=1)
def gpu_timer():
    """One timer (and one 256 MiB flush buffer) per process."""
    return GpuTimer()


def time_fn(fn, device):
    return time_all({"fn": fn}, device)["fn"]


def wall_ms(fn, device):
    """Wall time of one call, device work included (compile and autotune times)."""
    t0 = time.perf_counter()
    result = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3, result


def stream_check(fn, clock, flush=lambda: None, reps=STREAM_CHECK_REPS):
    """{stream_ms, device_ms, agree}: the median of `reps` calls timed by events on the current
    stream and by the host's clock until the whole device is idle (module docstring)."""
    stream, device = [], []
    for _ in range(reps):
        flush()
        clock.sync()
        t0 = clock.now_ms()
        start = clock.event()
        fn()
        end = clock.event()
        clock.sync()
        device.append(clock.now_ms() - t0)
        stream.append(clock.elapsed_ms(start, end))
    return stream_agreement(stream, device)


def stream_agreement(stream_samples, device_samples):
    """Whether the device's time agrees with the stream's (module docstring: the stream check)."""
    stream_ms, device_ms = statistics.median(stream_samples), statistics.median(device_samples)
    return {"stream_ms": stream_ms, "device_ms": device_ms,
            "agree": device_ms <= stream_ms * STREAM_RATIO + STREAM_SLACK_MS}


def stream_checks(runs, device, cuda_graph=False, clock=None):
    """{backend: its record's `stream_check`} for the timed backends of a case (GPU only; none in
    CUDA-graph mode, whose replays are timed on the stream that captured every stream's work)."""
    if device != "cuda" or cuda_graph:
        return {}
    flush = gpu_timer().flush if clock is None else (lambda: None)  # a simulated clock has no L2
    clock = clock or cuda_clock()
    return {name: stream_check(fn, clock, flush) for name, fn in runs.items() if name != "reference"}


class CudaClock:
    """What the launch measurement asks of a GPU: the host's clock, CUDA events on the current
    stream, a synchronize, and a busy-wait kernel (torch.cuda._sleep) that holds the stream
    for about a given time; its cycles per millisecond are measured with events, once."""

    def __init__(self):
        self.cycles_per_ms = None

    @staticmethod
    def now_ms():
        return time.perf_counter() * 1e3

    @staticmethod
    def sync():
        torch.cuda.synchronize()

    @staticmethod
    def event():
        """An event recorded now on the current stream."""
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    @staticmethod
    def elapsed_ms(start, end):
        return start.elapsed_time(end)

    @staticmethod
    def done(event):
        """True once the GPU has reached the event."""
        return event.query()

    def hold(self, ms):
        if self.cycles_per_ms is None:
            self.cycles_per_ms = self.calibrate()
        torch.cuda._sleep(max(1, int(ms * self.cycles_per_ms)))

    def calibrate(self, cycles=1_000_000):
        """Busy-wait cycles per ms, from events around a sleep (the second of two: the first warms)."""
        for _ in range(2):
            start = self.event()
            torch.cuda._sleep(cycles)
            end = self.event()
            self.sync()
        return cycles / max(self.elapsed_ms(start, end), 1e-3)


@functools.lru_cache(maxsize=1)
def cuda_clock():
    return CudaClock()


def launch_calls(median_ms):
    """N for a kernel whose timed median is median_ms: about LAUNCH_BUDGET_MS of calls, within bounds."""
    return min(LAUNCH_MAX_CALLS, max(LAUNCH_MIN_CALLS, int(LAUNCH_BUDGET_MS / max(median_ms, 1e-6))))


def back_to_back_ms(fn, clock, calls):
    """Wall time per call of `calls` calls in a row, from an idle GPU until the GPU is done."""
    clock.sync()
    t0 = clock.now_ms()
    for _ in range(calls):
        fn()
    clock.sync()
    return (clock.now_ms() - t0) / calls


def queued_ms(fn, clock, calls, hold_ms):
    """(host ms per call, device ms per call) of `calls` calls issued while the GPU is held, or
    None when the GPU got through the hold before the host had issued them all, every time."""
    for _ in range(LAUNCH_ATTEMPTS):
        clock.hold(hold_ms)
        start = clock.event()
        t0 = clock.now_ms()
        for _ in range(calls):
            fn()
        host_ms = clock.now_ms() - t0
        ran_dry = clock.done(start)  # the GPU already ran past the hold: it may have waited for the host
        end = clock.event()
        clock.sync()
        if not ran_dry:
            return host_ms / calls, clock.elapsed_ms(start, end) / calls
        hold_ms = min(hold_ms * 4, LAUNCH_HOLD_MS[1])
    return None


def launch_overhead(fn, clock, median_ms, reps=LAUNCH_REPS):
    """A record's `launch`: the medians over `reps` repetitions of both passes (microseconds)."""
    calls = launch_calls(median_ms)
    walls, hosts, devices = [], [], []
    for _ in range(reps):
        walls.append(back_to_back_ms(fn, clock, calls))
        hold_ms = min(max(LAUNCH_HOLD_MS[0], 2 * calls * walls[-1]), LAUNCH_HOLD_MS[1])  # host time <= wall time
        queued = queued_ms(fn, clock, calls, hold_ms)
        if queued is None:
            return {"calls": calls, "reps": len(walls), "wall_us_per_call": walls[-1] * 1e3, "host_us_per_call": None,
                    "device_us_per_call": None, "host_overhead_us": None, "method": LAUNCH_METHOD,
                    "reason": "the GPU got through every busy-wait before the host had issued the calls: a call "
                              "waits for the GPU (a synchronize) or fills CUDA's launch queue; no device time"}
        hosts.append(queued[0])
        devices.append(queued[1])
    wall, host, device = (statistics.median(v) * 1e3 for v in (walls, hosts, devices))
    return {"calls": calls, "reps": reps, "wall_us_per_call": wall, "host_us_per_call": host,
            "device_us_per_call": device, "host_overhead_us": max(wall - device, 0.0),
            "wall_us_range": [min(walls) * 1e3, max(walls) * 1e3], "method": LAUNCH_METHOD}


def launch_all(runs, device, stats, on_phase=lambda backend, phase: None, clock=None):
    """{backend: its record's `launch`} for the timed backends of a case, each measured alone
    with launch_overhead. On the CPU: {} (no device time, so no number). The float64 reference
    is not a contender and is not measured; a kernel slower than LAUNCH_MAX_MS gets a skip."""
    if device != "cuda":
        return {}
    clock = clock or cuda_clock()
    out = {}
    for name, fn in runs.items():
        if name == "reference" or name not in stats:
            continue
        median_ms = stats[name]["median_ms"]
        if median_ms > LAUNCH_MAX_MS:
            out[name] = {"skipped": f"timed median {median_ms:.3g} ms > {LAUNCH_MAX_MS:g} ms: the host's time per "
                                    "call hides behind the GPU's"}
            continue
        on_phase(name, "launch")
        try:
            out[name] = launch_overhead(fn, clock, median_ms)
        except Exception as exc:  # the case was timed: its record keeps its time, and says why this is missing
            out[name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    return out
