"""dslbench: run the same kernels in Triton and TileLang, check them, time them.

Imports nothing heavy at module level: `dslbench --help` must not wait for torch or TileLang.
"""
import argparse
import json
import sys

from bench import ops
from bench.ops import UsageError

DEFAULT_SEED = 0


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2)."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def add_filters(p):
    p.add_argument("--op", help=f"comma-separated ops (default: all): {', '.join(ops.OPS)}")
    p.add_argument("--backend", help="comma-separated backends (default: all the op has): "
                   "triton, tilelang, the op's vendor baselines (torch, ...), reference")
    p.add_argument("--dtype", help="comma-separated dtypes (default: all the op has), e.g. fp32,fp16,bf16")
    p.add_argument("--shape", action="append", metavar="K=V,...",
                   help="a shape, e.g. M=129,N=255,K=63 (repeatable; default: the suite for this machine)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"input seed (default {DEFAULT_SEED})")
    p.add_argument("--json", action="store_true", help="print one JSON list of records on stdout, nothing else")


def parser():
    p = Parser(prog="dslbench", description="Run the same matmul and attention kernels in Triton and TileLang: "
               "check them against a float64 reference (on the CPU too) and time them on a GPU.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    sub.add_parser("list", help="ops, backends, dtypes, and what each backend can run on this machine")
    c = sub.add_parser("check", help="run each backend once and compare with the float64 reference; exit 1 on a failure")
    add_filters(c)
    r = sub.add_parser("run", help="check, then time: compile time apart, median and spread, TFLOP/s")
    add_filters(r)
    r.add_argument("--out", metavar="FILE.jsonl", help="append one JSON record per case to FILE as it completes")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list()
        return cmd_cases(args, timed=args.command == "run")
    except UsageError as exc:
        print(f"dslbench: error: {exc}", file=sys.stderr)
        return 2


def select(args):
    """Turn the filters into [(spec, backends, dtype, shape)], every name checked first.

    A backend or dtype is valid if some selected op has it; each op runs those it has."""
    from bench.backends import backends_for
    from bench.env import device

    specs = [ops.load_spec(op) for op in ops.parse_list(args.op, ops.OPS, "op")]
    if args.shape and len(specs) > 1:
        raise UsageError("--shape needs a single --op: each op has its own shape keys")
    names = ops.parse_list(args.backend, union(backends_for(s) for s in specs), "backend")
    dtypes = ops.parse_list(args.dtype, union(s.DTYPES for s in specs), "dtype")
    groups = []
    for spec in specs:
        suite = spec.GPU_SUITE if device() == "cuda" else spec.CPU_SUITE
        shapes = [ops.parse_shape(s, spec) for s in args.shape] if args.shape else suite
        mine = [n for n in names if n in backends_for(spec)]
        groups += [(spec, mine, d, shape) for d in dtypes if d in spec.DTYPES for shape in shapes]
    return groups


def union(lists):
    """Items of several lists, first-seen order, no repeats."""
    return list(dict.fromkeys(x for items in lists for x in items))


def cmd_cases(args, timed):
    from bench import runner, table
    from bench.env import device
    from bench.records import append, clean

    groups = select(args)  # all input errors surface before any kernel runs
    dev = device()
    if dev == "cuda":
        import torch

        torch.set_float32_matmul_precision("high")  # TF32 for fp32, as both DSLs use
    config = "autotune" if timed and dev == "cuda" else "first"
    records, out = [], getattr(args, "out", None)
    header = table.RUN_HEADER if timed else table.CHECK_HEADER
    row = table.run_row if timed else table.check_row
    if not args.json:
        print(f"device: {dev}" + ("" if dev == "cuda" else " (CPU paths: timings are not performance)"))
    for spec, names, dtype, shape in groups:
        for record in runner.run_group(spec, names, dtype, shape, args.seed, dev, timed, config):
            records.append(record)
            if out:
                append(out, record)
            if not args.json:
                print(table.render(header, ([header] if len(records) == 1 else []) + [row(record)]), flush=True)
    if args.json:
        print(json.dumps(clean(records), indent=1))
    failed = [r for r in records if r["status"] in ("fail", "error")]
    if not args.json:
        print(summary(records))
    return 1 if failed else 0


def summary(records):
    counts = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no cases"


def cmd_list():
    from bench.backends import CPU_PATH, backends_for, support
    from bench.env import device

    dev = device()
    print(f"device: {dev}")
    for op in ops.OPS:
        spec = ops.load_spec(op)
        print(f"\n{op}: shape keys {', '.join(spec.SHAPE_KEYS)}; dtypes {', '.join(spec.DTYPES)}")
        for backend in backends_for(spec):
            where = "cuda" if dev == "cuda" else CPU_PATH.get(backend, "cpu")
            states = [f"{d} {support(backend, d, dev)}" for d in spec.DTYPES]
            print(f"  {backend:10s} {where}: {'; '.join(states)}")
    return 0
