"""Questions asked of a run's records by `report` and its verdict: groups, times, ratios, counts."""
from bench.results import stats
from bench.core.ops import DSLS

NOT_VENDOR = (*DSLS, "reference")


def split(records):
    """(case records, machine records, inspect records); a record without kind is a case."""
    kinds = {"case": [], "machine": [], "inspect": []}
    for r in records:
        kinds.setdefault(r.get("kind", "case"), []).append(r)
    return kinds["case"], kinds["machine"], kinds["inspect"]


def compiled(inspect_record):
    """An inspect record whose kernel compiled (`dslbench inspect` says "compiled", or "error")."""
    return inspect_record.get("status", "compiled") in ("compiled", "pass")


def is_performance(cases):
    """True when every case ran on a GPU: only then are times performance."""
    return bool(cases) and all(r.get("device") == "cuda" for r in cases)


def by_group(records):
    """{(op, dtype): [records]}, in first-seen order."""
    out = {}
    for r in records:
        out.setdefault((r["op"], r["dtype"]), []).append(r)
    return out


def unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def shapes(records):
    return unique(r["shape"] for r in records)


def backends(records):
    return unique(r["backend"] for r in records)


def vendors(records):
    return [b for b in backends(records) if b not in NOT_VENDOR]


def find(records, backend, shape):
    return next((r for r in records if r["backend"] == backend and r["shape"] == shape), None)


def median_ms(record):
    """The median time of a passing, timed case; None otherwise (a wrong kernel has no speed)."""
    if not record or record.get("status") != "pass":
        return None
    return (record.get("time") or {}).get("median_ms") or None


def fastest_vendor(records, shape):
    """(name, median_ms) of the fastest vendor baseline timed on this shape, or None."""
    timed = [(b, median_ms(find(records, b, shape))) for b in vendors(records)]
    timed = [(b, t) for b, t in timed if t]
    return min(timed, key=lambda bt: bt[1]) if timed else None


def speed_vs_vendor(records, backend, shape):
    """Speed of `backend` over the fastest vendor baseline (vendor time / its time)."""
    vendor, mine = fastest_vendor(records, shape), median_ms(find(records, backend, shape))
    return vendor[1] / mine if vendor and mine else None


def speed_ratios(records, faster="tilelang", than="triton"):
    """[(shape, speed of `faster` / speed of `than`)] over shapes where both passed and were timed."""
    out = []
    for shape in shapes(records):
        a, b = median_ms(find(records, faster, shape)), median_ms(find(records, than, shape))
        if a and b:
            out.append((shape, b / a))
    return out


def summary(ratios):
    """Geometric mean and (min, max) of ratios, or None."""
    values = [r for _, r in ratios] if ratios and isinstance(ratios[0], tuple) else list(ratios)
    return (stats.geomean(values), stats.spread(values)) if values else None


def status_counts(records, backend):
    counts = {"pass": 0, "fail": 0, "error": 0, "skipped": 0}
    for r in records:
        if r["backend"] == backend:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def pass_rate(counts):
    """'p/n' over the cases that ran (skipped ones did not), or '-'."""
    ran = counts["pass"] + counts["fail"] + counts["error"]
    return f"{counts['pass']}/{ran}" if ran else "-"


def config_text(config):
    """A compact config: block_M=128 -> M=128, num_stages=3 -> stages=3."""
    if not config:
        return "-"
    short = {k: k.removeprefix("block_").removeprefix("num_") for k in config}
    return ",".join(f"{short[k]}={v}" for k, v in config.items())
