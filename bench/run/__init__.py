"""Producing records: run a group of cases in a worker process (sweep, worker), prepare and
check each backend (backends, check), time them with one procedure (timing), and what a GPU
run measures around them (peak, telemetry); the TileLang CPU dialect (tilelang_cpu).
Independent of the CLI; imports bench.core and kernels/, never bench.results."""
