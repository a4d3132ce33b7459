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
