"""`dslbench findings`: the DSL maturity ledger on this install. Each finding's reproducer runs in a
fresh process; the table says, per finding, whether it is still present on the installed
release. A finding that turned `fixed` is printed loudly (its workaround can go) but is no
failure; a reproducer that breaks for another reason is (exit 1): CI runs this.

`--compare A.jsonl B.jsonl ...` puts ledgers written with `--out` side by side (Triton 3.6 vs 3.9
from a side environment: README, "What got in the way")."""
import json
import time

from bench.core.ops import UsageError
from bench.core.table import render
from bench.core import findings as entries

HEADER = ["dsl", "finding", "kind", "found in", "here", "status", "title"]
WIDTH = {"dsl": 8, "finding": 44, "kind": 5, "found in": 8, "here": 8, "status": 16}
OPEN = ("present",)


def cmd_findings(args):
    """Print (or --json) the ledger, append records to --out; exit 1 when a reproducer broke."""
    if args.compare:
        return compare(args.compare)
    try:
        chosen = entries.select(entries.ledger(), args.dsl, args.finding)
    except entries.LedgerError as exc:
        raise UsageError(str(exc)) from None
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs} must be >= 1")
    if args.list:
        return list_facts(chosen, args.json)
    return run(chosen, args)


def list_facts(chosen, as_json):
    """The facts alone, no reproducer run."""
    if as_json:
        print(json.dumps([{"finding": f.id, "dsl": f.dsl, "finding_kind": f.kind, "found_in": f.found_in,
                           "title": f.title, "workaround": list(f.workaround), "how": f.how} for f in chosen], indent=1))
        return 0
    header = HEADER[:4] + ["workaround"]
    print(render(header, [header] + [[f.dsl, f.id, f.kind, f.found_in, ", ".join(f.workaround) or "-"]
                                     for f in chosen], WIDTH))
    return 0


def run(chosen, args):
    from bench.core.records import append, clean
    from bench.ledger import check

    t0 = time.perf_counter()
    records = []
    if not args.json:
        print(f"the DSL maturity ledger: {len(chosen)} findings, each reproduced in a fresh process without a GPU, "
              f"{args.jobs or 'one per core'} at a time", flush=True)
        print(render(HEADER, [HEADER], WIDTH), flush=True)
    for record in check.run(chosen, args.jobs):
        records.append(record)
        if args.out:
            append(args.out, record)
        if not args.json:
            print(render(HEADER, [row(record)], WIDTH), flush=True)
    if args.json:
        print(json.dumps(clean(records), indent=1))
    else:
        print("\n".join(summary(records, time.perf_counter() - t0)))
    return 1 if any(r["status"] == "error" for r in records) else 0


def status_text(record):
    text = record["status"]
    return f"{text}: {record['reason']}" if record["status"] in ("skipped", "error") and record.get("reason") else text


def row(record):
    return [record["dsl"], record["finding"], record["finding_kind"], record["found_in"], record.get("release") or "-",
            status_text(record), record["title"]]


def open_text(records):
    """'Triton 4 (3 bugs, 1 limit), TileLang 9 (7 bugs, 2 limits)': the findings present per DSL checked."""
    ran = {r["dsl"] for r in records}
    return ", ".join(f"{entries.NAMES[d]} {c['bug'] + c['limit']} ({c['bug']} bug{'s' * (c['bug'] != 1)}, "
                     f"{c['limit']} limit{'s' * (c['limit'] != 1)})"
                     for d, c in entries.tally(records, OPEN).items() if d in ran)


def summary(records, seconds):
    """The closing lines: open findings per DSL, then each fixed one loudly, then the broken reproducers."""
    tally = {s: sum(r["status"] == s for r in records) for s in ("fixed", "skipped", "not reproduced", "error")}
    lines = [f"open on this install: {open_text(records)}; " + ", ".join(f"{n} {s}" for s, n in tally.items())
             + f" (in {seconds:.0f} s)"]
    for r in (r for r in records if r["status"] == "fixed"):
        where = (f"its workaround can go once no supported release has it: {', '.join(r['workaround'])}"
                 if r["workaround"] else "no workaround of ours depends on it")
        lines.append(f"FIXED on {r['dsl']} {r.get('release')}: {r['finding']} (found in {r['found_in']}): {r['title']}; "
                     f"{where}")
    lines += [f"ERROR: {r['finding']}: the reproducer broke: {r.get('reason')}" for r in records if r["status"] == "error"]
    return lines


def compare(paths):
    """Ledgers written with --out, side by side: a column per file, labelled by its DSL releases."""
    from bench.core.records import load

    runs = []
    for path in paths:
        found = [r for r in load(path) if r.get("kind") == "finding"]
        if not found:
            raise UsageError(f"{path}: holds no finding records (write them with `dslbench findings --out {path}`)")
        runs.append(found)
    labels = [label(found, path) for found, path in zip(runs, paths)]
    lined_up = entries.side_by_side(runs)
    header = ["dsl", "finding", "kind", "found in", *labels]
    rows = [[r["dsl"], r["finding"], r["finding_kind"], r["found_in"], *(s or "-" for s in states)]
            for r, states, _ in lined_up]
    print(render(header, [header] + rows, {**WIDTH, **{lab: max(16, len(lab)) for lab in labels}}))
    for r, states, changed in lined_up:  # a ledger that did not check a finding (--dsl) says nothing of it
        if changed:
            print(f"changed: {r['finding']}: " + " -> ".join(f"{s} ({lab})" for s, lab in zip(states, labels) if s))
    return 0


def label(records, path):
    """'triton 3.6.0, tilelang 0.1.15' of a ledger file (its records' releases), else its name."""
    releases = {}
    for r in records:
        releases.setdefault(r["dsl"], set()).add(r.get("release") or "?")
    text = ", ".join(f"{d} {'/'.join(sorted(v))}" for d, v in releases.items())
    return text or str(path)


def add_parser(sub):
    text = ("the DSL maturity ledger: every bug and limit our kernels met in Triton and TileLang, each reproduced "
            "without a GPU: present or fixed on this install, and its workaround")
    f = sub.add_parser("findings", help=text, description=text[0].upper() + text[1:] + ". A reproducer that breaks "
                       "(an error other than the finding) exits 1; a finding that turned fixed is printed loudly.")
    f.add_argument("--dsl", help="comma-separated: triton, tilelang (default: both)")
    f.add_argument("--finding", help="comma-separated finding ids (the file names in findings/, without .py)")
    f.add_argument("--list", action="store_true", help="the ledger's facts only: run no reproducer")
    f.add_argument("--jobs", type=int, help="reproducers at a time (default: one per core)")
    f.add_argument("--json", action="store_true", help="print one JSON list of records on stdout, nothing else")
    f.add_argument("--out", metavar="FILE.jsonl", help="append one JSON record per finding to FILE (a run file too: "
                   "its report then says what got in the way on that install)")
    f.add_argument("--compare", nargs="+", metavar="FILE.jsonl", help="put ledgers written with --out side by side "
                   "(another release, installed in a side environment); runs no reproducer")
    return f

