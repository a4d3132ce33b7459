"""Measure the machine at the start of a GPU run: dense bf16 TFLOP/s and memory GB/s.

Cases are then reported as a share of what *this* GPU reached, not of a datasheet:
a large cuBLAS GEMM for compute, a large device-to-device copy for memory, both timed
with the same procedure as every backend (bench/timing.py).
"""
from bench.core import env
from bench.run import timing
from bench.core.records import SCHEMA

GEMM_SIZE = 8192
COPY_BYTES = 2 * 1024**3


def measure():
    """The machine record: peak_tflops_bf16 and peak_gbps as measured here."""
    import torch

    n = GEMM_SIZE
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
    gemm = timing.time_fn(lambda: torch.matmul(a, b, out=c), "cuda")
    src = torch.empty(COPY_BYTES // 2, device="cuda", dtype=torch.bfloat16).normal_()
    dst = torch.empty_like(src)
    copy = timing.time_fn(lambda: dst.copy_(src), "cuda")
    return {
        "schema": SCHEMA, "kind": "machine",
        "peak_tflops_bf16": 2 * n**3 / (gemm["median_ms"] / 1e3) / 1e12,
        "peak_gbps": 2 * COPY_BYTES / (copy["median_ms"] / 1e3) / 1e9,  # read + write
        "gemm_time": gemm, "copy_time": copy,
        "method": f"torch.matmul bf16 {n}^3; copy of {COPY_BYTES >> 20} MiB (read+write counted)",
        "env": env.environment(), "utc": env.utc_now(),
    }


def roofline(record, machine):
    """Which roof bounds the case (by its arithmetic intensity) and the share of it reached.

    Compared with the bf16 peak; FP8 cases have a 2x higher compute roof that is not
    measured here, so they get none."""
    if not machine or not record.get("tflops") or record.get("dtype") == "e4m3":
        return None
    peak_flops, peak_bytes = machine["peak_tflops_bf16"] * 1e12, machine["peak_gbps"] * 1e9
    intensity = record["flops"] / record["bytes"]
    attainable = min(peak_flops, intensity * peak_bytes)
    return {
        "bound": "compute" if intensity * peak_bytes >= peak_flops else "memory",
        "arithmetic_intensity": intensity,
        "pct_of_peak": 100.0 * record["tflops"] * 1e12 / attainable,
    }
