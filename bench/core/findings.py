"""The findings of the ledger as facts: each findings/<id>.py read with `ast`, never imported
(listing the ledger needs neither DSL). A file off the convention (findings/__init__.py) is a
one-line LedgerError naming the file and what it lacks."""
import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

DSLS = ("triton", "tilelang")
NAMES = {"triton": "Triton", "tilelang": "TileLang"}
KINDS = ("bug", "limit")
REQUIRED = ("DSL", "FOUND_IN", "KIND", "TITLE", "EXPECTED", "ACTUAL", "WORKAROUND", "HOW")
MARK = "finding: findings/"  # how a workaround in kernels/ names its finding: `# finding: findings/<id>.py`


class LedgerError(Exception):
    """A finding file that does not follow the convention: one line."""


@dataclass(frozen=True)
class Finding:
    id: str  # the file's stem
    path: Path
    dsl: str
    found_in: str
    kind: str  # bug or limit
    title: str
    expected: str
    actual: str
    workaround: tuple  # ("kernels/<op>/<file>.py:<name>", ...)
    how: str
    env: dict
    not_reproducible: str | None  # why, when the file has no reproduce()

    @property
    def workaround_files(self):
        return tuple(dict.fromkeys(w.partition(":")[0] for w in self.workaround))


def folder():
    """findings/ (a package, so an installed dslbench has it too)."""
    spec = importlib.util.find_spec("findings")
    if spec is None or not spec.origin:
        raise LedgerError("the findings package is not importable: install dslbench (pip install -e .)")
    return Path(spec.origin).parent


def read(path):
    """The Finding of one file, or LedgerError."""
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError) as exc:
        raise LedgerError(f"{path.name}: cannot be read: {exc}") from None
    facts, functions = {}, set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                facts[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass  # not a literal: not a fact
        elif isinstance(node, ast.FunctionDef):
            functions.add(node.name)
    return finding_of(path, facts, functions)


def finding_of(path, facts, functions):
    name = path.name
    lacking = [k for k in REQUIRED if k not in facts]
    if lacking:
        raise LedgerError(f"{name}: lacks {', '.join(lacking)} (a literal at module level; see findings/__init__.py)")
    if facts["DSL"] not in DSLS:
        raise LedgerError(f"{name}: DSL {facts['DSL']!r} is not one of {', '.join(DSLS)}")
    if facts["KIND"] not in KINDS:
        raise LedgerError(f"{name}: KIND {facts['KIND']!r} is not one of {', '.join(KINDS)}")
    workaround = facts["WORKAROUND"]
    if not isinstance(workaround, (list, tuple)) or not all(isinstance(w, str) and ":" in w for w in workaround):
        raise LedgerError(f"{name}: WORKAROUND must be a list of 'kernels/<op>/<file>.py:<name>'")
    why = facts.get("NOT_REPRODUCIBLE")
    if ("reproduce" in functions) == bool(why):
        raise LedgerError(f"{name}: needs a reproduce() function, or NOT_REPRODUCIBLE = 'why' instead (not both)")
    return Finding(path.stem, path, facts["DSL"], str(facts["FOUND_IN"]), facts["KIND"], facts["TITLE"],
                   facts["EXPECTED"], facts["ACTUAL"], tuple(workaround), facts["HOW"], dict(facts.get("ENV") or {}),
                   why)


def ledger(where=None):
    """Every finding, by DSL then id."""
    paths = sorted(p for p in Path(where or folder()).glob("*.py") if not p.name.startswith("_"))
    return sorted((read(p) for p in paths), key=lambda f: (DSLS.index(f.dsl), f.id))


def select(findings, dsl_text=None, id_text=None):
    """The findings named by --dsl and --finding (comma lists); an unknown name is a UsageError."""
    from bench.core.ops import parse_list

    dsls = parse_list(dsl_text, list(DSLS), "dsl")
    ids = parse_list(id_text, [f.id for f in findings], "finding")
    return [f for f in findings if f.dsl in dsls and f.id in ids]


def tally(records, open_statuses=("present",)):
    """{dsl: {"bug": n, "limit": n, "fixed": n}}: per DSL, the findings open (a status in
    `open_statuses`) by kind, and those fixed, from finding records."""
    out = {d: {**{k: 0 for k in KINDS}, "fixed": 0} for d in DSLS}
    for r in records:
        if r["status"] in open_statuses:
            out[r["dsl"]][r["finding_kind"]] += 1
        elif r["status"] == "fixed":
            out[r["dsl"]]["fixed"] += 1
    return out


def side_by_side(runs):
    """The ledgers of several runs (lists of finding records) lined up: [(a record of the finding,
    [its status in each run, None where that run did not check it], changed)], changed being
    whether the status differs between the runs that checked it (None when fewer than two did)."""
    facts = {r["finding"]: r for records in runs for r in records}
    by_run = [{r["finding"]: r["status"] for r in records} for records in runs]
    out = []
    for name, fact in facts.items():
        states = [mine.get(name) for mine in by_run]
        checked = [state for state in states if state is not None]
        out.append((fact, states, len(set(checked)) > 1 if len(checked) > 1 else None))
    return out
