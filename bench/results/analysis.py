"""Questions asked of a run's records by `report` and its verdict: groups, times, ratios, counts."""
from bench.core.ops import DSLS, TRACKS, backend_name, is_user, split_backend
from bench.results import stats


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


def telemetry_flag(record, flag):
    """A GPU case's telemetry flag: `throttled` (a thermal or hardware slowdown) or, apart,
    `power_capped` (the software power cap); False when the record has no telemetry."""
    return bool((record.get("telemetry") or {}).get(flag))


def by_group(records):
    """{(op, dtype): [records]}, in first-seen order. A case of a shape class its op names
    (attention's `decode`) is a group of its own: (`attention decode`, dtype)."""
    out = {}
    for r in records:
        op = f"{r['op']} {r['shape_class']}" if r.get("shape_class") else r["op"]
        out.setdefault((op, r["dtype"]), []).append(r)
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


def is_dsl(backend):
    """A DSL backend (triton-matched, tilelang-best, or a bare DSL name from before tracks)."""
    return split_backend(backend)[0] is not None


def vendors(records):
    """The vendor baselines among the backends (not ours, not a user's kernel, not the reference)."""
    return [b for b in backends(records) if not is_dsl(b) and not is_user(b) and b != "reference"]


def users(records):
    """The users' own kernels among the backends (user:<name>, bench/core/user.py)."""
    return [b for b in backends(records) if is_user(b)]


def dsl_backend(dsl, track):
    """The backend of a DSL in a track; track None: the bare name of records before tracks."""
    return backend_name(dsl, track) if track else dsl


def tracks(records):
    """The tracks the DSL backends of these records come in: matched, best (in that order),
    then None for records written before tracks."""
    present = {split_backend(b)[1] for b in backends(records) if is_dsl(b)}
    return [t for t in (*TRACKS, None) if t in present]


def track_label(track):
    return f"{track} track" if track else "no track (an older record)"


def headline_track(records):
    """The track whose TileLang/Triton ratio answers 'which DSL is faster': best where both DSLs
    were timed in it, else matched (else the old untracked pair)."""
    timed = [t for t in tracks(records) if speed_ratios(records, t)]
    return "best" if "best" in timed else (timed[0] if timed else None)


def find(records, backend, shape):
    return next((r for r in records if r["backend"] == backend and r["shape"] == shape), None)


def median_ms(record):
    """The median time of a passing, timed case; None otherwise (a wrong kernel has no speed, and
    neither has one whose work the timed stream did not wait for: stream_disagrees)."""
    if not record or record.get("status") != "pass" or stream_disagrees(record):
        return None
    return (record.get("time") or {}).get("median_ms") or None


def stream_disagrees(record):
    """A GPU case whose device time disagreed with its stream's (bench/run/timing.py: the stream
    check): work left running on another stream when the timed one was done."""
    return (record.get("stream_check") or {}).get("agree") is False


def fastest_vendor(records, shape):
    """(name, median_ms) of the fastest vendor baseline timed on this shape, or None."""
    timed = [(b, median_ms(find(records, b, shape))) for b in vendors(records)]
    timed = [(b, t) for b, t in timed if t]
    return min(timed, key=lambda bt: bt[1]) if timed else None


def speed_vs_vendor(records, backend, shape):
    """Speed of `backend` over the fastest vendor baseline (vendor time / its time)."""
    vendor, mine = fastest_vendor(records, shape), median_ms(find(records, backend, shape))
    return vendor[1] / mine if vendor and mine else None


def speed_ratios(records, track, faster="tilelang", than="triton"):
    """[(shape, speed of DSL `faster` / speed of DSL `than`)] in one track, over shapes where
    both passed and were timed."""
    return backend_ratios(records, dsl_backend(faster, track), dsl_backend(than, track))


def backend_ratios(records, faster, than):
    """[(shape, speed of backend `faster` / speed of backend `than`)] over shapes where both passed
    and were timed."""
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
    """A tile config in words, not in a shape's notation: block 128×256×64, 3 stages, 256 threads
    (other fields as name value: chunk_N 512)."""
    if not config:
        return "-"
    blocks = [str(v) for k, v in config.items() if k.startswith("block_")]
    words = {"num_stages": "stages", "threads": "threads"}
    parts = [f"block {'×'.join(blocks)}"] if blocks else []
    parts += [f"{v} {words[k]}" if k in words else f"{k} {v}" for k, v in config.items() if not k.startswith("block_")]
    return ", ".join(parts)
