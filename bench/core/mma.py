"""Matrix instruction families, each GPU arch's native one, and the portability matrix.

A kernel's tensor-core path is read from its machine code (`dslbench inspect`): SASS opcodes on
NVIDIA, amdgcn mnemonics (or, where only source exists, the MFMA intrinsics of TileLang's HIP
source) on AMD, the Cube unit's MAD calls (asc_mmad) in TileLang's AscendC source on Huawei
Ascend. Families, oldest to newest on NVIDIA:

    HMMA / QMMA / IMMA   warp-level mma.sync (Ampere, Ada; QMMA is Ada's fp8)
    HGMMA / QGMMA        Hopper's warpgroup wgmma (16-bit and tf32 / fp8)
    UTC*MMA              Blackwell's tcgen05 (UTCHMMA: 16-bit and tf32, UTCQMMA: fp8)
    MFMA                 AMD CDNA's matrix fused multiply-add (v_mfma_*)
    Cube                 Huawei Ascend's Cube unit (asc_mmad in AscendC): its only matrix unit,
                         beside the Vector cores, which have none
    none                 no matrix instruction: scalar FMA (on Ascend: Vector-core code only)

The rule: for each arch and dtype the *native* path is the newest matrix instruction that arch
has for that dtype (NATIVE). A kernel is native when every matrix instruction it has is of the
native kind for a dtype it multiplies in (its dtype; a kernel chaining stages of several, as
dsa_step's FP8 indexer and bf16 sparse MLA, names them in the spec's MMA_DTYPES), fallback when
it has an older kind or none at all, failed when it did not compile. An op whose kernels have no
matrix instruction on any arch has no dot (act_quant, whose spec says MMA_DTYPES = ()): its
cells are n/a.
Nothing here imports a compiler: `report` reads the same records as `inspect` prints.
"""
import re

# Opcode (SASS) or mnemonic prefix (amdgcn, HIP builtins) -> (family, generation). The
# generation orders NVIDIA's paths: a lower one than the native one is a fallback.
SASS_FAMILIES = {
    "HMMA": 1, "QMMA": 1, "IMMA": 1,  # mma.sync, warp-level
    "HGMMA": 2, "QGMMA": 2, "IGMMA": 2,  # wgmma, warpgroup-level (sm_90a)
    "UTCHMMA": 3, "UTCQMMA": 3, "UTCIMMA": 3, "UTCOMMA": 3, "UTCMMA": 3,  # tcgen05 (sm_100a)
}
AMD_MMA = re.compile(r"v_s?mfma\w*|__builtin_amdgcn_s?mfma\w*")
ASCEND_MMA = re.compile(r"asc_mmad\w*")  # asc_mmad, asc_mmad_mx (block-scaled)

# The native matrix instruction of each arch, per dtype (None: any of the family).
# sm_80 has no fp8 MMA: an e4m3 dot's best there is fp16 HMMA after a convert. Ada adds fp8
# mma.sync (QMMA). Hopper: wgmma (HGMMA for fp16/bf16/tf32, QGMMA for fp8). Blackwell: tcgen05
# (UTCHMMA kind::f16 / kind::tf32, UTCQMMA kind::f8f6f4). gfx942 (MI300): MFMA, with fp8 MFMA for e4m3.
# ascend (Ascend 950): the Cube unit for every dtype (fp16/bf16, fp32 as HF32, fp8); a matrix
# product left to the Vector cores is the fallback.
NATIVE = {
    "sm_80": {"fp32": "HMMA", "fp16": "HMMA", "bf16": "HMMA", "e4m3": "HMMA"},
    "sm_89": {"fp32": "HMMA", "fp16": "HMMA", "bf16": "HMMA", "e4m3": "QMMA"},
    "sm_90a": {"fp32": "HGMMA", "fp16": "HGMMA", "bf16": "HGMMA", "e4m3": "QGMMA"},
    "sm_100a": {"fp32": "UTCHMMA", "fp16": "UTCHMMA", "bf16": "UTCHMMA", "e4m3": "UTCQMMA"},
    "gfx942": {"fp32": "MFMA", "fp16": "MFMA", "bf16": "MFMA", "e4m3": "MFMA-fp8"},
    "ascend": {"fp32": "Cube", "fp16": "Cube", "bf16": "Cube", "e4m3": "Cube"},
}
ARCHS = tuple(NATIVE)
SOURCES = {"sass": "SASS", "amdgcn": "AMD assembly", "hip-source": "HIP source (not compiled here)",
           "ascend-source": "AscendC source (not compiled here)"}
SOURCE_ONLY = ("hip-source", "ascend-source")  # read from source a compiler here cannot build


def family(instruction):
    """'HGMMA.64x256x16.F32.BF16' -> 'HGMMA'; 'v_mfma_f32_32x32x8_bf16' -> 'MFMA' (an fp8 one:
    'MFMA-fp8'); '__builtin_amdgcn_mfma_f32_16x16x16bf16_1k' -> 'MFMA'; 'asc_mmad' -> 'Cube';
    anything else None."""
    opcode = instruction.split(".")[0]
    if opcode in SASS_FAMILIES:
        return opcode
    if AMD_MMA.fullmatch(instruction.strip()):
        return "MFMA-fp8" if re.search(r"fp8|bf8", instruction) else "MFMA"
    if ASCEND_MMA.fullmatch(instruction.strip()):
        return "Cube"
    return None


def families(record):
    """The matrix instruction families a compiled kernel uses, newest first ([]: none)."""
    metrics = record.get("metrics") or {}
    names = metrics["mma"] if "mma" in metrics else (metrics.get("sass") or {})  # older records: opcode counts
    found = {family(name) for name, n in names.items() if n} - {None}
    return sorted(found, key=lambda f: (-SASS_FAMILIES.get(f, 0), f))


def compiled(record):
    """Machine code (`compiled`) or, for TileLang on AMD and Ascend here, source it lowered to (`lowered`)."""
    return record.get("status") in ("compiled", "lowered")


def classify(record):
    """'native', 'fallback' or 'failed' for one inspect record, by the rule in NATIVE."""
    if record.get("status") == "skipped":
        return "skipped"  # the kernel refused the shape (kernels.Skip): not a compile failure
    if not compiled(record):
        return "failed"
    if record.get("mma_dtypes") == []:
        return "n/a"  # an op with no matrix product (act_quant): no tensor-core path to take
    native = natives(record)
    found = families(record)
    if not native:
        return "unknown"  # an arch or dtype the rule does not cover
    return "native" if found and all(any(is_native(f, n) for n in native) for f in found) else "fallback"


def natives(record):
    """The arch's native family for each dtype the kernel multiplies in: its dtype, or the record's
    `mma_dtypes` for a kernel chaining stages of several ([] when the rule covers none)."""
    table = NATIVE.get(record.get("arch"), {})
    wanted = record.get("mma_dtypes") or [record.get("dtype")]  # records before mma_dtypes: the dtype
    return list(dict.fromkeys(table[d] for d in wanted if d in table))


def is_native(found, native):
    """An fp8 MFMA serves where MFMA is native; a plain one does not where fp8 MFMA is."""
    return found == native or (native == "MFMA" and found == "MFMA-fp8")


def cell(records):
    """One matrix cell from the inspect records of a kernel x arch (one per config compiled):
    {"path": native/fallback/failed, "families": [...], "source": ..., "configs": n, "reason": ...}.
    Configs that disagree: the worst path wins (failed < fallback < native) and `split` says so. A
    config the kernel refuses (skipped, e.g. split-K in a kernel written without it) says nothing of
    the path: the cell is `skipped` only when every config is."""
    order = ("failed", "skipped", "unknown", "n/a", "fallback", "native")
    paths = [classify(r) for r in records]
    ran = [p for p in paths if p != "skipped"] or paths
    worst = min(ran, key=order.index)
    chosen = [r for r, p in zip(records, paths) if p == worst]
    out = {"path": worst, "families": sorted({f for r in chosen for f in families(r)}),
           "source": next((r.get("metrics", {}).get("source") for r in chosen if compiled(r)), None),
           "configs": len(records), "reason": next((r.get("reason") for r in chosen if r.get("reason")), "")}
    if len(set(paths)) > 1:
        out["split"] = {p: paths.count(p) for p in order if p in paths}
    return out


def cell_text(c):
    """'native UTCHMMA', 'fallback HMMA', 'fallback none', 'native MFMA (source)', 'native Cube
    (source)', 'failed'."""
    if c is None:
        return "-"
    if c["path"] in ("failed", "skipped"):
        return c["path"]
    if c["path"] == "n/a":
        return "n/a (no matrix op)"
    text = f"{c['path']} {'+'.join(c['families']) or 'none'}"
    if c.get("source") in SOURCE_ONLY:
        text += " (source)"
    if c.get("split"):
        text += " (" + ", ".join(f"{n} {p}" for p, n in c["split"].items()) + " configs)"
    return text


def matrix(records):
    """{(op, dtype, backend): {arch: cell}} over inspect records, rows and archs in first-seen order."""
    grouped = {}
    for r in records:
        if r.get("kind", "inspect") != "inspect" or not r.get("arch"):
            continue
        grouped.setdefault((r["op"], r["dtype"], r["backend"]), {}).setdefault(r["arch"], []).append(r)
    out = {row: {arch: cell(rs) for arch, rs in archs.items()} for row, archs in grouped.items()}
    for op in {op for op, _, _ in out}:  # an op with no matrix instruction anywhere has no dot
        cells = [c for (o, _, _), archs in out.items() if o == op for c in archs.values()]
        if not any(c["families"] for c in cells):
            for c in cells:
                c["path"] = "n/a" if c["path"] in ("fallback", "native") else c["path"]
    return out


def archs_of(records):
    """The archs these records cover, in ARCHS order (unknown ones last)."""
    seen = list(dict.fromkeys(r.get("arch") for r in records if r.get("arch")))
    return sorted(seen, key=lambda a: ARCHS.index(a) if a in ARCHS else len(ARCHS))
