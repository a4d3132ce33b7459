"""The Portability section of `dslbench report`: what each DSL's kernels become on each GPU arch.

From `dslbench inspect --arch all` records: a matrix op x DSL/track x arch whose cells say whether
the kernel reached the arch's native tensor-core path (the rule of bench/core/mma.py: HMMA on
sm_80, HGMMA on sm_90a, UTC*MMA (tcgen05) on sm_100a, MFMA on gfx942, the Cube unit on Huawei
Ascend for a bf16 GEMM), fell back
to an older one, or failed to compile; how many lines the arch-specific rewrites
(kernels/<op>/<dsl>_<track>_<arch>.py) took; and one sentence of finding for the verdict.
Everything is computed from the records and the kernel files.
"""
import re
from pathlib import Path

from bench.core import mma
from bench.core.ops import DSLS, arch_tag, split_backend
from bench.results import codesize
from bench.results.markdown import table

NAMES = {"triton": "Triton", "tilelang": "TileLang"}
VARIANT = re.compile(r"^(triton|tilelang)_(\w+?)_((?:sm|gfx)\d+\w*|ascend)\.py$")


def variant_lines(ops, kernels=codesize.KERNELS):
    """[(op, dsl, track, arch tag, code lines)] of every arch-specific kernel file
    kernels/<op>/<dsl>_<track>_<arch>.py (e.g. tilelang_best_sm100a.py), counted as codesize counts."""
    out = []
    for op in ops:
        for path in sorted((Path(kernels) / op).glob("*_*_*.py")):
            found = VARIANT.match(path.name)
            if found:
                out.append((op, *found.groups(), codesize.code_lines(path.read_text(encoding="utf-8"))))
    return out


def inspected_variants(inspects, ops):
    """variant_lines of the arch-specific files for the archs these records cover (a rewrite for an
    arch the matrix does not show is not its cost)."""
    tags = {arch_tag(r["arch"]) for r in inspects if r.get("arch")}
    return [v for v in variant_lines(list(ops) or sorted({r["op"] for r in inspects})) if v[3] in tags]


def rows(inspects):
    """(archs, [[op, dtype, backend, cell text per arch]]) of the matrix."""
    cells = mma.matrix(inspects)
    archs = mma.archs_of(inspects)
    return archs, [[op, dtype, backend, *(mma.cell_text(c.get(a)) for a in archs)]
                   for (op, dtype, backend), c in cells.items()]


def kernel_cells(matrix, dsl=None):
    """(op, dtype, dsl, arch, cell) of every cell of an mma.matrix, only `dsl`'s kernels if given."""
    for (op, dtype, backend), cells in matrix.items():
        mine = split_backend(backend)[0]
        if dsl in (None, mine):
            for arch, c in cells.items():
                yield op, dtype, mine, arch, c


def tally(matrix):
    """{dsl: {arch: (native kernels, kernels inspected)}}, a kernel being an op x dtype x track; a
    cell skipped in every config (Triton on Ascend: no target) is not a kernel inspected."""
    out = {}
    for _, _, dsl, arch, c in kernel_cells(matrix):
        if c["path"] not in ("n/a", "skipped"):
            native, total = out.setdefault(dsl, {}).get(arch, (0, 0))
            out[dsl][arch] = (native + (c["path"] == "native"), total + 1)
    return out


def fallbacks(matrix, dsl):
    """{arch: {family the kernels fell back to: [dtypes]}} for the kernels of `dsl`."""
    out = {}
    for _, dtype, _, arch, c in kernel_cells(matrix, dsl):
        if c["path"] == "fallback":
            found = out.setdefault(arch, {}).setdefault("+".join(c["families"]) or "none", [])
            found += [dtype] if dtype not in found else []
    return out


def failures(matrix, dsl):
    """{arch: [ops]} whose kernels of `dsl` failed to compile there (any track or dtype)."""
    out = {}
    for op, _, _, arch, c in kernel_cells(matrix, dsl):
        if c["path"] == "failed" and op not in out.setdefault(arch, []):
            out[arch].append(op)
    return {arch: found for arch, found in out.items() if found}


def finding(inspects, ops=None):
    """One sentence: per DSL and arch, how many kernels reach the native path; where each DSL falls
    back and to what, and where it fails to compile; and the lines of arch-specific rewrites each DSL
    needed. None without records."""
    matrix = mma.matrix(inspects)
    counts = tally(matrix)
    if not counts:
        return None
    archs = mma.archs_of(inspects)
    per_dsl = []
    for dsl in (d for d in DSLS if d in counts):
        per_dsl.append(f"{NAMES[dsl]} " + ", ".join(f"{a} {counts[dsl][a][0]}/{counts[dsl][a][1]}"
                                                     for a in archs if a in counts[dsl]))
    text = "kernels on the arch's native tensor-core path (native / inspected): " + "; ".join(per_dsl)
    falls = []
    for dsl in (d for d in DSLS if d in counts):
        fb = fallbacks(matrix, dsl)
        if fb:
            falls.append(f"{NAMES[dsl]} falls back on " + ", ".join(
                f"{a} (" + "; ".join(f"{', '.join(d)} to {f}" for f, d in fams.items()) + ")" for a, fams in fb.items()))
        else:
            falls.append(f"{NAMES[dsl]} never falls back")
    text += ". " + "; ".join(falls)
    fails = [f"{NAMES[dsl]} fails to compile on " + ", ".join(f"{a} ({', '.join(found)})" for a, found in fl.items())
             for dsl in DSLS if (fl := failures(matrix, dsl))]
    if fails:
        text += ". " + "; ".join(fails) + " (reasons under Portability)"
    variants = inspected_variants(inspects, ops or ())
    if variants:
        by_dsl = {d: sum(n for _, dd, _, _, n in variants if dd == d) for d in DSLS}
        text += (". Arch-specific rewrites: " + ", ".join(f"{op} {NAMES[d]} {t} for {a}: {n} lines"
                                                          for op, d, t, a, n in variants)
                 + f" (Triton {by_dsl['triton']} lines, TileLang {by_dsl['tilelang']} in all)")
    if lowered(inspects, "hip-source"):
        text += ". TileLang on AMD is read from its HIP source (not compiled here: needs ROCm)"
    if any(r.get("arch") == "ascend" for r in inspects):
        text += ". " + ascend_sentence(matrix, inspects)
    return text + "."


def lowered(inspects, source):
    """Whether any record is source lowered, not compiled (hip-source, ascend-source)."""
    return any(r.get("status") == "lowered" and (r.get("metrics") or {}).get("source") == source for r in inspects)


def ascend_sentence(matrix, inspects):
    """What the Ascend column shows and what it cannot: TileLang's kernels that lower to the Cube
    unit (its AscendC source, not compiled: CANN's bisheng is not here) and those that do not;
    Triton's side (skipped: no Ascend target beside the project's Triton); no NPU timing."""
    cells = [(op, dtype, dsl, c) for op, dtype, dsl, arch, c in kernel_cells(matrix) if arch == "ascend"]
    native = sorted({op for op, _, dsl, c in cells if dsl == "tilelang" and c["path"] == "native"})
    failed = sorted({op for op, _, dsl, c in cells if dsl == "tilelang" and c["path"] == "failed"})
    text = "Huawei Ascend (TileLang's Ascend 950 target): "
    parts = []
    if native:
        parts.append("TileLang lowers " + ", ".join(native) + " to the Cube unit")
    if failed:
        parts.append("kernels written for CUDA do not lower (" + ", ".join(failed) + ")")
    text += "; ".join(parts) or "no TileLang kernel inspected"
    if lowered(inspects, "ascend-source"):
        text += " (read from AscendC source; compiling it needs CANN's bisheng, not here)"
    if any(dsl == "triton" and c["path"] == "skipped" for _, _, dsl, c in cells):
        text += "; Triton not inspected (no Ascend target beside the project's Triton)"
    return text + "; no Ascend number is measured (no NPU)"


def section(inspects, ops=()):
    """The markdown Portability section, or [] when the file holds no inspect records."""
    if not inspects:
        return []
    archs, body = rows(inspects)
    lines = ["## Portability: what each DSL's kernels become on each GPU arch", "",
             "Each kernel compiled (`dslbench inspect --arch all`) for Ampere (sm_80), Ada (sm_89), Hopper "
             "(sm_90a), Blackwell (sm_100a), AMD MI300 (gfx942) and Huawei Ascend 950 (ascend), no GPU needed. "
             "The rule: a kernel is "
             "**native** when every matrix instruction in its code is the arch's newest for the dtype, "
             "**fallback** when it uses an older one (or none: scalar FMA), **failed** when it did not compile. "
             "Native per arch: " + "; ".join(f"{a} " + ", ".join(f"{d} {n}" for d, n in mma.NATIVE[a].items())
                                             for a in archs if a in mma.NATIVE) + ".", "",
             "Read from: SASS (NVIDIA cubins), Triton's amdgcn assembly (gfx942), and TileLang's HIP source for "
             "gfx942 and its AscendC source for ascend, marked (source): compiling those needs ROCm's "
             "hipcc/amdclang or CANN's bisheng, not installed here, so their registers and spills are unknown. "
             "A cell whose configs disagree shows the worst and the split.", ""]
    lines += table(["op", "dtype", "backend", *archs], body)
    variants = inspected_variants(inspects, ops)
    if variants:
        lines += ["Arch-specific kernels (kernels/<op>/<dsl>_<track>_<arch>.py, used instead of <dsl>_<track>.py "
                  "for that arch), in code lines as the code size section counts them; Triton needs none:", ""]
        lines += table(["op", "DSL", "track", "arch", "lines"], [[op, NAMES[d], t, a, n] for op, d, t, a, n in variants])
    problems = sorted({f"- {r['op']} {r['dtype']} {r['backend']} {r['arch']}: {r.get('reason', '')}"
                       for r in inspects if r.get("status") == "error"})
    if problems:
        lines += ["Did not compile:", *problems[:40], ""]
    unreached = sorted({f"- {NAMES.get(r.get('dsl'), r.get('dsl'))} {r['arch']}: {r.get('reason', '')}"
                        for r in inspects if r.get("status") == "skipped" and r.get("arch") == "ascend"})
    if unreached:
        lines += ["Not inspected:", *unreached, ""]
    return lines
