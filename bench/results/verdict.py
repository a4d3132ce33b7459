"""The verdict of `dslbench report`: is TileLang a real alternative to Triton?

Every number and every sentence here is computed from the run's records; the rule that turns
them into an answer is printed with it. A CPU-path run says nothing about speed: its verdict
covers correctness, code size and compile cost only.

Each DSL comes in two tracks (README: two tracks). The speed question is answered from the
best track (each DSL written as its best public kernels are), where a run has it; the matched
track (the same code path in both DSLs) explains a gap as code generation.
"""
import statistics

from bench.core import mma
from bench.core.ops import DSLS, shape_str
from bench.results import ledger
from bench.results import analysis as an
from bench.results import launch, plots, portability
from bench.results.markdown import table

PARITY = 0.9  # TileLang at >= 0.9x Triton's speed (geometric mean over shapes) counts as on par
WIN = 1.05  # a shape is won by the DSL that is faster by more than 5%
MAX_WINS_SHOWN = 3  # per DSL, group and track: the largest wins, with their evidence
NAMES = {"triton": "Triton", "tilelang": "TileLang"}


def x(value):
    return "-" if value is None else f"{value:.2f}x"


def wins(ratios):
    """(shapes TileLang wins, shapes Triton wins), each by more than WIN."""
    return [r for r in ratios if r[1] > WIN], [r for r in ratios if r[1] < 1 / WIN]


def pair(track):
    """{dsl: backend} of the two DSLs in one track."""
    return {d: an.dsl_backend(d, track) for d in DSLS}


def track_groups(groups):
    """(op, dtype, track, records) for every group and each track its DSL backends come in."""
    return [(op, dtype, track, records) for (op, dtype), records in groups.items() for track in an.tracks(records)]


def speed_section(groups):
    rows, points = [], {}
    for op, dtype, track, records in track_groups(groups):
        ratios = an.speed_ratios(records, track)
        if not ratios:
            continue
        gm, (low, high) = an.summary(ratios)
        tl, tr = wins(ratios)
        vendor = [an.summary([v for s in an.shapes(records) if (v := an.speed_vs_vendor(records, b, s))])
                  for b in pair(track).values()]
        rows.append([op, dtype, track or "-", len(ratios), x(gm), f"{x(low)}-{x(high)}", len(tl), len(tr),
                     *(x(v[0]) if v else "-" for v in vendor)])
        points[f"{op} {dtype}" + (f" {track}" if track else "")] = [r for _, r in ratios]
    lines = ["### Speed", "", "TileLang speed / Triton speed = Triton's median time / TileLang's, per shape where both "
             f"passed, within one track; geometric mean over shapes, and its range. A shape is won by more than "
             f"{WIN - 1:.0%}. Best track: what each DSL reaches written well; matched track: the same code path, "
             "so a gap there is code generation.", ""]
    if not rows:
        return lines + ["No shape where both DSLs passed and were timed.", ""], points
    lines += table(["op", "dtype", "track", "shapes", "TileLang / Triton (geomean)", "range", "TileLang wins",
                    "Triton wins", "Triton / vendor", "TileLang / vendor"], rows)
    return lines, points


def correctness_section(groups):
    rows, split = [], []
    for op, dtype, track, records in track_groups(groups):
        names = pair(track)
        counts = {d: an.status_counts(records, b) for d, b in names.items()}
        for shape in an.shapes(records):
            status = {d: (an.find(records, b, shape) or {}).get("status") for d, b in names.items()}
            if sorted(s for s in status.values() if s in ("pass", "fail", "error")) in (["error", "pass"], ["fail", "pass"]):
                split.append(f"- {op} {dtype} {track or ''} {shape_str(shape)}: Triton {status['triton']}, "
                             f"TileLang {status['tilelang']}".replace("  ", " "))
        rows.append([op, dtype, track or "-", *(an.pass_rate(counts[d]) for d in DSLS),
                     *(counts[d]["skipped"] for d in DSLS)])
    lines = ["### Correctness", "", "Checks passed over checks run (skipped cases did not run).", ""]
    lines += table(["op", "dtype", "track", "Triton passed", "TileLang passed", "Triton skipped", "TileLang skipped"],
                   rows)
    return lines + (["Cases where one DSL passes and the other does not:", *split, ""] if split else [])


def compile_rows(groups):
    rows = []
    for op, dtype, track, records in track_groups(groups):
        def values(key, backend):
            return [r[key] for r in records if r["backend"] == backend and r.get(key) is not None]
        names = pair(track)
        # the first config's cold compile, alone in its process, where the records have it (a run
        # with the compile-ahead pool: once per kernel, at its first shape; the rest compiled
        # several at a time)
        cold = {d: values("cold_compile_ms", b) for d, b in names.items()}
        med = cold if all(cold.values()) else {d: values("compile_ms", b) for d, b in names.items()}
        if not all(med.values()):
            continue
        m = {d: statistics.median(v) for d, v in med.items()}
        tune = [values("autotune_ms", b) for b in names.values()]
        rows.append([op, dtype, track or "-", f"{m['triton']:.0f}", f"{m['tilelang']:.0f}",
                     x(m["tilelang"] / m["triton"] if m["triton"] else None),
                     *(f"{statistics.median(t):.0f}" if any(t) else "-" for t in tune)])
    return rows


def inspect_compile_medians(inspects):
    """[(op, dtype, track, arch, Triton ms, TileLang ms)]: median compile time over configs, per DSL."""
    out = []
    for (op, dtype), records in an.by_group([r for r in inspects if an.compiled(r)]).items():
        for track in an.tracks(records):
            for arch in an.unique(r.get("arch") for r in records):
                med = {d: [r["compile_ms"] for r in records if r["backend"] == b and r.get("arch") == arch
                           and r.get("compile_ms")] for d, b in pair(track).items()}
                if all(med.values()):
                    out.append((op, dtype, track, arch, statistics.median(med["triton"]),
                                statistics.median(med["tilelang"])))
    return out


def compile_section(groups, inspects, performance):
    lines = ["### Compile and tuning cost", ""]
    rows = compile_rows(groups)
    if performance and rows:
        lines += ["Median over shapes, ms, on this run's GPU (cold caches; where the records have it, the first "
                  "config's compile alone in its process, at the first shape each kernel ran, everything else having "
                  "compiled ahead in a pool):", ""]
        lines += table(["op", "dtype", "track", "Triton compile", "TileLang compile", "TileLang / Triton",
                        "Triton autotune", "TileLang autotune"], rows)
    elif rows:
        lines += ["CPU-path preparation times (Triton's interpreter generates no code; TileLang compiles C): "
                  "not a GPU compile cost.", ""]
        lines += table(["op", "dtype", "track", "Triton ms", "TileLang ms", "TileLang / Triton"], [r[:6] for r in rows])
    inspected = [[op, dtype, track or "-", arch, f"{tr:.0f}", f"{tl:.0f}", x(tl / tr)]
                 for op, dtype, track, arch, tr, tl in inspect_compile_medians(inspects)]
    if inspected:
        lines += ["Compile for the GPU arch without a GPU (`dslbench inspect`, cold; median over configs, ms):", ""]
        lines += table(["op", "dtype", "track", "arch", "Triton", "TileLang", "TileLang / Triton"], inspected)
    elif not performance:
        lines += ["No `dslbench inspect` records in this file: no GPU compile cost to report.", ""]
    return lines


def code_section(sizes):
    """sizes: {op: {backend: lines}}; the ratio per track, over the ops where both DSLs have it."""
    lines = []
    for track in (t for t in (*an.TRACKS, None) if any(an.dsl_backend("triton", t) in s for s in sizes.values())):
        names = pair(track)
        both = {op: s for op, s in sizes.items() if all(s.get(b) for b in names.values())}
        if not both:
            continue
        total = {d: sum(s[b] for s in both.values()) for d, b in names.items()}
        per_op = "; ".join(f"{op} {s[names['tilelang']]} vs {s[names['triton']]}" for op, s in both.items())
        lines.append(f"- {an.track_label(track)}: TileLang kernels take {total['tilelang']} lines against Triton's "
                     f"{total['triton']} ({total['tilelang'] / total['triton']:.2f}x) over {len(both)} op(s): {per_op} "
                     "(TileLang vs Triton).")
    return ["### Code size", "", *lines, ""] if lines else []


def inspect_for(inspects, op, dtype, backend, config):
    """The inspect record of this backend's chosen config, if the file has one that compiled."""
    return next((r for r in inspects if (r["op"], r["dtype"], r["backend"]) == (op, dtype, backend)
                 and r.get("config") == config and an.compiled(r)), None)


def codegen(record):
    """What a compiled kernel is made of, in a few comparable facts."""
    m = record.get("metrics") or {}
    sass = m.get("sass") or {}
    return {
        "threads": m.get("threads"),
        "registers": m.get("registers"),
        "spill bytes": (m.get("spill_store_bytes") or 0) + (m.get("spill_load_bytes") or 0),
        "shared KiB": round(m["smem_bytes"] / 1024) if m.get("smem_bytes") is not None else None,
        "MMA": "+".join(mma.families(record)) or "none",  # SASS or AMD (MFMA) matrix instructions
        "loads": "TMA" if sass.get("UTMALDG") else "cp.async" if sass.get("LDGSTS") else "plain",
    }


def codegen_difference(tilelang, triton):
    a, b = codegen(tilelang), codegen(triton)
    differ = [f"{k} {a[k]} vs {b[k]}" for k in a if a[k] != b[k]]
    return ", ".join(differ) if differ else "same threads, registers, spills, shared memory, MMA and load path"


def evidence(records, track, shape, inspects):
    """Why a shape went the way it did, as far as the records show: time, configs, roofline, code."""
    names = pair(track)
    tl, tr = an.find(records, names["tilelang"], shape), an.find(records, names["triton"], shape)
    parts = [f"TileLang {an.median_ms(tl):.4g} ms vs Triton {an.median_ms(tr):.4g} ms"]
    if tl.get("config") == tr.get("config"):
        parts.append(f"both chose {an.config_text(tl.get('config'))}: the gap is code generation, not tuning")
    else:
        parts.append(f"configs differ: TileLang {an.config_text(tl.get('config'))}, "
                     f"Triton {an.config_text(tr.get('config'))}")
    roof = {d: r.get("roofline") for d, r in (("tilelang", tl), ("triton", tr))}
    if all(roof.values()):
        parts.append(f"{roof['tilelang']['bound']}-bound: TileLang at {roof['tilelang']['pct_of_peak']:.0f}% "
                     f"of the roof, Triton at {roof['triton']['pct_of_peak']:.0f}%")
    elif tl.get("flops") and tl.get("bytes"):
        parts.append(f"{tl['flops'] / tl['bytes']:.0f} FLOP per byte moved")
    a = inspect_for(inspects, tl["op"], tl["dtype"], names["tilelang"], tl.get("config"))
    b = inspect_for(inspects, tr["op"], tr["dtype"], names["triton"], tr.get("config"))
    if a and b:
        at = f" at {shape_str(a['shape'])}" if a.get("shape") and a["shape"] != shape else ""
        parts.append(f"compiled for {a.get('arch', '?')}{at} (TileLang vs Triton): {codegen_difference(a, b)}")
    return "; ".join(parts)


def wins_section(groups, inspects):
    lines, same, compared = ["### Where each DSL wins, and the evidence", ""], 0, 0
    for op, dtype, track, records in track_groups(groups):
        names = pair(track)
        ratios = an.speed_ratios(records, track)
        for shape, _ in ratios:
            compared += 1
            same += an.find(records, names["tilelang"], shape).get("config") == \
                an.find(records, names["triton"], shape).get("config")
        tl, tr = wins(ratios)
        label = f" ({track})" if track else ""
        for name, won, speedup in (("TileLang", tl, lambda r: r), ("Triton", tr, lambda r: 1 / r)):
            for shape, r in sorted(won, key=lambda sr: -speedup(sr[1]))[:MAX_WINS_SHOWN]:
                lines.append(f"- {op} {dtype}{label} {shape_str(shape)}: **{name} {speedup(r):.2f}x faster**: "
                             f"{evidence(records, track, shape, inspects)}")
    if len(lines) == 2:
        lines.append(f"No shape was won by more than {WIN - 1:.0%} by either DSL.")
    if compared:
        lines.append(f"\nBoth DSLs chose the same config on {same} of {compared} shapes.")
    return lines + [""]


def codegen_section(inspects):
    rows = []
    ok = [r for r in inspects if an.compiled(r)]
    for (op, dtype), records in an.by_group(ok).items():
        for arch in an.unique(r.get("arch") for r in records):
            for backend in an.backends(records):
                mine = [codegen(r) for r in records if r["backend"] == backend and r.get("arch") == arch]
                if not mine:
                    continue
                regs = [f["registers"] for f in mine if f["registers"] is not None]
                rows.append([op, dtype, arch, backend, len(mine), ", ".join(an.unique(f["MMA"] for f in mine)),
                             ", ".join(an.unique(f["loads"] for f in mine)),
                             ", ".join(map(str, an.unique(f["threads"] for f in mine))),
                             f"{statistics.median(regs):g}" if regs else "-", sum(f["spill bytes"] > 0 for f in mine)])
    if not rows:
        return []
    return ["### What each compiler makes of the same kernel (`dslbench inspect`)", ""] + table(
        ["op", "dtype", "arch", "backend", "configs", "MMA instructions", "loads", "threads", "median registers",
         "configs spilling"], rows)


def rate(counts):
    ran = counts["pass"] + counts["fail"] + counts["error"]
    return counts["pass"] / ran if ran else None


def group_answer(records, track):
    """(yes, reason) for one op, dtype and track under the stated rule; yes is None when not assessable."""
    ratios = an.speed_ratios(records, track)
    rates = {d: rate(an.status_counts(records, b)) for d, b in pair(track).items()}
    if not ratios or None in rates.values():
        return None, "not assessed (no shape where both DSLs ran and were timed)"
    gm = an.summary(ratios)[0]
    reasons = []
    if gm < PARITY:
        reasons.append(f"slower ({gm:.2f}x Triton's speed)")
    if rates["tilelang"] < rates["triton"]:
        reasons.append(f"passes {rates['tilelang']:.0%} of checks vs Triton's {rates['triton']:.0%}")
    if reasons:
        return False, "; ".join(reasons)
    return True, f"{gm:.2f}x Triton's speed, passes {rates['tilelang']:.0%} of checks (Triton {rates['triton']:.0%})"


def matched_note(records, headline):
    """What the matched track adds to a best-track answer: the gap with the code path held equal."""
    if headline != "best" or "matched" not in an.tracks(records):
        return ""
    ratios = an.speed_ratios(records, "matched")
    if not ratios:
        return "; matched track: not timed"
    return f"; matched track (same code path, so code generation alone): {an.summary(ratios)[0]:.2f}x"


def answer_gpu(groups):
    lines = [f"Rule: TileLang counts as an alternative for an op and dtype when, in the best track (each DSL's "
             f"best kernel; the matched track where an op has no best track yet), it passes at least the share of "
             f"checks Triton passes and its geometric-mean speed over shapes is at least {PARITY}x Triton's.", ""]
    results = {}
    for (op, dtype), records in groups.items():
        track = an.headline_track(records) or (an.tracks(records) or [None])[-1]
        yes, why = group_answer(records, track)
        results[f"{op} {dtype}" + (f" ({track} track)" if track else "")] = (yes, why + matched_note(records, track))
    assessed = {k: v for k, v in results.items() if v[0] is not None}
    yes = [k for k, v in assessed.items() if v[0]]
    word = "not assessed" if not assessed else "Yes" if len(yes) == len(assessed) else "No" if not yes else "Partly"
    met = f": TileLang meets the rule in {len(yes)} of {len(assessed)} op/dtype groups." if assessed else "."
    lines += [f"**{word}**{met}", ""]
    return lines + [f"- {k}: {'yes' if v[0] else 'no' if v[0] is False else '-'}: {v[1]}" for k, v in results.items()] + [""]


def users_section(groups, performance):
    """Users' own kernels (`--kernel`) beside ours: their checks, and on a GPU their speed over our
    best-track kernels and the fastest vendor baseline. They do not enter the answer above."""
    rows = []
    for (op, dtype), records in groups.items():
        for backend in an.users(records):
            mine = [r for r in records if r["backend"] == backend]
            over = [an.summary(an.backend_ratios(records, backend, an.dsl_backend(d, "best"))) for d in DSLS]
            vendor = an.summary([v for s in an.shapes(records) if (v := an.speed_vs_vendor(records, backend, s))])
            file = mine[0].get("kernel_file") or {}
            speeds = [x(o[0]) if o and performance else "-" for o in (*over, vendor)]
            rows.append([op, dtype, backend, mine[0].get("dsl") or "-", (file.get("sha256") or "-")[:12],
                         an.pass_rate(an.status_counts(records, backend)), *speeds])
    if not rows:
        return []
    lines = ["### Your own kernels", "", "Kernels given with `--kernel` (or by an installed package), checked and timed "
             "exactly as ours; they do not enter the TileLang-vs-Triton answer. Speed over ours: their median time "
             "over this kernel's, geometric mean over the shapes where both passed and were timed"
             + ("" if performance else " (none here: a CPU-path run has no speed)") + ".", ""]
    return lines + table(["op", "dtype", "backend", "DSL", "file sha256", "passed", "speed / Triton best",
                          "speed / TileLang best", "speed / vendor"], rows)


def compile_cost(inspects):
    """One sentence on the GPU compile cost from the inspect records, or None."""
    medians = inspect_compile_medians(inspects)
    if not medians:
        return None
    gm = an.summary([tl / tr for *_, tr, tl in medians])[0]
    return (f"compiling for {', '.join(an.unique(m[3] for m in medians))} takes TileLang {gm:.2f}x Triton's time "
            f"(geometric mean over {len(medians)} op/dtype/track groups, `dslbench inspect`)")


def answer_cpu(groups, sizes, inspects=()):
    totals = {d: {"pass": 0, "fail": 0, "error": 0, "skipped": 0} for d in DSLS}
    for records in groups.values():
        for backend in an.backends(records):
            dsl = an.split_backend(backend)[0]
            if dsl:
                for k, v in an.status_counts(records, backend).items():
                    totals[dsl][k] = totals[dsl].get(k, 0) + v
    rates = {d: rate(totals[d]) for d in DSLS}
    if None in rates.values():
        correct = "not assessed (a DSL ran no check)"
    else:
        word = "matches" if rates["tilelang"] >= rates["triton"] else "falls short of"
        correct = (f"TileLang {word} Triton: it passes {an.pass_rate(totals['tilelang'])} checks, "
                   f"Triton {an.pass_rate(totals['triton'])} (every track)")
    sized = [(s[pair(t)["tilelang"]], s[pair(t)["triton"]]) for s in sizes.values() for t in (*an.TRACKS, None)
             if s.get(pair(t)["tilelang"]) and s.get(pair(t)["triton"])]
    size = (f"its kernels are {sum(a for a, _ in sized) / sum(b for _, b in sized):.2f}x Triton's in lines of code"
            if sized else "code size not compared")
    cost = compile_cost(inspects) or "no GPU compile cost in this file (`dslbench inspect` measures it)"
    return [f"**Speed not assessed: CPU-path run.** On correctness {correct}; {size}; {cost}. Whether TileLang is a real "
            "alternative on speed needs a run on a GPU (`dslbench run` there, then `dslbench report`).", ""]


def section(groups, inspects, sizes, performance, out, findings=()):
    """The verdict's markdown lines and its plots; `findings`: the file's ledger records (else the
    checkout's ledger, marked as not checked)."""
    lines = ["## Verdict: is TileLang a real alternative to Triton?", ""]
    pngs = []
    carried = portability.finding(inspects)
    lines += [f"**Portability** (`dslbench inspect`, no GPU): {carried}", ""] if carried else []
    lines += ledger.verdict_line(list(findings))
    if not groups and not inspects:
        return lines + ["No case or compile records in this file: speed, correctness and compile cost are not "
                        "assessed.", ""], pngs
    if not groups:
        lines += ["No case records in this file: speed and correctness are not assessed. What the kernel "
                  "sources and the compiled code show:", ""]
        return lines + compile_section(groups, inspects, performance) + code_section(sizes) + codegen_section(inspects), pngs
    if not performance:
        lines += ["> **Not performance data.** This run used the CPU paths (Triton's interpreter, TileLang's C "
                  "backend); this verdict speaks only of correctness, code size and compile cost, not speed.", ""]
        lines += answer_cpu(groups, sizes, inspects)
    else:
        lines += answer_gpu(groups)
        speed, points = speed_section(groups)
        lines += speed
        if points:
            png = out / "speed_tilelang_vs_triton.png"
            plots.speed_ratio(png, points)
            pngs.append(png)
            lines += [f"![TileLang vs Triton]({png.name})", ""]
        lines += launch.verdict_lines(groups)
    lines += correctness_section(groups) + compile_section(groups, inspects, performance) + code_section(sizes)
    lines += users_section(groups, performance)
    if performance:
        lines += wins_section(groups, inspects)
    lines += codegen_section(inspects)
    return lines, pngs
