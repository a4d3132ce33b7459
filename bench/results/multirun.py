"""`dslbench report A.jsonl B.jsonl ...`: several runs side by side (GPUs, library versions, commits).

Mixed environments are the point here, not an error: each run is a column, labelled by what
differs between the runs (the device, a library version, the commit). Per op and dtype: each
backend's geometric-mean TFLOP/s per run over the shapes every run timed (a CPU-path run shows
its pass rate instead: its times are not performance), the shape-by-shape table, a plot across
runs, and the verdict of each run with whether it changed between them.
"""
from pathlib import Path

from bench.core.ops import shape_str
from bench.core.records import load
from bench.results import analysis as an
from bench.results import ledger, plots, stats, verdict
from bench.results.markdown import num, table

# Environment fields a run is told apart by, in the order a label names them.
LABEL_FIELDS = ("device_name", "device_kind", "cuda", "driver", "torch", "triton", "tilelang", "python", "git_commit")


class Run:
    """One result file: its cases, their groups, and the environment it ran in."""

    def __init__(self, path):
        self.path = Path(path)
        records = load(path)
        self.cases, self.machines, self.inspects = an.split(records)
        self.findings = [r for r in records if r.get("kind") == "finding"]  # `dslbench findings --out`
        self.groups = an.by_group(self.cases)
        self.performance = an.is_performance(self.cases)
        self.env = next((r.get("env") for r in self.cases + self.inspects + self.findings if r.get("env")), {}) or {}
        self.label = self.path.stem


def labels(runs):
    """Each run's label: the environment fields that differ between the runs (commit shortened),
    else its file name; made unique with #n when two runs agree on everything."""
    differ = [f for f in LABEL_FIELDS if len({str(r.env.get(f)) for r in runs}) > 1]

    def value(run, field):
        v = str(run.env.get(field))
        return v[:10] if field == "git_commit" else v
    names = [", ".join(f"{f.replace('_name', '')} {value(r, f)}" for f in differ) or r.path.stem for r in runs]
    seen = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if names.count(name) > 1:
            names[i] = f"{name} #{seen[name]}"
    for run, name in zip(runs, names):
        run.label = name
    return differ


def cell(run, records, backend, shapes):
    """A backend's number in one run: geometric-mean TFLOP/s over `shapes` (GPU), or its pass rate."""
    mine = [r for r in records if r["backend"] == backend]
    if not mine:
        return "-"
    if not run.performance:
        return an.pass_rate(an.status_counts(mine, backend))
    values = [(an.find(mine, backend, s) or {}).get("tflops") for s in shapes]
    values = [v for v, s in zip(values, shapes) if an.median_ms(an.find(mine, backend, s))]
    return num(stats.geomean(values), ".4g") if len(values) == len(shapes) and values else "-"


def common_shapes(runs, key, backend):
    """The shapes of a group every run timed this backend on (so the means compare like with like)."""
    per_run = [[s for s in an.shapes(run.groups.get(key, [])) if an.median_ms(an.find(run.groups[key], backend, s))]
               for run in runs]
    return [s for s in per_run[0] if all(s in other for other in per_run[1:])] if per_run else []


def group_section(runs, key, out):
    op, dtype = key
    present = [run for run in runs if key in run.groups]
    backends = an.unique(b for run in present for b in an.backends(run.groups[key]) if b != "reference")
    rows, series = [], {}
    for backend in backends:
        shapes = common_shapes(runs, key, backend)  # a run without this group has none in common
        cells = [cell(run, run.groups.get(key, []), backend, shapes) for run in runs]
        rows.append([backend, len(shapes), *cells])
        series[backend] = [float(c) if c not in ("-",) and "/" not in c else None for c in cells]
    lines = [f"### {op} {dtype}", ""]
    lines += table(["backend", "shapes in every run", *(r.label for r in runs)], rows)
    if any(v for values in series.values() for v in values):
        png = out / f"runs_{op}_{dtype}.png".replace(" ", "_")
        plots.across_runs(png, f"{op} {dtype}", [r.label for r in runs], series)
        lines += [f"![{op} {dtype} across runs]({png.name})", ""]
    detail = []
    for shape in an.unique(s for run in present for s in an.shapes(run.groups[key])):
        for backend in backends:
            found = [an.find(run.groups.get(key, []), backend, shape) for run in runs]
            if any(found):
                detail.append([shape_str(shape), backend, *(shape_cell(run, r) for run, r in zip(runs, found))])
    lines += ["<details><summary>every shape</summary>", ""]
    lines += table(["shape", "backend", *(r.label for r in runs)], detail) + ["</details>", ""]
    return lines


def shape_cell(run, record):
    if record is None:
        return "-"
    if record["status"] != "pass" or not run.performance:
        return record["status"] + (" (emulated)" if record.get("emulated") else "")
    return f"{num(record.get('tflops'), '.4g')} TFLOP/s"


def verdict_section(runs):
    """Each run's verdict per op and dtype (the single-run rule), and whether it changed."""
    keys = an.unique(k for run in runs for k in run.groups)
    rows = []
    for key in keys:
        answers = []
        for run in runs:
            records = run.groups.get(key)
            if not records:
                answers.append("-")
            elif not run.performance:
                counts = {d: sum(an.status_counts(records, b)["pass"] for b in an.backends(records)
                                 if an.split_backend(b)[0] == d) for d in ("triton", "tilelang")}
                answers.append(f"CPU path: TileLang {counts['tilelang']} passed, Triton {counts['triton']}")
            else:
                track = an.headline_track(records)
                yes, why = verdict.group_answer(records, track)
                answers.append(f"{'yes' if yes else 'no' if yes is False else '-'} ({track or '-'}): {why}")
        words = {a.split(" ")[0] for a in answers if a != "-"}
        compared = sum(a != "-" for a in answers) > 1  # a group only one run holds cannot have changed
        rows.append([f"{key[0]} {key[1]}", *answers, ("yes" if len(words) > 1 else "no") if compared else "-"])
    return ["## Verdict per run", "", f"The single-run rule (TileLang passes at least Triton's share of checks "
            f"and reaches at least {verdict.PARITY}x its geometric-mean speed, in the best track) applied to each "
            "run; `changed` says whether the answer differs between the runs (- where only one run holds the group).", ""] + table(
        ["op dtype", *(r.label for r in runs), "changed"], rows)


def write(paths, out=None):
    """DIR/report.md and its plots for several runs; returns (report path, PNG paths)."""
    runs = [Run(p) for p in paths]
    differ = labels(runs)
    out = Path(out) if out else runs[0].path.with_name(f"{runs[0].path.stem}-and-{len(runs) - 1}-more-report")
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# dslbench report: {len(runs)} runs side by side", ""]
    lines += [f"Columns are runs, labelled by what differs between them: {', '.join(differ)}." if differ else
              "The runs agree on device, versions and commit: columns are labelled by file name.", ""]
    lines += table(["run", "file", "cases", "device", "torch / triton / tilelang", "commit", "data"], [
        [r.label, r.path.name, len(r.cases), r.env.get("device_name", "-"),
         f"{r.env.get('torch')} / {r.env.get('triton')} / {r.env.get('tilelang')}", str(r.env.get("git_commit"))[:12],
         "performance" if r.performance else "CPU paths: pass rates, not performance"] for r in runs])
    lines += ["## Per op and dtype", "", "Per backend: geometric-mean TFLOP/s over the shapes every run timed "
              "(a CPU-path run: checks passed over checks run).", ""]
    for key in an.unique(k for run in runs for k in run.groups):
        lines += group_section(runs, key, out)
    lines += verdict_section(runs)
    if any(run.findings for run in runs):
        lines += ledger.side_by_side([r.label for r in runs], [r.findings for r in runs])
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report, sorted(out.glob("runs_*.png"))
