"""The terminal table of `dslbench inspect`: one row per (op, dtype, config, arch, DSL), the two
DSLs on adjacent rows. Counts are static SASS instructions ('.' where there are none)."""

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
           ("spill_B", 7), ("smem_KiB", 8), ("compile_s", 9)] + [(name, width) for name, width, _ in COUNTS]


def config_text(config):
    """{'block_M': 128, 'block_N': 256, 'block_K': 64, 'num_stages': 3, 'threads': 256} -> '128x256x64 s3 t256'."""
    if not config:
        return "-"
    blocks = {k[len("block_"):]: v for k, v in config.items() if k.startswith("block_")}
    blocks = "x".join(map(str, blocks.values())) if len(blocks) > 1 else "".join(f"{k}{v}" for k, v in blocks.items())
    short = {"num_stages": "s", "threads": "t"}
    rest = [f"{short[k]}{v}" if k in short else f"{k}={v}" for k, v in config.items() if not k.startswith("block_")]
    return " ".join(([blocks] if blocks else []) + rest)


def row(record):
    m = record["metrics"]
    head = [record["op"], record["backend"], record["dtype"], record["arch"], config_text(record["config"])]
    if record["status"] != "compiled":
        return head + [f"{record['status']}: {record['reason']}"]
    spill = f"{m['spill_store_bytes']}/{m['spill_load_bytes']}" if m.get("spill_store_bytes") is not None else "?"
    facts = [m["threads"], m["registers"], spill, f"{m['smem_bytes'] / 1024:.1f}", f"{m['compile_ms'] / 1e3:.2f}"]
    sass = m["sass"]
    counts = [sum(sass.get(op, 0) for op in opcodes) or "." for _, _, opcodes in COUNTS]
    return head + facts + counts


def render(cells):
    """One line; the last cell of a failed row (its status) runs to the end of the line."""
    widths = [w for _, w in COLUMNS]
    return "  ".join(str(c).ljust(w) if i < len(cells) - 1 else str(c) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


def header():
    return render([name for name, _ in COLUMNS])


LEGEND = ("spill_B: spill stores/loads in bytes; smem: static + dynamic shared memory; compile_s: cold, "
          "from Python source to cubin; counts: static SASS instructions (WG.ARV = WARPGROUP.ARRIVE)")
