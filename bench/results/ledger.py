"""The report's "What got in the way" section and the verdict's count of open findings per DSL.

From the finding records in the result file (`dslbench findings --out RUN.jsonl`: checked on the
run's own install); without them, from this checkout's ledger, marked as not checked against
the run's releases. A limit is not a bug: each row and each count says which."""
from bench.core import findings as entries
from bench.results.markdown import table

NAMES = entries.NAMES


def unchecked(ledger=None):
    """Records made from the checkout's ledger facts, status `not checked` (no reproducer run)."""
    try:
        found = ledger if ledger is not None else entries.ledger()
    except entries.LedgerError:
        return []
    return [{"kind": "finding", "finding": f.id, "dsl": f.dsl, "finding_kind": f.kind, "found_in": f.found_in,
             "title": f.title, "actual": f.actual, "workaround": list(f.workaround), "status": "not checked",
             "release": None} for f in found]


def section(records):
    """The markdown lines of "What got in the way"."""
    checked = bool(records)
    records = records or unchecked()
    if not records:
        return []
    releases = ", ".join(sorted({f"{r['dsl']} {r['release']}" for r in records if r.get("release")}))
    lines = ["## What got in the way: the DSL maturity ledger", "",
             "Every bug (wrong code, a crash, valid code refused) and limit (a feature missing) our kernels met, "
             "each with a reproducer in findings/ that needs no GPU (`dslbench findings`).", ""]
    if checked:
        lines += [f"Checked on this run's install ({releases}): `present` means the reproducer still shows it, "
                  "`fixed` that the workaround can go.", ""]
    else:
        lines += ["> Not checked against this run's releases: this file holds no finding records, so the ledger "
                  "below is this checkout's, as found (`dslbench findings --out RUN.jsonl` adds them).", ""]
    rows = [[NAMES[r["dsl"]], r["finding"], r["finding_kind"], r["found_in"], status(r), r["title"],
             ", ".join(f"`{w}`" for w in r.get("workaround") or []) or "-"] for r in records]
    return lines + table(["DSL", "finding", "bug or limit", "found in", "status here", "what goes wrong",
                          "our workaround"], rows)


def status(record):
    text = record["status"]
    if record.get("release") and text in ("present", "fixed"):
        text += f" ({record['release']})"
    return text + (f": {record['reason']}" if text.startswith(("error", "skipped")) and record.get("reason") else "")


def verdict_line(records):
    """One sentence for the verdict: the findings per DSL, open ones counted apart from limits."""
    checked = bool(records)
    records = records or unchecked()
    if not records:
        return []
    parts = []
    for dsl, c in entries.tally(records, ("present",) if checked else ("not checked",)).items():
        fixed = f" ({c['fixed']} more fixed since found)" if c["fixed"] else ""
        parts.append(f"{NAMES[dsl]} {c['bug']} bug{'s' * (c['bug'] != 1)} and {c['limit']} "
                     f"limit{'s' * (c['limit'] != 1)}{fixed}")
    if checked:
        releases = ", ".join(sorted({f"{r['dsl']} {r['release']}" for r in records if r.get("release")}))
        head = f"open on this run's install: {releases}"
    else:
        head = "recorded in this checkout's ledger, not checked against this run's releases"
    return [f"**What got in the way** ({head}): {'; '.join(parts)}. A bug is a cost a user pays in workarounds; "
            "a limit is a feature to wait for (the section above lists each, with ours).", ""]


def side_by_side(labels, runs):
    """The ledgers of several runs (other releases: Triton 3.6 vs 3.9), a column each, and whether a
    finding's status changed between them (`-`: a run that did not check it)."""
    rows = [[NAMES[r["dsl"]], r["finding"], r["finding_kind"], r["found_in"], *(s or "-" for s in states),
             {True: "yes", False: "no", None: "-"}[changed]] for r, states, changed in entries.side_by_side(runs)]
    return ["## What got in the way, run by run", "", "Each run's DSL maturity ledger (`dslbench findings --out`) "
            "on its own install; `changed` says whether a finding's status differs between the runs that checked "
            "it.", ""] + table(["DSL", "finding", "bug or limit", "found in", *labels, "changed"], rows)
