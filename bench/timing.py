"""One timing procedure for every backend. All times are in milliseconds (`_ms`).

GPU: CUDA events, one pair per repetition, a single synchronize at the end; warm-up and
repetition counts derived from time budgets after a first estimate (as
triton.testing.do_bench does); the L2 cache flushed before every repetition by writing a
256 MiB buffer, outside the timed interval.
CPU: perf_counter around each call. These are CPU-path timings (interpreter, C backend),
not performance, and are labelled so.
"""
import statistics
import time

import torch

L2_FLUSH_BYTES = 256 * 1024 * 1024
WARMUP_MS = 25.0
MEASURE_MS = 100.0
MIN_REPS, MAX_REPS = 5, 1000
CPU_MEASURE_MS = 200.0
CPU_MAX_REPS = 10


def summarize(samples_ms):
    """median, p10/p90, inter-quartile range and coefficient of variation of the samples."""
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
        "samples_ms": s if len(s) <= 2000 else s[:: len(s) // 1000],
    }


def time_gpu(fn):
    """Event-timed repetitions of fn() with a flushed L2 before each one."""
    flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.int8, device="cuda")
    # First estimate, with a flush, to size the warm-up and the measured run.
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()
    torch.cuda.synchronize()
    flush.zero_()
    start.record()
    for _ in range(5):
        fn()
    end.record()
    torch.cuda.synchronize()
    estimate = max(start.elapsed_time(end) / 5, 1e-3)
    for _ in range(max(1, int(WARMUP_MS / estimate))):
        fn()
    reps = min(MAX_REPS, max(MIN_REPS, int(MEASURE_MS / estimate)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        flush.zero_()
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    return summarize([s.elapsed_time(e) for s, e in zip(starts, ends)])


def time_cpu(fn):
    """Wall-clock repetitions of fn() on the CPU: a few, within a small budget."""
    samples = []
    deadline = time.perf_counter() + CPU_MEASURE_MS / 1e3
    while len(samples) < CPU_MAX_REPS and (len(samples) < 3 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return summarize(samples)


def time_fn(fn, device):
    return time_gpu(fn) if device == "cuda" else time_cpu(fn)


def wall_ms(fn, device):
    """Wall time of one call, device work included (compile and autotune times)."""
    t0 = time.perf_counter()
    result = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3, result
