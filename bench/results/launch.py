"""The launch overhead of `dslbench report`: each backend's host time per call against the
GPU's, from the records' `launch` field (measured on a GPU by bench/run/timing.py's
launch_all; CPU records have none), a table per backend and per case, and the verdict's line."""
import statistics

from bench.core.ops import shape_str
from bench.results import analysis as an
from bench.results.markdown import num, table

EXPLAIN = ("Each kernel called N times back to back, L2 warm. `device`: the GPU's time per call with all N queued "
           "ahead of it (behind a busy-wait kernel), so it never waits for the host; `host`: the host's time to "
           "issue one call (the DSL's launcher and the Python around it); `wall`: the time per call of a plain loop "
           "of them; `overhead` = wall - device, what such a loop loses per call to the host. Decode-sized kernels "
           "live or die by it; CUDA graphs remove it. A kernel slow enough that its host time hides behind the GPU's "
           "is not measured (the threshold is in its record's skip).")


def measured(record):
    """The record's launch measurement when it has a device time, else None."""
    launch = record.get("launch") or {}
    return launch if launch.get("device_us_per_call") is not None else None


def not_measured(record):
    """Why a record with a launch field has no measurement (skipped, error, no device time), or None."""
    launch = record.get("launch")
    if not launch or measured(record):
        return None
    return launch.get("skipped") or launch.get("error") or launch.get("reason") or "no measurement"


def case_rows(groups):
    rows = []
    for (op, dtype), records in groups.items():
        for r in records:
            m = measured(r)
            if m:
                rows.append([op, dtype, shape_str(r["shape"]), r["backend"], m["calls"],
                             *(num(m.get(k), ".3g") for k in ("device_us_per_call", "host_us_per_call",
                                                              "wall_us_per_call", "host_overhead_us"))])
    return rows


def backend_rows(groups):
    per = {}
    for records in groups.values():
        for r in records:
            if measured(r):
                per.setdefault(r["backend"], []).append(r["launch"])
    return [[b, len(ms), num(statistics.median(m["host_us_per_call"] for m in ms), ".3g"),
             num(statistics.median(m["host_overhead_us"] for m in ms), ".3g"),
             f"{num(min(m['host_us_per_call'] for m in ms), '.3g')}-{num(max(m['host_us_per_call'] for m in ms), '.3g')}"]
            for b, ms in sorted(per.items())]


def section(groups, listed=6):
    """The report's launch-overhead section; [] when no record has a launch field (a CPU run)."""
    rows = case_rows(groups)
    missing = [(r, why) for records in groups.values() for r in records if (why := not_measured(r))]
    if not rows and not missing:
        return []
    lines = ["## Launch overhead (host time per call)", "", EXPLAIN, ""]
    if rows:
        lines += ["Per backend, the median over its measured cases (microseconds):", ""]
        lines += table(["backend", "cases", "host us/call", "overhead us/call", "host min-max"], backend_rows(groups))
        lines += table(["op", "dtype", "shape", "backend", "calls", "device us/call", "host us/call", "wall us/call",
                        "overhead us/call"], rows)
    if missing:
        shown = "; ".join(f"{r['backend']} {shape_str(r['shape'])}: {why}" for r, why in missing[:listed])
        more = f"; and {len(missing) - listed} more" if len(missing) > listed else ""
        lines += [f"{len(missing)} case(s) not measured: {shown}{more}.", ""]
    return lines


def host_ratios(records, track):
    """[(TileLang's launch, Triton's launch)] per shape of one track where both were measured."""
    pairs = [[measured(an.find(records, an.dsl_backend(d, track), shape) or {}) for d in ("tilelang", "triton")]
             for shape in an.shapes(records)]
    return [tuple(p) for p in pairs if all(p)]


def verdict_lines(groups):
    """The verdict's launch overhead: per track, TileLang's host time per call over Triton's."""
    per_track = {}
    for records in groups.values():
        for track in an.tracks(records):
            per_track.setdefault(track, []).extend(host_ratios(records, track))
    found = {t: pairs for t, pairs in per_track.items() if pairs}
    if not found:
        return []
    lines = ["### Launch overhead", ""]
    for track, pairs in found.items():
        gm = an.summary([(None, tl["host_us_per_call"] / tr["host_us_per_call"]) for tl, tr in pairs])[0]
        host, lost = ([num(statistics.median(p[i][key] for p in pairs), ".3g") for i in (0, 1)]
                      for key in ("host_us_per_call", "host_overhead_us"))
        lines.append(f"- {track or 'untracked'} track: TileLang's host time per call is {gm:.2f}x Triton's (geometric "
                     f"mean over {len(pairs)} shape(s) both measured; medians {host[0]} vs {host[1]} us); a "
                     f"back-to-back loop loses {lost[0]} vs {lost[1]} us per call to the host.")
    return lines + [""]
