"""The verdict of `dslbench report`: is TileLang a real alternative to Triton?

Every number and every sentence here is computed from the run's records; the rule that turns
them into an answer is printed with it. A CPU-path run says nothing about speed: its verdict
covers correctness, code size and compile cost only.
"""
import statistics

from bench.results import analysis as an
from bench.results import plots
from bench.results.markdown import table
from bench.core.ops import shape_str

PARITY = 0.9  # TileLang at >= 0.9x Triton's speed (geometric mean over shapes) counts as on par
WIN = 1.05  # a shape is won by the DSL that is faster by more than 5%
MAX_WINS_SHOWN = 3  # per DSL and group: the largest wins, with their evidence
MMA = ("HGMMA", "QGMMA", "HMMA", "IMMA")


def x(value):
    return "-" if value is None else f"{value:.2f}x"


def wins(ratios):
    """(shapes TileLang wins, shapes Triton wins), each by more than WIN."""
    return [r for r in ratios if r[1] > WIN], [r for r in ratios if r[1] < 1 / WIN]


def speed_section(groups):
    rows, points = [], {}
    for (op, dtype), records in groups.items():
        ratios = an.speed_ratios(records)
        if not ratios:
            continue
        gm, (low, high) = an.summary(ratios)
        tl, tr = wins(ratios)
        vendor = [an.summary([v for s in an.shapes(records) if (v := an.speed_vs_vendor(records, d, s))]) for d in an.DSLS]
        rows.append([op, dtype, len(ratios), x(gm), f"{x(low)}-{x(high)}", len(tl), len(tr),
                     *(x(v[0]) if v else "-" for v in vendor)])
        points[f"{op} {dtype}"] = [r for _, r in ratios]
    lines = ["### Speed", "", "TileLang speed / Triton speed = Triton's median time / TileLang's, per shape where both "
             f"passed; geometric mean over shapes, and its range. A shape is won by more than {WIN - 1:.0%}.", ""]
    if not rows:
        return lines + ["No shape where both DSLs passed and were timed.", ""], points
    lines += table(["op", "dtype", "shapes", "TileLang / Triton (geomean)", "range", "TileLang wins", "Triton wins",
                    "Triton / vendor", "TileLang / vendor"], rows)
    return lines, points


def correctness_section(groups):
    rows, split = [], []
    for (op, dtype), records in groups.items():
        counts = {d: an.status_counts(records, d) for d in an.DSLS}
        for shape in an.shapes(records):
            status = {d: (an.find(records, d, shape) or {}).get("status") for d in an.DSLS}
            if sorted(s for s in status.values() if s in ("pass", "fail", "error")) in (["error", "pass"], ["fail", "pass"]):
                split.append(f"- {op} {dtype} {shape_str(shape)}: Triton {status['triton']}, TileLang {status['tilelang']}")
        rows.append([op, dtype, *(an.pass_rate(counts[d]) for d in an.DSLS),
                     *(counts[d]["skipped"] for d in an.DSLS)])
    lines = ["### Correctness", "", "Checks passed over checks run (skipped cases did not run).", ""]
    lines += table(["op", "dtype", "Triton passed", "TileLang passed", "Triton skipped", "TileLang skipped"], rows)
    return lines + (["Cases where one DSL passes and the other does not:", *split, ""] if split else [])


def compile_rows(groups):
    rows = []
    for (op, dtype), records in groups.items():
        def values(key, d):
            return [r[key] for r in records if r["backend"] == d and r.get(key) is not None]
        med = {d: values("compile_ms", d) for d in an.DSLS}
        if not all(med.values()):
            continue
        m = {d: statistics.median(v) for d, v in med.items()}
        tune = [values("autotune_ms", d) for d in an.DSLS]
        rows.append([op, dtype, f"{m['triton']:.0f}", f"{m['tilelang']:.0f}",
                     x(m["tilelang"] / m["triton"] if m["triton"] else None),
                     *(f"{statistics.median(t):.0f}" if any(t) else "-" for t in tune)])
    return rows


def inspect_compile_medians(inspects):
    """[(op, dtype, arch, Triton ms, TileLang ms)]: median compile time over configs, per DSL."""
    out = []
    for (op, dtype), records in an.by_group([r for r in inspects if an.compiled(r)]).items():
        for arch in an.unique(r.get("arch") for r in records):
            med = {d: [r["compile_ms"] for r in records
                       if r["backend"] == d and r.get("arch") == arch and r.get("compile_ms")] for d in an.DSLS}
            if all(med.values()):
                out.append((op, dtype, arch, statistics.median(med["triton"]), statistics.median(med["tilelang"])))
    return out


def compile_section(groups, inspects, performance):
    lines = ["### Compile and tuning cost", ""]
    rows = compile_rows(groups)
    if performance and rows:
        lines += ["Median over shapes, ms, on this run's GPU (cold caches):", ""]
        lines += table(["op", "dtype", "Triton compile", "TileLang compile", "TileLang / Triton",
                        "Triton autotune", "TileLang autotune"], rows)
    elif rows:
        lines += ["CPU-path preparation times (Triton's interpreter generates no code; TileLang compiles C): "
                  "not a GPU compile cost.", ""]
        lines += table(["op", "dtype", "Triton ms", "TileLang ms", "TileLang / Triton"], [r[:5] for r in rows])
    inspected = [[op, dtype, arch, f"{tr:.0f}", f"{tl:.0f}", x(tl / tr)]
                 for op, dtype, arch, tr, tl in inspect_compile_medians(inspects)]
    if inspected:
        lines += ["Compile for the GPU arch without a GPU (`dslbench inspect`, cold; median over configs, ms):", ""]
        lines += table(["op", "dtype", "arch", "Triton", "TileLang", "TileLang / Triton"], inspected)
    elif not performance:
        lines += ["No `dslbench inspect` records in this file: no GPU compile cost to report.", ""]
    return lines


def code_section(sizes):
    both = {op: s for op, s in sizes.items() if s.get("triton") and s.get("tilelang")}
    if not both:
        return []
    total = {d: sum(s[d] for s in both.values()) for d in an.DSLS}
    per_op = "; ".join(f"{op} {s['tilelang']} vs {s['triton']}" for op, s in both.items())
    return ["### Code size", "", f"TileLang kernels take {total['tilelang']} lines against Triton's {total['triton']} "
            f"({total['tilelang'] / total['triton']:.2f}x) over {len(both)} op(s): {per_op} (TileLang vs Triton).", ""]


def inspect_for(inspects, op, dtype, backend, config):
    """The inspect record of this DSL's chosen config, if the file has one that compiled."""
    return next((r for r in inspects if (r["op"], r["dtype"], r["backend"]) == (op, dtype, backend)
                 and r.get("config") == config and an.compiled(r)), None)


def codegen(record):
    """What a compiled kernel is made of, in a few comparable facts."""
    m = record.get("metrics") or {}
    sass = m.get("sass") or {}
    return {
        "registers": m.get("registers"),
        "spill bytes": (m.get("spill_store_bytes") or 0) + (m.get("spill_load_bytes") or 0),
        "shared KiB": round(m["smem_bytes"] / 1024) if m.get("smem_bytes") is not None else None,
        "MMA": "+".join(o for o in MMA if sass.get(o)) or "none",
        "loads": "TMA" if sass.get("UTMALDG") else "cp.async" if sass.get("LDGSTS") else "plain",
    }


def codegen_difference(tilelang, triton):
    a, b = codegen(tilelang), codegen(triton)
    differ = [f"{k} {a[k]} vs {b[k]}" for k in a if a[k] != b[k]]
    return ", ".join(differ) if differ else "same registers, spills, shared memory, MMA and load path"


def evidence(records, shape, inspects):
    """Why a shape went the way it did, as far as the records show: time, configs, roofline, code."""
    tl, tr = an.find(records, "tilelang", shape), an.find(records, "triton", shape)
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
    a = inspect_for(inspects, tl["op"], tl["dtype"], "tilelang", tl.get("config"))
    b = inspect_for(inspects, tr["op"], tr["dtype"], "triton", tr.get("config"))
    if a and b:
        at = f" at {shape_str(a['shape'])}" if a.get("shape") and a["shape"] != shape else ""
        parts.append(f"compiled for {a.get('arch', '?')}{at} (TileLang vs Triton): {codegen_difference(a, b)}")
    return "; ".join(parts)


def wins_section(groups, inspects):
    lines, same, compared = ["### Where each DSL wins, and the evidence", ""], 0, 0
    for (op, dtype), records in groups.items():
        ratios = an.speed_ratios(records)
        for shape, _ in ratios:
            compared += 1
            same += an.find(records, "tilelang", shape).get("config") == an.find(records, "triton", shape).get("config")
        tl, tr = wins(ratios)
        for name, won, speedup in (("TileLang", tl, lambda r: r), ("Triton", tr, lambda r: 1 / r)):
            for shape, r in sorted(won, key=lambda sr: -speedup(sr[1]))[:MAX_WINS_SHOWN]:
                lines.append(f"- {op} {dtype} {shape_str(shape)}: **{name} {speedup(r):.2f}x faster**: "
                             f"{evidence(records, shape, inspects)}")
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
            for dsl in an.DSLS:
                mine = [codegen(r) for r in records if r["backend"] == dsl and r.get("arch") == arch]
                if not mine:
                    continue
                regs = [f["registers"] for f in mine if f["registers"] is not None]
                rows.append([op, dtype, arch, dsl, len(mine), ", ".join(an.unique(f["MMA"] for f in mine)),
                             ", ".join(an.unique(f["loads"] for f in mine)), f"{statistics.median(regs):g}" if regs else "-",
                             sum(f["spill bytes"] > 0 for f in mine)])
    if not rows:
        return []
    return ["### What each compiler makes of the same kernel (`dslbench inspect`)", ""] + table(
        ["op", "dtype", "arch", "DSL", "configs", "MMA instructions", "loads", "median registers", "configs spilling"], rows)


def rate(counts):
    ran = counts["pass"] + counts["fail"] + counts["error"]
    return counts["pass"] / ran if ran else None


def group_answer(records):
    """(yes, reason) for one op and dtype under the stated rule; yes is None when not assessable."""
    ratios = an.speed_ratios(records)
    rates = {d: rate(an.status_counts(records, d)) for d in an.DSLS}
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


def answer_gpu(groups):
    lines = [f"Rule: TileLang counts as an alternative for an op and dtype when it passes at least the share of "
             f"checks Triton passes and its geometric-mean speed over shapes is at least {PARITY}x Triton's.", ""]
    results = {f"{op} {dtype}": group_answer(records) for (op, dtype), records in groups.items()}
    assessed = {k: v for k, v in results.items() if v[0] is not None}
    yes = [k for k, v in assessed.items() if v[0]]
    word = "not assessed" if not assessed else "Yes" if len(yes) == len(assessed) else "No" if not yes else "Partly"
    met = f": TileLang meets the rule in {len(yes)} of {len(assessed)} op/dtype groups." if assessed else "."
    lines += [f"**{word}**{met}", ""]
    return lines + [f"- {k}: {'yes' if v[0] else 'no' if v[0] is False else '-'}: {v[1]}" for k, v in results.items()] + [""]


def compile_cost(inspects):
    """One sentence on the GPU compile cost from the inspect records, or None."""
    medians = inspect_compile_medians(inspects)
    if not medians:
        return None
    gm = an.summary([tl / tr for _, _, _, tr, tl in medians])[0]
    return (f"compiling for {', '.join(an.unique(m[2] for m in medians))} takes TileLang {gm:.2f}x Triton's time "
            f"(geometric mean over {len(medians)} op/dtype groups, `dslbench inspect`)")


def answer_cpu(groups, sizes, inspects=()):
    totals = {d: {"pass": 0, "fail": 0, "error": 0, "skipped": 0} for d in an.DSLS}
    for records in groups.values():
        for d in an.DSLS:
            for k, v in an.status_counts(records, d).items():
                totals[d][k] = totals[d].get(k, 0) + v
    rates = {d: rate(totals[d]) for d in an.DSLS}
    if None in rates.values():
        correct = "not assessed (a DSL ran no check)"
    else:
        word = "matches" if rates["tilelang"] >= rates["triton"] else "falls short of"
        correct = (f"TileLang {word} Triton: it passes {an.pass_rate(totals['tilelang'])} checks, "
                   f"Triton {an.pass_rate(totals['triton'])}")
    both = [s for s in sizes.values() if s.get("triton") and s.get("tilelang")]
    size = (f"its kernels are {sum(s['tilelang'] for s in both) / sum(s['triton'] for s in both):.2f}x "
            f"Triton's in lines of code" if both else "code size not compared")
    cost = compile_cost(inspects) or "no GPU compile cost in this file (`dslbench inspect` measures it)"
    return [f"**Speed not assessed: CPU-path run.** On correctness {correct}; {size}; {cost}. Whether TileLang is a real "
            "alternative on speed needs a run on a GPU (`dslbench run` there, then `dslbench report`).", ""]


def section(groups, inspects, sizes, performance, out):
    """The verdict's markdown lines and its plots."""
    lines = ["## Verdict: is TileLang a real alternative to Triton?", ""]
    pngs = []
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
    lines += correctness_section(groups) + compile_section(groups, inspects, performance) + code_section(sizes)
    if performance:
        lines += wins_section(groups, inspects)
    lines += codegen_section(inspects)
    return lines, pngs
