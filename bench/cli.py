"""dslbench: run the same kernels in Triton and TileLang, check them, time them.

Imports nothing heavy at module level: `dslbench --help` must not wait for torch or TileLang.
"""
import argparse
import os
import sys

from bench.core import ops
from bench.core.ops import UsageError

DEFAULT_SEED = 0
# Longest silence of a worker before its case is called hung. Most phases (compiling every
# config, timing) take seconds; a 15-minute GPU window cannot wait ten for a hang.
DEFAULT_TIMEOUT_S = 240  # a worker's start-up and the reference's phase get longer: bench/run/sweep.py
SMOKE_TIMEOUT_S = 120  # smoke's cases are small: a step silent this long is stuck
SUITES = ("cpu", "gpu", "gpu-full", "headline")


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
                   "ragged), gpu (realistic), gpu-full (the headline, then every op's GPU suite, then a report), headline (bf16 "
                   "GEMMs, FlashAttention and DeepSeek-V3's FP8 GEMM at the sizes that answer TileLang vs Triton, every "
                   "DSL backend of both tracks beside the vendor library, then a report); default: this machine's")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"input seed (default {DEFAULT_SEED})")
    p.add_argument("--json", action="store_true", help="print one JSON list of records on stdout, nothing else")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"a case silent for this long is killed and recorded as an error (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--inline", action="store_true",
                   help="run in this process instead of worker processes (faster start, no crash isolation)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-case rows: the summary only")
    p.add_argument("--budget", metavar="DURATION", help="end within this time (7m, 90s, 1h30m): no group starts "
                   "that the time left cannot cover, estimated from this run's groups; the run is saved as a "
                   "finished one is and prints the command that continues it")
    p.add_argument("--devices", metavar="all|N|0,2,5", help="run on several devices at once, one worker each, from one "
                   "queue of cases: every GPU (all), the first N, or those numbered; without a GPU, N CPU-path workers")
    add_kernel(p)


def add_kernel(p):
    p.add_argument("--kernel", action="append", metavar="FILE.py", help="your own kernel, beside ours: a file naming "
                   "its OP and defining the op's host function (README: Your own kernel); repeatable. It is the "
                   "backend user:<file stem>; without --op, its op is run")


def parser():
    p = Parser(prog="dslbench", description="Run the same kernels (matmul, attention, DeepSeek-V3.2's FP8 GEMM and "
               "sparse attention) in Triton and TileLang: check them against a float64 reference (on the CPU too), "
               "compile them for Hopper without a GPU, time them on a GPU, report and compare runs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    sub.add_parser("list", help="ops (their inputs and outputs, in a kernel's argument order), backends, dtypes, and "
                   "what each backend can run on this machine")
    c = sub.add_parser("check", help="run each backend once and compare with the float64 reference; exit 1 on a failure")
    add_filters(c)
    r = sub.add_parser("run", help="check, then time: compile time apart, median and spread, TFLOP/s")
    add_filters(r)
    r.add_argument("--out", metavar="FILE.jsonl", help="append one JSON record per case to FILE as it completes "
                   "(default: a new file in runs/, named by date, device and suite)")
    r.add_argument("--resume", metavar="FILE.jsonl", help="append to FILE, skipping the cases it already holds")
    r.add_argument("--allow-mixed", action="store_true",
                   help="with --resume: add to a file written by another commit, device or library version")
    r.add_argument("--shard", metavar="K/N", help="run only the K-th of N deterministic slices of the cases (K = 1..N); "
                   "auto: K and N from SLURM (an array job's task, or an srun step's task)")
    r.add_argument("--compile-ahead", type=int, metavar="N", help="GPU: N processes build TileLang's autotune configs "
                   "of the groups ahead while the GPU times the current one (default: one per core, less one; 0: off); "
                   "each kernel's first config is still compiled cold in the timing worker, for both DSLs")
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
                   "(AMD MI300), ascend (Huawei Ascend 950: TileLang's AscendC source), or all (prints the "
                   "portability matrix)")
    i.add_argument("--configs", choices=("all", "one"), default="all",
                   help="every config of the shared list (default), or one per dtype and track (a quick matrix)")
    i.add_argument("--jobs", type=int, help="compiles at a time (default: one per core)")
    i.add_argument("--suite", choices=("headline",), help="headline: every kernel `run --suite headline` compiles "
                   "(its shapes, every config): the count and the compile time of a GPU window's headline")
    i.add_argument("--json", action="store_true", help="print one JSON list of records on stdout, nothing else")
    i.add_argument("--out", metavar="FILE.jsonl", help="append one JSON record per kernel to FILE as it completes")
    add_kernel(i)
    s = sub.add_parser("smoke", help="every code path of this machine once, at a small size, as a checklist (on a GPU: "
                       "peak, telemetry, every kernel and baseline, autotune, graphs, inspect, benchmarks); exit 1 on a failure")
    s.add_argument("--op", help=f"comma-separated ops whose kernels to run (default: all): {', '.join(ops.OPS)}")
    s.add_argument("--timeout", type=float, default=SMOKE_TIMEOUT_S, metavar="SECONDS",
                   help=f"a step silent for this long is killed and FAILED (default {SMOKE_TIMEOUT_S:g})")
    s.add_argument("--benchmarks", action="store_true", help="on a GPU, run the pytest-benchmark tiny benchmarks too "
                   "(they compile their kernels again: about 2 minutes)")
    m = sub.add_parser("merge", help="join shard result files into one run, refusing duplicates or mixed environments")
    m.add_argument("files", nargs="+", metavar="FILE.jsonl")
    m.add_argument("--out", required=True, metavar="FILE.jsonl", help="the merged run (must not exist)")
    m.add_argument("--allow-duplicates", action="store_true", help="keep the first record of a case seen twice")
    m.add_argument("--allow-mixed", action="store_true", help="merge runs from different devices or library versions")
    add_result_commands(sub)
    from bench.ledger.command import add_parser as add_findings

    add_findings(sub)
    return p


def add_result_commands(sub):
    """report, compare, export: read result files, run no kernel."""
    rp = sub.add_parser("report", help="a markdown report with PNG plots of a run, ending in a verdict on TileLang vs "
                        "Triton; several runs side by side (other GPUs, versions, commits)")
    rp.add_argument("run", metavar="RUN.jsonl", nargs="+", help="one run, or several to put side by side")
    rp.add_argument("--out", metavar="DIR", help="where report.md and the plots go (default: RUN-report/ beside the "
                    "(first) run)")
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
        return dispatch(args)
    except BrokenPipeError:  # `dslbench list | head`: the reader left; stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not raise again
        return 141  # 128 + SIGPIPE, what a shell reports for a writer the pipe closed


def dispatch(args):
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "smoke":
            from bench.smoke import run

            return run(args.timeout, args.op, args.benchmarks)
        if args.command == "merge":
            from bench.results.merge import merge

            return merge(args.files, args.out, args.allow_duplicates, args.allow_mixed)
        if args.command == "findings":
            from bench.ledger.command import cmd_findings

            return cmd_findings(args)
        if args.command in ("report", "compare", "export"):
            return cmd_results(args)
        if args.command == "inspect":
            from bench.inspect.command import cmd_inspect

            every = args.suite == "headline" and args.configs == "all"
            return cmd_inspect(args, headline_schedule if every else None)
        from bench.session import cmd_cases

        groups = shard(select(args), getattr(args, "shard", None))  # input errors before any kernel runs
        if args.budget:
            from bench.run.budget import parse_duration

            parse_duration(args.budget)
        return cmd_cases(args, groups, timed=args.command == "run")
    except UsageError as exc:
        print(f"dslbench: error: {exc}", file=sys.stderr)
        return 2


def cmd_results(args):
    """The commands that read result files; their modules import numpy and matplotlib, so lazily."""
    if args.command == "report":
        from bench.results.report import run

        return run(args.run[0] if len(args.run) == 1 else args.run, args.out)
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

    kernels = user_kernels(args)
    op_text = args.op or (",".join(dict.fromkeys(k["op"] for k in kernels)) if args.kernel else None)
    specs = [ops.load_spec(op) for op in ops.parse_list(op_text, ops.OPS, "op")]
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
    if suite == "headline" and not args.shape:
        return headline_groups(specs, names, dtypes if args.dtype else None, bool(args.op))
    groups = []
    for spec in specs:
        shapes = [ops.parse_shape(s, spec) for s in args.shape] if args.shape else {
            "cpu": spec.CPU_SUITE, "gpu": spec.GPU_SUITE,
            "gpu-full": getattr(spec, "GPU_FULL_SUITE", spec.GPU_SUITE)}[suite]
        mine = [n for n in names if n in backends_for(spec)]
        wanted = dtypes if args.dtype or suite != "gpu-full" else getattr(spec, "GPU_DTYPES", spec.DTYPES)
        groups += [(spec, mine, d, shape) for d in wanted if d in spec.DTYPES for shape in shapes]
    if suite == "gpu-full" and not args.shape and not args.dtype:  # the headline first, in its own order
        head = headline_groups(specs, names, None, False) if any(map(is_headline, groups)) else []
        return head + [g for g in groups if not is_headline(g)]
    return headline_first(groups) if suite == "gpu-full" else groups


def user_kernels(args):
    """The users' kernels of this command (--kernel files, then installed packages' entry points),
    registered as backends of their ops for this process and its workers."""
    from bench.core import user

    kernels = user.gather(getattr(args, "kernel", None) if args else None)
    ops.register_user_kernels(kernels)
    return kernels


def headline_groups(specs, names, dtypes, named):
    """--suite headline: each op's HEADLINE_SUITE in its GPU dtypes (those of `dtypes` when given),
    every asked-for backend the op has; an op named with --op that has no headline is an error."""
    from bench.run.backends import backends_for

    lacking = [s.NAME for s in specs if not getattr(s, "HEADLINE_SUITE", None)]
    if named and lacking:
        with_one = [op for op in ops.OPS if getattr(ops.load_spec(op), "HEADLINE_SUITE", None)]
        raise UsageError(f"--suite headline: {', '.join(lacking)} has no headline cases; ops with one: "
                         f"{', '.join(with_one)}")
    groups = []
    for spec in (s for s in specs if s.NAME not in lacking):
        mine = [n for n in names if n in backends_for(spec)]
        for dtype in getattr(spec, "GPU_DTYPES", spec.DTYPES):
            if dtypes is None or dtype in dtypes:
                groups += [(spec, mine, dtype, dict(shape)) for shape in spec.HEADLINE_SUITE if spec.headline(shape, dtype)]
    if not groups:
        raise UsageError("--suite headline: no headline case has the asked-for dtype")
    return groups


GPU_MACHINE_CORES = 16  # the machine a short GPU window lends (README: On a GPU)


def headline_schedule(records):
    """`inspect --suite headline`'s last lines: its compiles as a GPU run with the compile-ahead
    pool would do them (bench/run/ahead.schedule), from the compile times just measured (sm_90a)."""
    import json

    from bench.run import ahead

    hopper = [r for r in records if r["arch"] == "sm_90a" and r["status"] == "compiled"]
    if not hopper:
        return []
    seconds = {(r["op"], r["backend"], r["dtype"], json.dumps(r["shape"], sort_keys=True),
                json.dumps(r["config"], sort_keys=True)): r["compile_ms"] / 1e3 for r in hopper}

    def compile_s(spec, backend, dtype, shape, config):
        return seconds[(spec.NAME, backend, dtype, json.dumps(dict(shape), sort_keys=True),
                        json.dumps(config, sort_keys=True))]
    names = sorted({r["backend"] for r in hopper})
    specs = [ops.load_spec(op) for op in dict.fromkeys(r["op"] for r in hopper)]
    groups = headline_groups(specs, names, None, False)
    lines = [f"the headline in a GPU run (compile times above, {hopper[0]['concurrent_compiles']} at a time; "
             "the GPU's own time not counted):"]
    for processes in dict.fromkeys((ahead.workers_for(GPU_MACHINE_CORES), ahead.workers_for())):
        plan = ahead.schedule(groups, compile_s, processes)
        lines.append(f"  a pool of {processes} (a machine of {processes + 1 if processes else 'up to 2'} cores): "
                     f"{plan['worker']} compiles in the timing worker, {plan['pool']} in the pool, "
                     f"all built after {plan['end_s']:.0f} s ({plan['serial_s']:.0f} s one at a time)")
    return lines


def is_headline(group):
    """Whether a group is one the headline answers with (its op's spec.headline(shape, dtype))."""
    spec, _, dtype, shape = group
    return bool(getattr(spec, "headline", lambda s, d: False)(shape, dtype))


def headline_first(groups):
    """The groups that answer the headline question (an op's spec.headline(shape, dtype): bf16
    GEMMs at 4k-8k, FlashAttention bf16 at head dim 128, ...) before the rest, each part in
    suite order: a sweep stopped early still holds them (records are flushed per case)."""
    return sorted(groups, key=lambda g: not is_headline(g))  # stable: suite order within each part


def union(lists):
    """Items of several lists, first-seen order, no repeats."""
    return list(dict.fromkeys(x for items in lists for x in items))


def shard(groups, text):
    """The K-th of N slices, in the deterministic suite order. The headline's groups are never
    split: they all go to shard 1, which answers the headline on its own; the other groups are
    dealt out in turn starting with shard 2 (every N-th group). `auto` takes K/N from SLURM's
    environment (see slurm_shard)."""
    if not text:
        return groups
    if text == "auto":
        text = slurm_shard(os.environ)
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard {text!r}: write K/N with 1 <= K <= N, e.g. 1/4, or auto under SLURM")
    k, n = int(k), int(n)
    head = [g for g in groups if is_headline(g)]
    rest = [g for g in groups if not is_headline(g)]
    mine = [g for i, g in enumerate(rest) if (i + 1) % n == k - 1]  # rest[0] to shard 2, ..., rest[n-1] to shard 1
    return (head if k == 1 else []) + mine


def slurm_shard(env):
    """'K/N' of this SLURM task: an array job's (SLURM_ARRAY_TASK_ID counted from
    SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT), else an srun step's (SLURM_PROCID of
    SLURM_NTASKS); a one-line UsageError when neither is set."""
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        first = int(env.get("SLURM_ARRAY_TASK_MIN", 0))
        return f"{int(env['SLURM_ARRAY_TASK_ID']) - first + 1}/{env['SLURM_ARRAY_TASK_COUNT']}"
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        return f"{int(env['SLURM_PROCID']) + 1}/{env['SLURM_NTASKS']}"
    raise UsageError("--shard auto needs SLURM: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (an array job) or "
                     "SLURM_PROCID and SLURM_NTASKS (srun) are not set")


def cmd_list():
    from bench.run.backends import backends_for, cpu_path, support
    from bench.core.env import device

    dev = device()
    user_kernels(None)  # those installed packages ship (entry points) are listed with their ops
    print(f"device: {dev}")
    for op in ops.OPS:
        spec = ops.load_spec(op)
        print(f"\n{op}: shape keys {', '.join(spec.SHAPE_KEYS)}; dtypes {', '.join(spec.DTYPES)}; "
              f"a kernel takes {', '.join(spec.INPUTS)}, then writes {', '.join(spec.OUTPUTS)}")
        for backend in backends_for(spec):
            where = "cuda" if dev == "cuda" else cpu_path(backend)
            states = {}
            for d in spec.DTYPES:  # dtypes that share a state are listed together
                state = support(backend, d, dev, spec)
                if state == "native" and not ops.split_backend(backend)[0]:
                    state = "runs"  # a vendor library or the reference: "native" is a DSL's CPU-path word
                states.setdefault(state, []).append(d)
            parts = [",".join(ds) + " " + st for st, ds in states.items()]
            print(f"  {backend:16s} {where}: {'; '.join(parts)}")
    return 0
