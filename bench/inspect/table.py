"""The terminal table of `dslbench inspect`: one row per (op, dtype, config, arch, DSL), the two
DSLs on adjacent rows. Counts are static SASS instructions ('.' where there are none). Then the
portability matrix: each kernel x arch, native / fallback / failed (bench/core/mma.py)."""
from bench.core import mma

# (column, width, SASS opcodes summed into it). Tensor cores: HGMMA/QGMMA are Hopper's warpgroup
# MMA (fp16/bf16/tf32, fp8), HMMA the older warp-level MMA, UTC*MMA Blackwell's tcgen05 MMA. Loads: UTMALDG/UTMASTG are TMA, LDGSTS is
# cp.async; LDS/STS are shared-memory loads/stores (LDSM/STSM their matrix forms, ldmatrix).
COUNTS = [
    ("HGMMA", 5, ("HGMMA",)), ("QGMMA", 5, ("QGMMA",)), ("HMMA", 5, ("HMMA",)),
    ("UTC*MMA", 7, ("UTCHMMA", "UTCQMMA", "UTCOMMA", "UTCIMMA")),
    ("UTMALDG", 7, ("UTMALDG",)), ("UTMASTG", 7, ("UTMASTG",)), ("LDGSTS", 6, ("LDGSTS",)),
    ("LDS", 4, ("LDS",)), ("LDSM", 4, ("LDSM",)), ("STS", 4, ("STS",)), ("STSM", 4, ("STSM",)),
    ("WG.ARV", 6, ("WARPGROUP.ARRIVE",)), ("BAR", 4, ("BAR",)), ("SHFL", 4, ("SHFL",)),
]
COLUMNS = [("op", 10), ("backend", 16), ("dtype", 5), ("arch", 7), ("config", 18), ("thr", 4), ("regs", 4),
           ("spill_B", 7), ("smem_KiB", 8), ("compile_s", 9)] + [(name, width) for name, width, _ in COUNTS] + [
           ("MFMA", 5), ("Cube", 4), ("src", 6), ("tensor core", 16)]
SOURCE = {"sass": "sass", "amdgcn": "amdgcn", "hip-source": "hip", "ascend-source": "ascC"}


def config_text(config):
    """{'block_M': 128, 'block_N': 256, 'block_K': 64, 'num_stages': 3, 'threads': 256} -> '128x256x64 s3 t256'."""
    if not config:
        return "-"
    blocks = {k[len("block_"):]: v for k, v in config.items() if k.startswith("block_")}
    blocks = "x".join(map(str, blocks.values())) if len(blocks) > 1 else "".join(f"{k}{v}" for k, v in blocks.items())
    short = {"num_stages": "s", "threads": "t"}
    rest = [f"{short[k]}{v}" if k in short else f"{k}={v}" for k, v in config.items() if not k.startswith("block_")]
    return " ".join(([blocks] if blocks else []) + rest)


def spill_text(m):
    """NVIDIA: spill stores/loads in bytes; AMD: spilled VGPRs/SGPRs (counts, as the code object
    says); '?' where unknown (HIP source, not compiled)."""
    if m.get("spill_store_bytes") is not None:
        return f"{m['spill_store_bytes']}/{m['spill_load_bytes']}"
    if m.get("vgpr_spill_count") is not None:
        return f"v{m['vgpr_spill_count']}/s{m['sgpr_spill_count']}"
    return "?"


def time_text(m):
    """Seconds from source to machine code; for HIP source only lowered, the lowering's, marked L."""
    if m.get("compile_ms") is not None:
        return f"{m['compile_ms'] / 1e3:.2f}"
    return f"{m['lower_ms'] / 1e3:.2f}L" if m.get("lower_ms") is not None else "?"


def row(record):
    m = record["metrics"]
    head = [record["op"], record["backend"], record["dtype"], record["arch"], config_text(record["config"])]
    if record["status"] not in ("compiled", "lowered"):
        return head + [f"{record['status']}: {record['reason']}"]
    facts = [m.get("threads") or "-", m.get("registers") if m.get("registers") is not None else "?", spill_text(m),
             f"{m['smem_bytes'] / 1024:.1f}", time_text(m)]
    sass = m.get("sass") or {}
    counts = [sum(sass.get(op, 0) for op in opcodes) or "." for _, _, opcodes in COUNTS]
    mfma = sum(n for name, n in (m.get("mma") or {}).items() if mma.family(name) in ("MFMA", "MFMA-fp8")) or "."
    cube = sum(n for name, n in (m.get("mma") or {}).items() if mma.family(name) == "Cube") or "."
    path = record.get("tensor_core") or {"path": mma.classify(record), "families": mma.families(record)}
    tensor_core = "n/a" if path["path"] == "n/a" else f"{path['path']} {'+'.join(path['families']) or 'none'}"
    return head + facts + counts + [mfma, cube, SOURCE.get(m.get("source"), "sass"), tensor_core]


def render(cells):
    """One line; the last cell of a failed row (its status) runs to the end of the line."""
    widths = [w for _, w in COLUMNS]
    return "  ".join(str(c).ljust(w) if i < len(cells) - 1 else str(c) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


def header():
    return render([name for name, _ in COLUMNS])


LEGEND = ("regs: registers per thread (AMD: VGPRs, AGPRs included); spill_B: spill stores/loads in bytes (AMD: "
          "spilled VGPRs/SGPRs, counts); smem: static + dynamic shared memory (AMD: LDS); compile_s: cold, from "
          "Python source to machine code (L: lowered to HIP or AscendC source only); counts: static SASS instructions "
          "(WG.ARV = WARPGROUP.ARRIVE), MFMA: static amdgcn MFMA instructions (hip: intrinsic calls in the "
          "source); Cube: Ascend Cube-unit MAD calls (asc_mmad) in TileLang's AscendC source (thr '-': an "
          "Ascend kernel has no threads at kernel scope); src: what was read (sass, amdgcn, hip source, ascC: "
          "AscendC source, L: lowered only); tensor core: native / fallback by the "
          "rule of bench/core/mma.py")


def matrix_lines(records):
    """The portability matrix: one row per op, dtype and backend, one column per arch; each cell
    native / fallback / failed and the matrix instruction family (bench/core/mma.py)."""
    cells = mma.matrix(records)
    if not cells:
        return []
    archs = mma.archs_of(records)
    widths = [10, 5, 16] + [max(24, len(a)) for a in archs]
    def line(values):
        return "  ".join(str(v).ljust(w) for v, w in zip(values, widths)).rstrip()
    lines = ["", "Portability matrix (tensor-core path per arch; native = the arch's newest matrix "
             "instruction for the dtype: " + ", ".join(f"{a} {mma.NATIVE[a].get('bf16')}" for a in archs
                                                        if a in mma.NATIVE) + " for bf16):",
             line(["op", "dtype", "backend", *archs])]
    for (op, dtype, backend), row_cells in cells.items():
        lines.append(line([op, dtype, backend, *(mma.cell_text(row_cells.get(a)) for a in archs)]))
    return lines
