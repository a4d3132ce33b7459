"""Plain-text tables of records for the terminal."""
from bench.core.ops import shape_str


def fmt(value, spec=".2e"):
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def status(record):
    text = record["status"]
    if record["status"] in ("skipped", "error", "fail") and record.get("reason"):
        text += f": {record['reason']}"
    if record.get("emulated"):
        text += " (emulated)"
    return text


def check_row(r):
    return [r["op"], r["backend"], r["dtype"], shape_str(r["shape"]), fmt(r.get("max_abs_err")),
            fmt(r.get("rel_err")), rel_tolerance(r.get("tolerance")), status(r)]


def rel_tolerance(tol):
    """The normwise tolerance; one per output, each named, for ops with several (o 1e-02, lse 1e-04)."""
    if not tol:
        return "-"
    if "rel" in tol:
        return fmt(tol["rel"], ".0e")
    return ", ".join(f"{name} {fmt(t['rel'] if isinstance(t, dict) else t[0], '.0e')}" for name, t in tol.items())


CHECK_HEADER = ["op", "backend", "dtype", "shape", "max_abs_err", "rel_err", "rel_tol", "status"]


def run_row(r):
    t = r.get("time") or {}
    spread = f"{fmt(t.get('p10_ms'), '.3f')}-{fmt(t.get('p90_ms'), '.3f')}" if t else "-"
    return check_row(r)[:-1] + [fmt(r.get("compile_ms"), ".0f"), fmt(t.get("median_ms"), ".3f"), spread,
                                fmt(r.get("tflops"), ".2f"), status(r)]


RUN_HEADER = CHECK_HEADER[:-1] + ["compile_ms", "median_ms", "p10-p90_ms", "TFLOP/s", "status"]




WIDTH = {"op": 10, "backend": 16, "dtype": 5, "shape": 44, "rel_tol": 18, "status": 0}


def render(header, rows, at_least=None):
    """Rows under a header, in columns wide enough for the usual cases (so rows printed
    one at a time, as cases finish, still line up); at_least: {column: width} wider where a run
    knows it needs it (a user kernel's long backend name)."""
    widths = {h: max(WIDTH.get(h, 11), (at_least or {}).get(h, 0)) for h in header}

    def line(cells):
        return "  ".join(str(c).ljust(widths[h]) for h, c in zip(header, cells)).rstrip()
    return "\n".join(line(r) for r in rows)
