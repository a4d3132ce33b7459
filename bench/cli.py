"""dslbench: run the same kernels in Triton and TileLang, check them, time them.

Imports nothing heavy at module level: `dslbench --help` must not wait for torch or TileLang.
"""
import argparse
import json
import sys

from bench.core import ops
from bench.core.ops import UsageError

DEFAULT_SEED = 0
# Longest silence of a worker before its case is called hung. Most phases (inputs and the
# float64 reference, compiling every config, timing) take seconds; the dense float64
# reference of a 32k sparse_mla prefill takes minutes on an H100.
DEFAULT_TIMEOUT_S = 600
SUITES = ("cpu", "gpu", "gpu-full")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2)."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def add_filters(p):
    p.add_argument("--op", help=f"comma-separated ops (default: all): {', '.join(ops.OPS)}")
    p.add_argument("--backend", help="comma-separated backends (default: all the op has): triton-matched, "
                   "tilelang-matched, triton-best, tilelang-best (triton or tilelang: every track of that DSL), "
                   "the op's vendor baselines (torch, ...), reference")
    p.add_argument("--track", help="comma-separated kernel tracks of the DSL backends (default: all the op has): "
                   "matched (the same code path in both DSLs), best (each DSL's best kernel)")
    p.add_argument("--dtype", help="comma-separated dtypes (default: all the op has), e.g. fp32,fp16,bf16")
    p.add_argument("--shape", action="append", metavar="K=V,...",
                   help="a shape, e.g. M=129,N=255,K=63 (repeatable; default: the suite for this machine)")
    p.add_argument("--suite", choices=SUITES, help="the shapes to run when no --shape is given: cpu (small, "
                   "ragged), gpu (realistic), gpu-full (every op's GPU suite, then a report); default: this machine's")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"input seed (default {DEFAULT_SEED})")
    p.add_argument("--json", action="store_true", help="print one JSON list of records on stdout, nothing else")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"a case silent for this long is killed and recorded as an error (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--inline", action="store_true",
                   help="run in this process instead of worker processes (faster start, no crash isolation)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-case rows: the summary only")


def parser():
    p = Parser(prog="dslbench", description="Run the same kernels (matmul, attention, DeepSeek-V3.2's FP8 GEMM and "
               "sparse attention) in Triton and TileLang: check them against a float64 reference (on the CPU too), "
               "compile them for Hopper without a GPU, time them on a GPU, report and compare runs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    sub.add_parser("list", help="ops, backends, dtypes, and what each backend can run on this machine")
    c = sub.add_parser("check", help="run each backend once and compare with the float64 reference; exit 1 on a failure")
    add_filters(c)
    r = sub.add_parser("run", help="check, then time: compile time apart, median and spread, TFLOP/s")
    add_filters(r)
    r.add_argument("--out", metavar="FILE.jsonl", help="append one JSON record per case to FILE as it completes")
    r.add_argument("--resume", metavar="FILE.jsonl", help="append to FILE, skipping the cases it already holds")
    r.add_argument("--shard", metavar="K/N", help="run only the K-th of N deterministic slices of the cases (K = 1..N)")
    r.add_argument("--cuda-graph", action="store_true",
                   help="GPU: time CUDA-graph replays (flush inside the graph, flush-only graph subtracted)")
    i = sub.add_parser("inspect", help="compile both DSLs' kernels for a GPU arch, no GPU needed: compile time, "
                       "registers, spills, shared memory, SASS instruction mix (needs the `inspect` extra)")
    i.add_argument("--op", help=f"comma-separated ops (default: all): {', '.join(ops.OPS)}")
    i.add_argument("--backend", help="comma-separated DSL backends (default: all): triton-matched, tilelang-matched, "
                   "triton-best, tilelang-best; triton or tilelang: every track of that DSL")
    i.add_argument("--track", help="comma-separated tracks (default: all the op has): matched, best")
    i.add_argument("--dtype", help="comma-separated dtypes (default: all the op has)")
    i.add_argument("--arch", help="comma-separated targets (default sm_90a): sm_80, sm_89, sm_90a, sm_100a, gfx942 "
                   "(AMD MI300), or all (prints the portability matrix)")
    i.add_argument("--configs", choices=("all", "one"), default="all",
                   help="every config of the shared list (default), or one per dtype and track (a quick matrix)")
    i.add_argument("--jobs", type=int, help="compiles at a time (default: one per core)")
    i.add_argument("--json", action="store_true", help="print one JSON list of records on stdout, nothing else")
    i.add_argument("--out", metavar="FILE.jsonl", help="append one JSON record per kernel to FILE as it completes")
    m = sub.add_parser("merge", help="join shard result files into one run, refusing duplicates or mixed environments")
    m.add_argument("files", nargs="+", metavar="FILE.jsonl")
    m.add_argument("--out", required=True, metavar="FILE.jsonl", help="the merged run (must not exist)")
    m.add_argument("--allow-duplicates", action="store_true", help="keep the first record of a case seen twice")
    m.add_argument("--allow-mixed", action="store_true", help="merge runs from different devices or library versions")
    add_result_commands(sub)
    return p


def add_result_commands(sub):
    """report, compare, export: read result files, run no kernel."""
    rp = sub.add_parser("report", help="a markdown report with PNG plots of a run, ending in a verdict on TileLang vs Triton")
    rp.add_argument("run", metavar="RUN.jsonl")
    rp.add_argument("--out", metavar="DIR", help="where report.md and the plots go (default: RUN-report/ beside RUN)")
    cp = sub.add_parser("compare", help="NEW/BASE median time per case with a bootstrap interval: regression, "
                        "improvement or unchanged")
    cp.add_argument("base", metavar="BASE.jsonl")
    cp.add_argument("new", metavar="NEW.jsonl")
    cp.add_argument("--threshold", type=threshold, default=0.05, metavar="FRACTION",
                    help="smallest change that counts, as 0.05 or 5%% (default 5%%)")
    cp.add_argument("--fail-on-regression", action="store_true", help="exit 1 when any case regressed")
    cp.add_argument("--json", action="store_true", help="print one JSON document, nothing else")
    ep = sub.add_parser("export", help="write a run in another tool's format (pytest-benchmark JSON)")
    ep.add_argument("run", metavar="RUN.jsonl")
    ep.add_argument("--format", choices=("pytest-benchmark",), default="pytest-benchmark")
    ep.add_argument("-o", "--out", required=True, metavar="FILE.json")


def threshold(text):
    """'5%' or '0.05' -> 0.05; anything else is a usage error."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {text!r} is not a number; write 0.05 or 5%") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"threshold {text!r} must be between 0 and 1 (0.05) or 0% and 100% (5%)")
    return value


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "merge":
            from bench.results.merge import merge

            return merge(args.files, args.out, args.allow_duplicates, args.allow_mixed)
        if args.command in ("report", "compare", "export"):
            return cmd_results(args)
        if args.command == "inspect":
            from bench.inspect.command import cmd_inspect

            return cmd_inspect(args)
        return cmd_cases(args, timed=args.command == "run")
    except UsageError as exc:
        print(f"dslbench: error: {exc}", file=sys.stderr)
        return 2


def cmd_results(args):
    """The commands that read result files; their modules import numpy and matplotlib, so lazily."""
    if args.command == "report":
        from bench.results.report import run

        return run(args.run, args.out)
    if args.command == "compare":
        from bench.results.compare import run

        return run(args.base, args.new, args.threshold, args.json, args.fail_on_regression)
    from bench.results.export import run

    return run(args.run, args.out, args.format)


def select(args):
    """Turn the filters into [(spec, backends, dtype, shape)], every name checked first.

    A backend or dtype is valid if some selected op has it; each op runs those it has."""
    from bench.run.backends import backends_for
    from bench.core.env import device

    specs = [ops.load_spec(op) for op in ops.parse_list(args.op, ops.OPS, "op")]
    if args.shape and len(specs) > 1:
        raise UsageError("--shape needs a single --op: each op has its own shape keys")
    valid = union(backends_for(s) for s in specs)
    names = ops.expand_backends(ops.parse_list(args.backend, [*valid, *ops.DSLS], "backend"), valid)
    wanted_tracks = ops.parse_list(args.track, ops.TRACKS, "track")
    names = [n for n in names if ops.split_backend(n)[1] in (None, *wanted_tracks)]
    dtypes = ops.parse_list(args.dtype, union(s.DTYPES for s in specs), "dtype")
    suite = args.suite or ("gpu" if device() == "cuda" else "cpu")
    if suite != "cpu" and device() != "cuda" and not args.shape:
        raise UsageError(f"--suite {suite} needs a GPU (no CUDA device here); use --suite cpu or --shape")
    groups = []
    for spec in specs:
        shapes = [ops.parse_shape(s, spec) for s in args.shape] if args.shape else {
            "cpu": spec.CPU_SUITE, "gpu": spec.GPU_SUITE,
            "gpu-full": getattr(spec, "GPU_FULL_SUITE", spec.GPU_SUITE)}[suite]
        mine = [n for n in names if n in backends_for(spec)]
        wanted = dtypes if args.dtype or suite != "gpu-full" else getattr(spec, "GPU_DTYPES", spec.DTYPES)
        groups += [(spec, mine, d, shape) for d in wanted if d in spec.DTYPES for shape in shapes]
    return groups


def union(lists):
    """Items of several lists, first-seen order, no repeats."""
    return list(dict.fromkeys(x for items in lists for x in items))


def cmd_cases(args, timed):
    from bench.core import env
    from bench.run import peak, runner
    from bench.core.records import append, clean
    from bench.run.sweep import Sweep

    groups = shard(select(args), getattr(args, "shard", None))  # input errors before any kernel runs
    out, done = output_file(args)
    dev = env.device()
    env.configure(dev)
    if getattr(args, "suite", None) == "gpu-full" and not out:
        out = default_out(dev)
    records, show = [], Progress(args, timed, sum(len(g[1]) for g in groups))
    show.note(f"device: {dev}" + ("" if dev == "cuda" else " (CPU paths: timings are not performance)"))
    sweep = Sweep(None, dev, args.timeout, timed, "autotune" if timed and dev == "cuda" else "first",
                  getattr(args, "cuda_graph", False))
    machine = next((r for r in done.values() if r.get("kind") == "machine"), None)
    if timed and dev == "cuda" and machine is None and not args.inline:
        machine = sweep.machine()
        if machine and out:
            append(out, machine)

    def emit(record):
        roof = peak.roofline(record, machine)
        if roof:
            record["roofline"] = roof
        records.append(record)
        if out:
            append(out, record)
        show.case(record)
    sweep.emit = emit
    try:
        for spec, names, dtype, shape in groups:
            names = [n for n in names if (spec.NAME, n, dtype, ops.shape_str(shape), args.seed) not in done]
            if not names:
                continue
            show.group(spec.NAME, dtype, shape)
            if args.inline:
                for record in runner.run_group(spec, names, dtype, shape, args.seed, dev, timed, sweep.job["config"],
                                               sweep.job["cuda_graph"]):
                    emit(record)
            else:
                sweep.run(spec, names, dtype, shape, args.seed)
    finally:
        sweep.close()
        show.close()
    if args.json:
        print(json.dumps(clean(records), indent=1))
    else:
        print(summary(records) + (f"; {len(done)} already in {out}" if done else "") + (f"; written to {out}" if out else ""))
    if getattr(args, "suite", None) == "gpu-full" and out:
        from bench.results import report

        report.run(out)  # beside the run: RUN-report/report.md and its plots
    return 1 if any(r["status"] in ("fail", "error") for r in records) else 0


def shard(groups, text):
    """The K-th of N slices: every N-th group, starting at K-1, in the deterministic suite order."""
    if not text:
        return groups
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard {text!r}: write K/N with 1 <= K <= N, e.g. 1/4")
    return groups[int(k) - 1::int(n)]


def output_file(args):
    """(file to append to, {case key: record} already in it)."""
    from bench.core.records import case_key, load

    out, resume = getattr(args, "out", None), getattr(args, "resume", None)
    if not resume:
        return out, {}
    if out and out != resume:
        raise UsageError("--resume FILE appends to FILE: give no other --out")
    return resume, {case_key(r) if r.get("kind", "case") == "case" else ("machine",): r for r in load(resume)}


def default_out(dev):
    from bench.core.env import environment, utc_now

    name = "".join(c if c.isalnum() else "-" for c in environment()["device_name"].lower()).strip("-")
    return f"results/{utc_now()[:10]}-{dev}-{name}.jsonl"


class Progress:
    """A progress bar (current case, elapsed time) on a terminal, and a table row per case."""

    def __init__(self, args, timed, total):
        from bench.core import table

        self.table, self.args, self.rows = table, args, 0
        self.header = table.RUN_HEADER if timed else table.CHECK_HEADER
        self.row = table.run_row if timed else table.check_row
        self.bar = None
        if not (args.quiet or args.json) and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True, leave=False)

    def note(self, text):
        if not (self.args.quiet or self.args.json):
            print(text, flush=True)

    def group(self, op, dtype, shape):
        if self.bar is not None:
            self.bar.set_postfix_str(f"{op} {dtype} {ops.shape_str(shape)}")

    def case(self, record):
        if self.bar is not None:
            self.bar.update(1)
        if self.args.quiet or self.args.json:
            return
        text = self.table.render(self.header, ([self.header] if not self.rows else []) + [self.row(record)])
        self.rows += 1
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def summary(records):
    counts = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no cases"


def cmd_list():
    from bench.run.backends import backends_for, cpu_path, support
    from bench.core.env import device

    dev = device()
    print(f"device: {dev}")
    for op in ops.OPS:
        spec = ops.load_spec(op)
        print(f"\n{op}: shape keys {', '.join(spec.SHAPE_KEYS)}; dtypes {', '.join(spec.DTYPES)}")
        for backend in backends_for(spec):
            where = "cuda" if dev == "cuda" else cpu_path(backend)
            states = {}
            for d in spec.DTYPES:  # dtypes that share a state are listed together
                states.setdefault(support(backend, d, dev, spec), []).append(d)
            parts = [",".join(ds) + " " + st for st, ds in states.items()]
            print(f"  {backend:16s} {where}: {'; '.join(parts)}")
    return 0
