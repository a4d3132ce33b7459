"""`dslbench report RUN.jsonl [--out DIR]`: a markdown report with PNG plots, ending in a verdict.

Per op and dtype: TFLOP/s per backend across shapes and the speed over the vendor baseline;
the launch overhead (host time per call, bench/results/launch.py) per backend; correctness;
compile and autotune time; the `dslbench inspect` metrics when the file has them, and the
portability matrix across GPU archs (bench/results/portability.py); lines of kernel code per
DSL; what got in the way (the DSL maturity ledger, bench/results/ledger.py). A CPU-path run renders too, marked as not performance data.
"""
import statistics
from pathlib import Path

from bench.results import analysis as an
from bench.results import codesize, launch, ledger, plots, portability, verdict
from bench.results.markdown import num, table
from bench.core import mma
from bench.core.records import load
from bench.core.ops import TRACKS, backend_name, shape_str

NOT_PERFORMANCE = ("> **CPU-path run: not performance data.** Triton ran in its interpreter and TileLang through "
                   "its C backend; their times measure those, not the kernels on a GPU. This report speaks only "
                   "of correctness, code size and compile cost.")
# SASS opcodes that tell the code path: warpgroup MMA (HGMMA, QGMMA for fp8) or the older HMMA;
# TMA loads (UTMALDG) or cp.async (LDGSTS); shared-memory traffic; barriers.
# UTC*MMA: Blackwell's tcgen05; QMMA: Ada's fp8 mma.sync; MFMA: AMD's (from the amdgcn or HIP source).
OPCODES = ("UTCHMMA", "UTCQMMA", "HGMMA", "QGMMA", "HMMA", "QMMA", "MFMA", "UTMALDG", "UTMASTG", "LDGSTS", "LDSM", "LDS",
           "STS", "STSM", "LDG", "STG", "BAR")
INSPECT_METRICS = ("compile_ms", "registers", "spill_store_bytes", "spill_load_bytes", "smem_bytes", "threads")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def header(path, cases, machines, performance, others=()):
    """The report's top: what the file holds and where it ran (`others`: its inspect and finding
    records, whose environment stands in when it has no case)."""
    envs = [r.get("env") or {} for r in (cases or others)]
    def values(key):
        return ", ".join(sorted({str(e.get(key)) for e in envs if e.get(key) is not None})) or "-"
    lines = [f"# dslbench report: {Path(path).name}", ""]
    if not cases and all(r.get("kind") == "finding" for r in others):
        lines += ["> This file holds only the DSL maturity ledger (`dslbench findings`): no timing, no check, "
                  "no compile.", ""]
    elif not cases:
        lines += ["> This file holds no case records, only compile records (`dslbench inspect`): no timing, "
                  "no check.", ""]
    elif not performance:
        lines += [NOT_PERFORMANCE, ""]
    timings = ", ".join(sorted({str(r["timing"]) for r in cases if r.get("timing")})) or "-"
    utc = sorted(r["utc"] for r in cases if r.get("utc")) or ["-"]
    lines += table(["", ""], [
        ["cases", len(cases)], ["devices", values("device_name")], ["timing", timings],
        ["torch / triton / tilelang", f"{values('torch')} / {values('triton')} / {values('tilelang')}"],
        ["CUDA / driver", f"{values('cuda')} / {values('driver')}"], ["git commit", values("git_commit")],
        ["finished (UTC)", f"{utc[0]} to {utc[-1]}"]])
    for m in machines:
        lines += [f"Measured machine peak: {num(m.get('peak_tflops_bf16'), '.0f')} TFLOP/s bf16, "
                  f"{num(m.get('peak_gbps'), '.0f')} GB/s ({m.get('method', 'measured at the start of the run')}).", ""]
    return lines + telemetry_lines(cases)


def telemetry_lines(cases, listed=8):
    """The throttled cases, loud; apart, how many ran at the power cap (a big GPU holds its
    software power cap through any large GEMM: that is the GPU at work, not a slowdown)."""
    lines = []
    throttled = [r for r in cases if an.telemetry_flag(r, "throttled")]
    if throttled:
        names = ", ".join(f"{r['op']} {r['dtype']} {r['backend']} {shape_str(r['shape'])}" for r in throttled[:listed])
        more = f" and {len(throttled) - listed} more" if len(throttled) > listed else ""
        lines += [f"> **Warning:** {len(throttled)} case(s) ran while the GPU reported a thermal or hardware slowdown "
                  "(`telemetry.throttled`: clocks held down by heat or the hardware, so these times understate "
                  f"the GPU): {names}{more}.", ""]
    unwaited = [r for r in cases if an.stream_disagrees(r)]
    if unwaited:
        names = ", ".join(f"{r['op']} {r['dtype']} {r['backend']} {shape_str(r['shape'])}" for r in unwaited[:listed])
        lines += [f"> **Warning:** {len(unwaited)} case(s) left work on the GPU that the timed stream did not wait "
                  "for (`stream_check`: the device was busy well after the stream's end event, e.g. a kernel launched "
                  f"on another stream); their times are not used: {names}.", ""]
    capped = sum(an.telemetry_flag(r, "power_capped") for r in cases)
    if capped:
        lines += [f"> {capped} case(s) ran at the GPU's software power cap (`telemetry.power_capped`, NVML's "
                  "`sw_power_cap`): the board held its power limit, as it does through any large GEMM. Not counted "
                  "as throttling.", ""]
    return lines


def performance_rows(records):
    rows = []
    for shape in an.shapes(records):
        for backend in an.backends(records):
            r = an.find(records, backend, shape)
            if not r or backend == "reference":
                continue
            t = r.get("time") or {}
            vendor = an.fastest_vendor(records, shape)
            ratio = an.speed_vs_vendor(records, backend, shape)
            spread = f"{num(t.get('p10_ms'), '.4g')}-{num(t.get('p90_ms'), '.4g')}" if t else "-"
            rows.append([shape_str(shape), backend, r["status"] + (" (emulated)" if r.get("emulated") else ""),
                         num(t.get("median_ms"), ".4g"), spread,
                         num(t.get("cv"), ".1%"), num(r.get("tflops"), ".3g"), num(r.get("gbps"), ".3g"),
                         num((r.get("roofline") or {}).get("pct_of_peak"), ".0f"),
                         f"{ratio:.2f}x {vendor[0]}" if ratio else "-", an.config_text(r.get("config"))])
    return rows


PERF_HEADER = ["shape", "backend", "status", "median ms", "p10-p90 ms", "cv", "TFLOP/s", "GB/s", "% of roof",
               "speed vs fastest vendor", "config"]


def performance_section(groups, out, performance):
    lines, pngs = ["## Performance per op and dtype", ""], []
    if not performance:
        lines += ["> CPU-path times and TFLOP/s below are not performance: they are kept to show the report renders.", ""]
    for (op, dtype), records in groups.items():
        shapes = an.shapes(records)
        names = [b for b in an.backends(records) if b != "reference"]
        tflops = {b: [(an.find(records, b, s) or {}).get("tflops") if an.median_ms(an.find(records, b, s)) else None
                      for s in shapes] for b in names}
        spans = {b: [tflops_span(an.find(records, b, s)) for s in shapes] for b in names}
        vs_vendor = {b: [an.speed_vs_vendor(records, b, s) for s in shapes] for b in names
                     if an.is_dsl(b) or an.is_user(b)}
        png = out / f"perf_{op}_{dtype}.png".replace(" ", "_")
        plots.performance(png, op, dtype, shapes, tflops, vs_vendor if an.vendors(records) else {}, performance, spans)
        pngs.append(png)
        lines += [f"### {op} {dtype}", "", f"![{op} {dtype}]({png.name})", ""]
        lines += table(PERF_HEADER, performance_rows(records))
        lines += stage_table(records)
    return lines, pngs


def stage_table(records):
    """An op made of stages (the DSA step: indexer, top-k, sparse MLA): each stage's median time
    beside the whole, per shape and backend."""
    staged = [r for r in records if r.get("stage_time") and an.median_ms(r)]
    if not staged:
        return []
    stages = an.unique(s for r in staged for s in r["stage_time"])
    rows = [[shape_str(r["shape"]), r["backend"], *(num((r["stage_time"].get(s) or {}).get("median_ms"), ".4g")
                                                    for s in stages), num(an.median_ms(r), ".4g")] for r in staged]
    return ["Each stage timed alone with the same procedure (median ms), and the whole step:", ""] + table(
        ["shape", "backend", *(f"{s} ms" for s in stages), "whole step ms"], rows)


def tflops_span(record):
    """(TFLOP/s at the p90 time, at the p10 time) of a timed, passing case, or None."""
    t = (record or {}).get("time") or {}
    if not an.median_ms(record) or not t.get("p10_ms") or not t.get("p90_ms"):
        return None
    work = record["tflops"] * t["median_ms"]  # TFLOP/s x ms: the same for every time of the case
    return work / t["p90_ms"], work / t["p10_ms"]


def rel_tolerance(tolerance):
    """The normwise tolerance of a record; the loosest one when it has one per output (the
    record keeps only the largest error over its outputs)."""
    if not tolerance:
        return None
    if "rel" in tolerance:
        return tolerance["rel"]
    return max(t[0] if isinstance(t, (list, tuple)) else t["rel"] for t in tolerance.values())


def correctness_section(groups):
    rows, problems = [], []
    for (op, dtype), records in groups.items():
        for backend in an.backends(records):
            mine = [r for r in records if r["backend"] == backend]
            c = an.status_counts(records, backend)
            worst = max((r["rel_err"] / rel_tolerance(r.get("tolerance")) for r in mine
                         if r.get("rel_err") is not None and rel_tolerance(r.get("tolerance"))), default=None)
            rows.append([op, dtype, backend, an.pass_rate(c), c["fail"], c["error"], c["skipped"],
                         "yes" if any(r.get("emulated") for r in mine) else "no", num(worst, ".2g")])
            problems += [f"- {op} {dtype} {backend} {shape_str(r['shape'])}: **{r['status']}**: {r.get('reason', '')}"
                         for r in mine if r["status"] in ("fail", "error")]
    lines = ["## Correctness", "", "Each case against the float64 reference; `worst error / tolerance` is the largest "
             "normwise relative error over the op's tolerance for the dtype (a pass needs <= 1; for ops with "
             "several outputs, over the loosest output's tolerance).", ""]
    lines += table(["op", "dtype", "backend", "passed", "failed", "errors", "skipped", "emulated",
                    "worst error / tolerance"], rows)
    skipped = sorted({f"{r['backend']} {r['dtype']}: {r.get('reason', '')}" for rs in groups.values() for r in rs
                      if r["status"] == "skipped"})
    lines += problems[:40] + [""] if problems else []
    return lines + ([f"Skipped: {'; '.join(skipped)}", ""] if skipped else [])


def compile_section(groups, out, performance):
    rows, per_op = [], {}
    for (op, dtype), records in groups.items():
        for backend in (b for b in an.backends(records) if an.is_dsl(b) or an.is_user(b)):
            mine = [r for r in records if r["backend"] == backend and r.get("compile_ms") is not None]
            times = [r["compile_ms"] for r in mine]
            tried = [len(r.get("autotune") or []) for r in mine]
            failed = sum(1 for r in mine for a in r.get("autotune") or [] if "error" in a)
            untaken = sum(1 for r in mine for a in r.get("autotune") or [] if "skipped" in a)
            span = f"{num(min(times, default=None), '.0f')}-{num(max(times, default=None), '.0f')}"
            rows.append([op, dtype, backend, num(median(times), ".0f"), span,
                         num(median(r.get("autotune_ms") for r in mine), ".0f"), max(tried, default=0), failed,
                         untaken])
            per_op.setdefault(op, {}).setdefault(dtype, {})[backend] = times
    lines = ["## Compile and autotune time", "", "Compile: building the kernel plus its first call, cold caches. "
             "Autotune: timing every config of the shared list, compile excluded.", ""]
    if not performance:
        lines += ["> On the CPU paths Triton's interpreter generates no code and TileLang compiles C, not CUDA: "
                  "these are not GPU compile costs (`dslbench inspect` measures those).", ""]
    lines += table(["op", "dtype", "backend", "compile ms (median)", "min-max", "autotune ms (median)",
                    "configs tried", "configs failed", "configs it cannot take"], rows)
    lines += untaken_lines(groups)
    pngs = []
    for op, dtypes in per_op.items():
        names = list(dict.fromkeys(b for d in dtypes.values() for b in d))
        medians = {b: [median(dtypes[d].get(b, [])) for d in dtypes] for b in names}
        spans = {b: [(min(dtypes[d].get(b) or [0]), max(dtypes[d].get(b) or [0])) for d in dtypes] for b in names}
        png = out / f"compile_{op}.png".replace(" ", "_")
        plots.compile_times(png, op, list(dtypes), medians, spans, performance)
        pngs.append(png)
        lines += [f"![{op} compile time]({png.name})", ""]
    return lines, pngs


def untaken_lines(groups):
    """The configs of a track's shared list that one DSL could not take (its autotune entries
    `skipped`: shared memory, registers, its compiler refusing), each with the reason and the
    shapes it was skipped at: the best track's list is the union of both DSLs' best kernels'
    configs, so a config one DSL's kernels use may be one the other cannot take."""
    seen = {}
    for (op, dtype), records in groups.items():
        for r in records:
            for entry in r.get("autotune") or []:
                if "skipped" in entry:
                    key = (op, dtype, r["backend"], config_text(entry["config"]), entry["skipped"])
                    seen.setdefault(key, set()).add(shape_str(r["shape"]))
    if not seen:
        return []
    rows = [[op, dtype, backend, config, len(shapes), reason] for (op, dtype, backend, config, reason), shapes
            in sorted(seen.items())]
    return ["Configs of the shared list a backend could not take (skipped for it alone, with the reason; "
            "the other DSL tried them):", "", *table(["op", "dtype", "backend", "config", "shapes", "reason"], rows)]


def config_text(config):
    return ", ".join(f"{k}={v}" for k, v in config.items()) if isinstance(config, dict) else str(config)


def instruction_counts(r):
    """{opcode: static count}: SASS opcodes, plus MFMA (AMD matrix instructions, amdgcn or HIP source)."""
    m = r.get("metrics") or {}
    counts = dict(m.get("sass") or {})
    mfma = sum(n for name, n in (m.get("mma") or {}).items() if (mma.family(name) or "").startswith("MFMA"))
    return {**counts, "MFMA": mfma} if mfma else counts


def inspect_row(r, metrics, opcodes):
    m = r.get("metrics") or {}
    sass = instruction_counts(r)
    total = m.get("sass") or m.get("amdgcn") or {}
    return [r.get("op"), r.get("backend"), r.get("dtype"), an.config_text(r.get("config")), r.get("arch", "-"),
            r.get("status", "-"), *(num(m.get(k, r.get(k)), ".4g") for k in metrics),
            *(sass.get(o, 0) for o in opcodes), sum(total.values()) if total else "-"]


def inspect_section(inspects):
    """The `dslbench inspect` records: compile facts and the SASS instruction mix per config."""
    if not inspects:
        return []
    def scalars(r):
        return {k for k, v in (r.get("metrics") or {}).items() if isinstance(v, (int, float))}
    present = set().union(*(scalars(r) for r in inspects))
    metrics = [k for k in INSPECT_METRICS if k in present] or sorted(present)
    opcodes = [o for o in OPCODES if any(instruction_counts(r).get(o) for r in inspects)]
    shapes = sorted({shape_str(r["shape"]) for r in inspects if r.get("shape")})
    lines = ["## Compiled code (dslbench inspect)", "",
             f"Each config compiled cold for the GPU arch without a GPU (shape {', '.join(shapes) or '-'}); "
             "instruction counts are static SASS counts, not executed ones.", ""]
    header = ["op", "backend", "dtype", "config", "arch", "status", *metrics, *opcodes, "instructions"]
    return lines + table(header, [inspect_row(r, metrics, opcodes) for r in inspects])


def code_size(ops, records):
    """({op: {backend: lines}}, where they were counted): from the run's commit when this
    checkout has it, else from the checkout as it is now (and the report says so)."""
    commits = an.unique((r.get("env") or {}).get("git_commit") for r in records if (r.get("env") or {}).get("git_commit"))
    commit = codesize.known_commit(commits[0]) if len(commits) == 1 else None
    if commit:
        dirty = " (the run had uncommitted changes, not counted)" if commits[0].endswith("-dirty") else ""
        where = f"counted at the run's commit {commit[:12]}{dirty}"
    else:
        why = "several commits in this file" if len(commits) > 1 else (
            "the run's commit is not in this checkout" if commits else "the run names no commit")
        where = f"counted in this checkout as it is now ({why})"
    return {op: codesize.kernel_lines(op, commit=commit) for op in ops}, where


def code_section(sizes, where):
    rows = []
    for op, s in sizes.items():
        for track in TRACKS:
            tr, tl = s.get(backend_name("triton", track)), s.get(backend_name("tilelang", track))
            if tr or tl:
                rows.append([op, track, tr or "-", tl or "-", num(tl / tr, ".2f") if tr and tl else "-"])
    if not rows:  # a file of no op's records (the ledger alone)
        return []
    return ["## Kernel code size", "", f"Non-blank lines of kernels/<op>/<dsl>_<track>.py that are neither "
            f"comments nor docstrings, {where}. Each file is counted whole, the same way for both DSLs: the "
            "kernel and the host code that launches it (Triton: the wrapper that checks shapes and launches; "
            "TileLang: the factory, whose launcher TileLang's JIT generates).", ""] + table(
        ["op", "track", "Triton lines", "TileLang lines", "TileLang / Triton"], rows)


def write(path, out=None):
    """Write DIR/report.md and its PNGs for the run in `path`; return (report path, PNG paths)."""
    records = load(path)
    cases, machines, inspects = an.split(records)
    findings = [r for r in records if r.get("kind") == "finding"]  # `dslbench findings --out`
    out = Path(out) if out else Path(path).with_name(Path(path).stem + "-report")
    out.mkdir(parents=True, exist_ok=True)
    performance = an.is_performance(cases)
    groups = an.by_group(cases)
    sizes, counted_where = code_size(an.unique([r["op"] for r in cases + inspects]), cases + inspects)
    perf_lines, perf_pngs = performance_section(groups, out, performance) if cases else ([], [])
    compile_lines, compile_pngs = compile_section(groups, out, performance) if cases else ([], [])
    verdict_lines, verdict_pngs = verdict.section(groups, inspects, sizes, performance, out, findings)
    lines = [*header(path, cases, machines, performance, inspects + findings), *perf_lines, *launch.section(groups),
             *(correctness_section(groups) if cases else []),
             *compile_lines, *inspect_section(inspects), *portability.section(inspects, list(sizes)),
             *code_section(sizes, counted_where), *ledger.section(findings), *verdict_lines]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report, perf_pngs + compile_pngs + verdict_pngs


def run(path, out=None):
    """One run (a path), or several side by side (a list of paths)."""
    if isinstance(path, list):
        from bench.results import multirun

        report, pngs = multirun.write(path, out)
    else:
        report, pngs = write(path, out)
    print(f"wrote {report} and {len(pngs)} plots")
    return 0
