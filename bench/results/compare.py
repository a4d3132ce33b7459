"""dslbench compare BASE NEW: per matching case, NEW/BASE of the median time with a bootstrap
confidence interval, classified as regression, improvement or unchanged.

A change counts only when it is both significant (the interval excludes 1) and larger than
the threshold: noise alone is never flagged, and neither is a real but negligible change.

Drift between runs (a busy machine, another clock or temperature) moves every case alike, and a
bootstrap within each run cannot see it. So the cases whose code cannot have changed between
the runs serve as controls: the vendor baselines, when both runs used the same torch and CUDA.
Their median NEW/BASE ratio is the drift; a DSL case is judged by its ratio over the drift
(interval included), i.e. only when it moved relative to the controls. Without a control the
output says that between-run drift cannot be told apart from a change.
"""
import json
import statistics

from bench.core import records as rec
from bench.core.ops import is_user, shape_str, split_backend
from bench.core.table import render as render_table
from bench.results import stats
from bench.results.analysis import telemetry_flag

DEFAULT_THRESHOLD = 0.05
MIN_SAMPLES = 3  # below this a bootstrap of the median says nothing
# What must match for a ratio to measure the code and not the machine.
ENV_FIELDS = ("device_kind", "device_name", "compute_capability", "cuda", "driver",
              "python", "torch", "triton", "tilelang", "float32_matmul_precision")


def is_dsl(backend):
    return split_backend(backend)[0] is not None


def cases(records):
    """{case_key: record} of the case records (a record without kind is a case: schema 1)."""
    return {rec.case_key(r): r for r in records if r.get("kind", "case") == "case"}


def env_values(records, field):
    if field == "timing":
        return sorted({str(r.get("timing")) for r in records if r.get("time")})
    return sorted({str((r.get("env") or {}).get(field)) for r in records if r.get("kind", "case") == "case"})


def env_differences(base_records, new_records):
    """[(field, base values, new values)] for every environment field that differs."""
    out = []
    for field in (*ENV_FIELDS, "timing"):
        base, new = env_values(base_records, field), env_values(new_records, field)
        if base != new:
            out.append({"field": field, "base": base, "new": new})
    return out


def classify(ratio, ci, threshold):
    """(verdict, why) for a ratio NEW/BASE of median times and its confidence interval."""
    significant = ci[0] > 1 or ci[1] < 1
    if not significant:
        return "unchanged", "noise: interval includes 1"
    if ratio > 1 + threshold:
        return "regression", "slower, significant"
    if ratio < 1 / (1 + threshold):
        return "improvement", "faster, significant"
    return "unchanged", f"significant but within {threshold:.0%}"


def compare_case(base, new, threshold, drift=None):
    """One row: the case, both medians, the ratio with its interval, the verdict. With a drift
    (the controls' median ratio), the ratio and interval are judged divided by it."""
    row = {"op": new["op"], "backend": new["backend"], "dtype": new["dtype"], "shape": new["shape"],
           "seed": new.get("seed"), "base_status": base["status"], "new_status": new["status"],
           "base_median_ms": None, "new_median_ms": None, "ratio": None, "ci": None}
    if base["status"] == "pass" and new["status"] in ("fail", "error"):
        return {**row, "verdict": "regression", "why": f"passed, now {new['status']}: {new.get('reason', '')}"}
    if base["status"] in ("fail", "error") and new["status"] == "pass":
        return {**row, "verdict": "improvement", "why": f"was {base['status']}, now passes"}
    b, n = (base.get("time") or {}).get("samples_ms"), (new.get("time") or {}).get("samples_ms")
    if not b or not n:
        return {**row, "verdict": "not compared", "why": f"no timing ({base['status']} -> {new['status']})"}
    row.update(base_median_ms=base["time"]["median_ms"], new_median_ms=new["time"]["median_ms"])
    row["ratio"] = row["new_median_ms"] / row["base_median_ms"]
    if min(len(b), len(n)) < MIN_SAMPLES:
        return {**row, "verdict": "unchanged", "why": f"too few samples (< {MIN_SAMPLES})"}
    row["ci"] = stats.median_ratio_ci(b, n)
    if drift:
        row["relative_ratio"] = row["ratio"] / drift
        verdict, why = classify(row["relative_ratio"], [c / drift for c in row["ci"]], threshold)
        why += f"; relative to the controls' drift {drift:.3f}x"
    else:
        verdict, why = classify(row["ratio"], row["ci"], threshold)
    for flag, said in (("throttled", "GPU throttled"), ("power_capped", "at the GPU's power cap")):
        sides = [name for name, r in (("base", base), ("new", new)) if telemetry_flag(r, flag)]
        if sides:
            why += f"; {said} in {' and '.join(sides)}"
    return {**row, "verdict": verdict, "why": why}


def controls(base, new, base_records, new_records):
    """[case key] of the controls: vendor baselines timed and passing in both runs, when both
    ran the same torch and CUDA (else a vendor's code may have changed too: no control)."""
    same_vendor_code = all(env_values(base_records, f) == env_values(new_records, f) for f in ("torch", "cuda"))
    if not same_vendor_code:
        return []
    return [k for k in new if k in base and not is_dsl(new[k]["backend"]) and not is_user(new[k]["backend"])
            and new[k]["backend"] != "reference"
            and all((r.get("time") or {}).get("samples_ms") and r["status"] == "pass" for r in (base[k], new[k]))]


def drift_of(base, new, keys):
    """The controls' median NEW/BASE ratio and their range, or None without a control."""
    ratios = sorted(new[k]["time"]["median_ms"] / base[k]["time"]["median_ms"] for k in keys)
    if not ratios:
        return None
    return {"ratio": statistics.median(ratios), "low": ratios[0], "high": ratios[-1], "controls": len(ratios)}


def compare(base_records, new_records, threshold=DEFAULT_THRESHOLD):
    """Everything `dslbench compare` reports, as one JSON-able dict."""
    base, new = cases(base_records), cases(new_records)
    control = controls(base, new, base_records, new_records)
    drift = drift_of(base, new, control)
    rows = []
    for key in (k for k in new if k in base):
        if key in control:
            row = compare_case(base[key], new[key], threshold)
            rows.append({**row, "verdict": "control", "why": "a vendor baseline: measures the drift between runs"})
        else:
            rows.append(compare_case(base[key], new[key], threshold, drift and drift["ratio"]))
    verdicts = ("regression", "improvement", "unchanged", "not compared", "control")
    return {
        "threshold": threshold,
        "env_differences": env_differences(base_records, new_records),
        "commits": {"base": env_values(base_records, "git_commit"), "new": env_values(new_records, "git_commit")},
        "cpu_path": any(r.get("device") != "cuda" for r in (*base.values(), *new.values())),
        "drift": drift,
        "cases": rows,
        "only_in_base": [list(k) for k in base if k not in new],
        "only_in_new": [list(k) for k in new if k not in base],
        "summary": {v: sum(r["verdict"] == v for r in rows) for v in verdicts},
    }


def warnings(result):
    """The loud lines at the top: what makes the ratios mean something else than code changes."""
    lines = []
    if result["env_differences"]:
        lines.append("WARNING: BASE and NEW differ in environment; ratios mix machine and code changes:")
        lines += [f"WARNING:   {d['field']}: {', '.join(d['base'])} -> {', '.join(d['new'])}"
                  for d in result["env_differences"]]
    if result["cpu_path"]:
        lines.append("WARNING: CPU-path timings (interpreter, C backend): not performance")
    drift = result["drift"]
    if drift is None:
        lines.append("WARNING: no control case (a vendor baseline in both runs, same torch and CUDA): drift between "
                     "the runs cannot be told apart from a change")
    else:
        lines.append(f"drift between runs: {drift['ratio']:.3f}x (median NEW/BASE of {drift['controls']} vendor "
                     f"baseline(s), {drift['low']:.3f}-{drift['high']:.3f}x); DSL cases are judged relative to it")
    return lines


HEADER = ["op", "backend", "dtype", "shape", "base_ms", "new_ms", "new/base", "95% CI", "over drift", "verdict"]


def row_cells(r):
    def num(v, spec):
        return "-" if v is None else format(v, spec)
    ci = f"{r['ci'][0]:.3f}-{r['ci'][1]:.3f}" if r["ci"] else "-"
    return [r["op"], r["backend"], r["dtype"], shape_str(r["shape"]), num(r["base_median_ms"], ".4f"),
            num(r["new_median_ms"], ".4f"), num(r["ratio"], ".3f"), ci, num(r.get("relative_ratio"), ".3f"),
            f"{r['verdict']} ({r['why']})"]


def render(result, base_path, new_path):
    lines = [*warnings(result), f"base: {base_path} (commit {', '.join(result['commits']['base'])})",
             f"new:  {new_path} (commit {', '.join(result['commits']['new'])})",
             f"threshold: {result['threshold']:.1%}; 95% bootstrap intervals of the median ratio "
             f"({stats.BOOTSTRAP_RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED})", ""]
    if result["cases"]:
        lines.append(render_table(HEADER, [HEADER] + [row_cells(r) for r in result["cases"]]))
    else:
        lines.append("no case is in both runs")
    for side in ("only_in_base", "only_in_new"):
        if result[side]:
            lines.append(f"{len(result[side])} case(s) {side.replace('_', ' ')}: not compared")
    s = result["summary"]
    lines.append(", ".join(f"{n} {v}" for v, n in s.items()))
    return "\n".join(lines)


def run(base_path, new_path, threshold=DEFAULT_THRESHOLD, as_json=False, fail_on_regression=False):
    """The command: print the comparison; exit 1 on a regression when asked to."""
    result = compare(rec.load(base_path), rec.load(new_path), threshold)
    if as_json:
        print(json.dumps({"base": base_path, "new": new_path, **result}, indent=1))
    else:
        print(render(result, base_path, new_path))
    return 1 if fail_on_regression and result["summary"]["regression"] else 0
