"""`dslbench check` and `dslbench run`: the selected cases through the sweep, each record saved as it
finishes, progress on the terminal, one line at the end (or after Ctrl-C) saying where they are.

A run always saves: to --out, to the --resume file, or else to a file of its own in runs/ (a
git-ignored folder: results/ holds committed runs only), named by date, device and suite.
Everything that can be wrong with the output file is found before any kernel runs.
"""
import json
import os
import shlex
import sys
import time
from pathlib import Path

from bench.core import ops
from bench.core.ops import UsageError

RUNS = Path("runs")  # where a run without --out is saved (git-ignored)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `timeout`'s stop): handled as Ctrl-C is."""


def on_sigterm(signum, frame):
    raise Terminated()


def cmd_cases(args, groups, timed):
    """Run the groups [(spec, backends, dtype, shape)]; exit 1 if a case failed or errored,
    130 on Ctrl-C and 143 on SIGTERM (after saying how to resume)."""
    import signal

    from bench.core import env

    dev = env.device()
    out = output_file(args, dev) if timed else None
    done = resumed(args, out)
    env.configure(dev)
    session = Session(args, timed, dev, out, done, sum(len(g[1]) for g in groups),
                      max((len(name) for g in groups for name in g[1]), default=0))
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        session.run(groups)
    except KeyboardInterrupt as stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the saving short
        session.close()
        print(session.interrupted(), file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    session.close()
    return session.finish()


def output_file(args, dev):
    """The file a run appends to, checked before any work: --resume's, --out's, or a new one in runs/."""
    if args.resume and args.out and args.out != args.resume:
        raise UsageError("--resume FILE appends to FILE: give no other --out")
    path = args.resume or args.out
    if path is None:
        path = default_out(dev, args.suite or ("gpu" if dev == "cuda" else "cpu"))
        path.parent.mkdir(parents=True, exist_ok=True)
    check_writable(Path(path), must_exist=bool(args.resume))
    return str(path)


def check_writable(path, must_exist):
    """One-line UsageError if records cannot be appended to `path`."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory: --out takes a file (e.g. {path / 'run.jsonl'})")
    if must_exist and not path.exists():
        raise UsageError(f"{path}: no such result file to resume")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{path}: folder {folder} does not exist")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise UsageError(f"{path}: not writable")


def default_out(dev, suite):
    """runs/<date>-<device>-<name>-<suite>.jsonl, numbered when that file exists already."""
    from bench.core.env import environment, utc_now

    name = "".join(c if c.isalnum() else "-" for c in environment()["device_name"].lower()).strip("-")
    stem = f"{utc_now()[:10]}-{dev}-{name}-{suite}"
    path, n = RUNS / f"{stem}.jsonl", 1
    while path.exists():
        n += 1
        path = RUNS / f"{stem}-{n}.jsonl"
    return path


def resumed(args, out):
    """{case key: record} already in the --resume file, after cutting a torn last line off it;
    refused when it was written in another environment (unless --allow-mixed)."""
    from bench.core.env import environment
    from bench.core.records import case_key, cut_torn_tail, env_difference, env_signature, load

    if not getattr(args, "resume", None):
        return {}
    records = load(out)
    if cut_torn_tail(out):
        print(f"dslbench: {out}: its torn last line was removed; the run goes on after the last whole record",
              file=sys.stderr)
    mine = env_signature(environment())
    theirs = next((env_signature(r.get("env")) for r in records if r.get("env")), mine)
    if theirs != mine and not args.allow_mixed:
        raise UsageError(f"{out} was written in another environment ({env_difference(theirs, mine)}); "
                         "pass --allow-mixed to add to it anyway")
    return {case_key(r) if r.get("kind", "case") == "case" else ("machine",): r for r in records}


def selection_order(groups):
    """A sort key putting records in the order of the selection: group by group, backend by backend."""
    place = {}
    for spec, names, dtype, shape in groups:
        for name in names:
            place.setdefault((spec.NAME, dtype, json.dumps(dict(shape), sort_keys=True), name), len(place))
    return lambda r: place.get((r["op"], r["dtype"], json.dumps(r["shape"], sort_keys=True), r["backend"]), len(place))


class Session:
    """One check or run: the sweep, the records as they come, the progress shown."""

    def __init__(self, args, timed, dev, out, done, total, backend_width=0):
        from bench.run.pool import DevicePool, slots
        from bench.run.sweep import Sweep

        self.args, self.timed, self.dev, self.out, self.done = args, timed, dev, out, done
        devices = getattr(args, "devices", None)
        if devices and args.inline:
            raise UsageError("--devices runs workers: it cannot be --inline")
        if devices is None and dev != "cuda" and not args.inline:
            devices = default_cpu_workers()  # the CPU paths: one worker per core the memory can feed
        if dev != "cuda" and devices == "1":
            devices = None  # one worker: the plain sweep, as before there was a default
        slot_list = slots(devices, dev) if devices else None
        self.records, self.show = [], Progress(args, timed, total, backend_width)
        self.order = lambda record: 0
        where = f"{dev} x{len(slot_list)} ({', '.join(s.index for s in slot_list)})" if slot_list else dev
        self.show.note(f"device: {where}" + ("" if dev == "cuda" else " (CPU paths: timings are not performance)"))
        # The float64 reference is the yardstick, not a contender: timed only when asked for by name.
        self.time_reference = "reference" in [b.strip() for b in (args.backend or "").split(",")]
        options = dict(timed=timed, config="autotune" if timed and dev == "cuda" else "first",
                       cuda_graph=getattr(args, "cuda_graph", False), time_reference=self.time_reference)
        self.pool = DevicePool(self.emit, dev, args.timeout, slot_list, **options) if slot_list else None
        self.sweep = None if self.pool else Sweep(self.emit, dev, args.timeout, **options)
        self.options = options
        self.machine = next((r for r in done.values() if r.get("kind") == "machine"), None)
        self.budget = budget_of(args)
        self.ahead = compile_ahead(args, timed, dev, options["config"])

    def run(self, groups):
        from bench.core.records import append

        if self.timed and self.dev == "cuda" and self.machine is None and not self.args.inline:
            self.machine = (self.pool or self.sweep).machine()
            if self.machine and self.out:
                append(self.out, self.machine)
        self.order = selection_order(groups)
        todo = self.remaining(groups)
        if self.ahead:
            queued = self.ahead.submit(longest_first(todo) if self.pool else todo)
            self.show.note(f"compile ahead: {queued} configs (both DSLs) queued on {self.ahead.workers} processes")
        if self.pool:
            self.pool.run(longest_first(todo), self.args.seed, self.budget)
            return
        for group in todo:
            if self.budget and not self.budget.admit(group):
                continue
            started = time.monotonic()
            self.run_one(group)
            if self.budget:
                self.budget.done(group, time.monotonic() - started)

    def run_one(self, group):
        spec, names, dtype, shape = group
        self.show.group(spec.NAME, dtype, shape)
        if self.args.inline:
            from bench.run import runner

            for record in runner.run_group(spec, names, dtype, shape, self.args.seed, self.dev, self.timed,
                                           self.options["config"], self.options["cuda_graph"],
                                           time_reference=self.time_reference):
                self.emit(record)
        else:
            self.sweep.run(spec, names, dtype, shape, self.args.seed)

    def remaining(self, groups):
        """The groups with the backends --resume's file does not hold yet."""
        from bench.core.records import case_key
        from bench.run import runner

        todo = []
        for spec, names, dtype, shape in groups:
            names = [n for n in names if case_key(runner.base_record(spec, n, dtype, shape, self.args.seed, self.dev))
                     not in self.done]
            if names:
                todo.append((spec, names, dtype, shape))
        return todo

    def emit(self, record):
        from bench.core.records import append
        from bench.run import peak

        roof = peak.roofline(record, self.machine)
        if roof:
            record["roofline"] = roof
        self.records.append(record)
        if self.out:
            append(self.out, record)
        self.show.case(record)

    def close(self):
        if self.pool:
            self.pool.close()
        else:
            self.sweep.close()
        if self.ahead:
            self.ahead.close()
        self.show.close()

    def finish(self):
        from bench.core.records import clean

        if self.args.json:  # in the order asked for, whatever order the workers finished in
            print(json.dumps(clean(sorted(self.records, key=self.order)), indent=1))
        else:
            print(summary(self.records) + (f"; {len(self.done)} already in {self.out}" if self.done else ""))
            for line in next_steps(self.out, self.dev):
                print(line)
            if self.budget and self.budget.refused:
                print(self.budget.refused_line() + (f"; continue with: {resume_command(self.out)}" if self.out else ""))
        if self.args.suite in ("gpu-full", "headline") and self.out:
            if returned_by_device_tool(self.out):
                print(f"report: not written beside {self.out} ($OUT brings back a few files): "
                      f"dslbench report {shlex.quote(self.out)} --out DIR")
            else:
                from bench.results import report

                report.run(self.out)  # beside the run: RUN-report/report.md and its plots
        return 1 if any(r["status"] in ("fail", "error") for r in self.records) else 0

    def interrupted(self):
        """The one line Ctrl-C prints: what is saved where, and the command that continues."""
        if not self.out:
            return f"interrupted: {len(self.records)} cases checked, none saved (check saves nothing)"
        return (f"interrupted: {len(self.records) + len(self.done)} cases saved in {self.out}; continue with: "
                f"{resume_command(self.out)}")


WORKER_MEMORY = 3 << 30  # bytes a CPU-path worker may take (torch, Triton's interpreter, TileLang's C kernels)


def default_cpu_workers(cores=None, available=None):
    """--devices when none is given on the CPU paths: one worker per core, as many as the
    memory available feeds (WORKER_MEMORY each), each on its share of the threads; "1" (one
    worker, as --devices 1) on a single core."""
    cores = cores or os.cpu_count() or 1
    if available is None:
        available = memory_available()
    fed = max(1, available // WORKER_MEMORY) if available else cores
    return str(max(1, min(cores, fed)))


def memory_available():
    """Bytes of memory available now (Linux's MemAvailable), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def next_steps(out, dev):
    """The last lines of a finished run: what to do next, one line each."""
    lines = [f"saved in {out}; report it with: dslbench report {shlex.quote(out)}"] if out else []
    if dev != "cuda":
        lines.append("GPU numbers need a GPU: there, run `dslbench smoke` first, then "
                     "`dslbench run --suite headline --budget 7m` (README: On a GPU)")
    return lines


def returned_by_device_tool(out):
    """Whether `out` lies in $OUT, the folder a leased GPU machine's command returns, which
    brings back a few files only (the lease's own command writes the report as one archive)."""
    folder = os.environ.get("OUT")
    return bool(folder) and Path(out).resolve().is_relative_to(Path(folder).resolve())


def compile_ahead(args, timed, dev, config):
    """The compile-ahead pool (bench/run/ahead.py) of a timed GPU run that autotunes in workers:
    --compile-ahead N processes (default: one per core, less the timing worker's); None when off.
    Its folder (the marks and TileLang's cache) is set for the workers, which start after this."""
    import tempfile

    from bench.run import ahead

    wanted = getattr(args, "compile_ahead", None)
    workers = ahead.workers_for() if wanted is None else wanted
    if wanted is not None and wanted < 0:
        raise UsageError(f"--compile-ahead {wanted}: give a number of processes >= 0 (0: off)")
    if not (timed and dev == "cuda" and not args.inline and workers and str(config).startswith("autotune")):
        return None
    from bench.run.backends import device_arch

    folder = tempfile.mkdtemp(prefix="dslbench-ahead-")
    os.environ[ahead.FOLDER_ENV] = folder
    os.environ["TILELANG_CACHE_DIR"] = os.path.join(folder, "tilelang")
    from bench.run.ahead_pool import CompileAhead

    return CompileAhead(folder, workers, config, device_arch(dev))


def budget_of(args):
    """The run's Budget (bench/run/budget.py) when --budget was given, else None."""
    text = getattr(args, "budget", None)
    if not text:
        return None
    from bench.run.budget import Budget, parse_duration

    return Budget(parse_duration(text))


def longest_first(groups):
    """The queue of a pool: the headline cases first (as gpu-full orders them), then the largest
    groups (FLOPs times backends), so that the last group to finish is a short one."""
    def cost(group):
        spec, names, _, shape = group
        return spec.flops(shape) * len(names)
    headline = [g for g in groups if getattr(g[0], "headline", lambda s, d: False)(g[3], g[2])]
    rest = [g for g in groups if not any(g is h for h in headline)]
    return headline + sorted(rest, key=cost, reverse=True)


def resume_command(out):
    """This command line with --resume OUT in place of --out / --resume."""
    argv, kept = sys.argv[1:], []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--out", "--resume"):
            skip = True
            continue
        if arg.startswith(("--out=", "--resume=")):
            continue
        kept.append(arg)
    return shlex.join(["dslbench", *kept, "--resume", out])


class Progress:
    """A progress bar (current case, elapsed time) on a terminal, and a table row per case."""

    def __init__(self, args, timed, total, backend_width=0):
        from bench.core import table

        self.table, self.args, self.rows, self.backend_width = table, args, 0, backend_width
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
        text = self.table.render(self.header, ([self.header] if not self.rows else []) + [self.row(record)],
                                 {"backend": self.backend_width})
        self.rows += 1
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def summary(records):
    counts = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no cases"
