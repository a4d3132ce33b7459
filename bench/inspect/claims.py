"""A kernel header's technique list, read as claims that its sm_90a SASS must bear out.

Every DSL kernel file's docstring carries one paragraph (and, for kernels with a decode path,
a second one) of the form

    SASS on sm_90a: TMA load, TMA store, setmaxnreg, HGMMA 64x128, no spills. Not: cp.async.
    SASS on sm_90a at decode: 2 kernels, TMA load.

Each item is a technique SASS can show (TECHNIQUES: the rule that checks it on an inspect
record; an MMA family with its shape, HGMMA 64x128; "N kernels", a split and its combine);
what follows "Not:" must be absent. The first paragraph is checked at the op's
inspect shape (bench.inspect.inspect_shape), the decode one at its INSPECT_DECODE_SHAPE.
Anything the header's prose says about a technique (PROSE: TMA, warp specialization,
setmaxnreg, cp.async, spills, warpgroup or warp-level MMA, a combine) must be in one of these
lists, claimed or denied, so that no technique is named without a rule (tests/test_claims.py).
"""
import ast
import re
from pathlib import Path

LINE = re.compile(r"^SASS on sm_90a( at decode)?:\s*(.*)$")


def sass(m, opcode):
    return (m.get("sass") or {}).get(opcode, 0) > 0


def mma(m, family, shape=None):
    """Whether a matrix instruction of this family (HGMMA) and, if given, shape (64x128) is issued."""
    prefix = f"{family}.{shape}x" if shape else f"{family}."
    return any(k.startswith(prefix) for k in (m.get("mma") or {}))


def kernels_of(m):
    return m.get("kernels") or [m]


def no_spills(m):
    return all(k.get("spill_store_bytes") == 0 and k.get("spill_load_bytes") == 0 for k in kernels_of(m))


def config_threads(config):
    """The threads a config asks for (the largest of a chained kernel's)."""
    return max((v for k, v in (config or {}).items() if k == "threads" or k.endswith("_threads")), default=0)


# technique -> (what SASS shows, the check on a record: its metrics m and its config c)
TECHNIQUES = {
    "TMA load": ("UTMALDG", lambda m, c: sass(m, "UTMALDG")),
    "TMA store": ("UTMASTG", lambda m, c: sass(m, "UTMASTG")),
    "cp.async": ("LDGSTS", lambda m, c: sass(m, "LDGSTS")),
    "setmaxnreg": ("USETMAXREG", lambda m, c: sass(m, "USETMAXREG")),
    "stmatrix": ("STSM", lambda m, c: sass(m, "STSM")),  # a fragment copied to shared memory whole
    # warp roles: a producer warpgroup on top of the threads the config computes with (both
    # DSLs add one on Hopper: TileLang's lowering, Triton's partitioner)
    "warp specialization": ("more threads than the config's (a producer warpgroup)",
                            lambda m, c: (m.get("threads") or 0) > config_threads(c)),
    "no spills": ("0 spill bytes in every kernel", lambda m, c: no_spills(m)),
}
MMA_ITEM = re.compile(r"^(HGMMA|QGMMA|HMMA|QMMA|IMMA)(?: (\d+x\d+))?$")  # HGMMA, HGMMA 64x128
KERNELS_ITEM = re.compile(r"^(\d+) kernels?$")  # how many kernels a launch runs: a split and its combine

# What a header's prose may say, and the items one of which must then be claimed or denied.
PROSE = {
    r"\bTMA\b": ("TMA load", "TMA store"),
    r"warp.speciali": ("warp specialization",),
    r"setmaxnreg": ("setmaxnreg",),
    r"stmatrix|\bSTSM\b": ("stmatrix",),
    r"cp\.async|LDGSTS": ("cp.async",),
    r"\bspill": ("no spills",),
    r"wgmma|HGMMA|QGMMA|warpgroup MMA": ("HGMMA", "QGMMA"),
    r"mma\.sync|HMMA": ("HMMA",),
    r"\bcombine": ("kernels",),  # any "N kernels" item
}


def docstring(path):
    return ast.get_docstring(ast.parse(Path(path).read_text())) or ""


def paragraphs(text):
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]


def parse(text):
    """{"": (claimed, denied), "decode": (...)} from a docstring's SASS paragraphs."""
    out = {}
    for paragraph in paragraphs(text):
        found = LINE.match(paragraph)
        if not found:
            continue
        body = found.group(2).rstrip(".")
        claimed, denied = (re.split(r"\.?\s*Not:\s*", body, maxsplit=1) + [""])[:2]
        items = lambda s: [i.strip() for i in s.rstrip(".").split(",") if i.strip()]  # noqa: E731
        out["decode" if found.group(1) else ""] = (items(claimed), items(denied))
    return out


def prose(text):
    """The docstring without its SASS paragraphs."""
    return "\n\n".join(p for p in re.split(r"\n\s*\n", text) if not LINE.match(" ".join(p.split())))


def known(item):
    return item in TECHNIQUES or bool(MMA_ITEM.match(item) or KERNELS_ITEM.match(item))


def holds(item, metrics, config=None):
    """Whether a record (its metrics, its config) shows the technique."""
    if item in TECHNIQUES:
        return bool(TECHNIQUES[item][1](metrics, config))
    if KERNELS_ITEM.match(item):
        return len(kernels_of(metrics)) == int(KERNELS_ITEM.match(item).group(1))
    family, shape = MMA_ITEM.match(item).groups()
    return mma(metrics, family, shape)


def header_problems(text):
    """What keeps a header's claims from being checkable (empty: none): no SASS paragraph, an
    item no rule knows, a technique its prose names that no list claims or denies."""
    claims = parse(text)
    if "" not in claims:
        return ["no 'SASS on sm_90a:' paragraph"]
    listed = [i for claimed, denied in claims.values() for i in claimed + denied]
    problems = [f"no inspect rule for {i!r}" for i in listed if not known(i)]
    families = {MMA_ITEM.match(i).group(1) for i in listed if MMA_ITEM.match(i)}
    families |= {"kernels" for i in listed if KERNELS_ITEM.match(i)}
    body = prose(text)
    for pattern, items in PROSE.items():
        if re.search(pattern, body, re.I) and not any(i in listed or i in families for i in items):
            problems.append(f"the header names {pattern!r} but its SASS lists claim or deny none of {items}")
    return problems


def record_problems(claimed, denied, record):
    """What the compiled record contradicts (empty: none)."""
    where = f"{record['op']} {record['backend']}"
    if record["status"] != "compiled":
        return [f"{where}: {record['status']}: {record.get('reason')}"]
    m, c = record["metrics"], record.get("config")
    return ([f"{where}: claims {i!r}, SASS lacks {TECHNIQUES.get(i, (i,))[0]}" for i in claimed if not holds(i, m, c)]
            + [f"{where}: says not {i!r}, SASS has {TECHNIQUES.get(i, (i,))[0]}" for i in denied if holds(i, m, c)])
