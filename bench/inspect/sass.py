"""What a cubin says about its kernels: registers, spills, shared memory, and the SASS instruction mix.

Spills and static shared memory come from the ptxas log (`ptxas -v`, the compiler's own
account); registers from the cubin itself (cuobjdump -res-usage), so that both DSLs are read
the same way. Instruction counts are static: how often each opcode appears in the code, not
how often it runs. A cubin may hold several kernels (a split-KV pass and its combine): each is
read on its own, by its function name.
"""
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench.inspect.toolchain import triton_tool

# One SASS line: `/*0a30*/  @!P0 HGMMA.64x256x16.F32 R24, gdesc[UR4], ...`; group 1 the opcode.
INSTRUCTION = re.compile(r"^\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Za-z0-9_]+)*)")
# Opcodes where the variant matters as much as the opcode (ARRIVE opens a wgmma batch).
VARIANTS = ("WARPGROUP.ARRIVE", "MUFU.RCP")  # also counted under their dotted names (MUFU.RCP: reciprocals)
# Matrix instructions, kept with their shape and types too (HGMMA.64x256x16.F32.BF16): the
# instruction shape is part of the code path (a 64x256 MMA vs two 64x128 ones).
MMA_OPCODES = ("HGMMA", "QGMMA", "IGMMA", "HMMA", "QMMA", "IMMA", "UTCHMMA", "UTCQMMA", "UTCOMMA", "UTCIMMA")  # QMMA: Ada's fp8
PTXAS = {
    "stack_bytes": re.compile(r"(\d+) bytes stack frame"),
    "spill_store_bytes": re.compile(r"(\d+) bytes spill stores"),
    "spill_load_bytes": re.compile(r"(\d+) bytes spill loads"),
    "registers": re.compile(r"Used (\d+) registers"),
    "static_smem_bytes": re.compile(r"(\d+) bytes smem"),
}
PTXAS_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
RESOURCES = re.compile(r"REG:(\d+)")
RESOURCES_ENTRY = re.compile(r"^\s*Function ([^\s:]+):", re.M)
SASS_ENTRY = re.compile(r"^\s*Function : (\S+)", re.M)
SUMMED = ("spill_store_bytes", "spill_load_bytes", "vgpr_spill_count", "sgpr_spill_count")  # AMD: spilled registers
COUNTED = ("sass", "amdgcn", "mma")  # instruction counts: SASS opcodes, amdgcn mnemonics, matrix instructions


def analyze(cubin: bytes, ptxas_log: str) -> dict:
    """{kernel name: metrics} for every kernel of the cubin: registers, spills, static shared
    memory, opcode counts (`sass`) and matrix instructions with their shapes (`mma`)."""
    with tempfile.TemporaryDirectory(prefix="dslbench-sass-") as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        resources = cuobjdump("-res-usage", path)
        sass = cuobjdump("-sass", path)
    logs = sections(ptxas_log or "", PTXAS_ENTRY)
    regs = sections(resources, RESOURCES_ENTRY)
    out = {}
    for name, listing in sections(sass, SASS_ENTRY).items():
        metrics = parse_ptxas_log(logs.get(name, "" if len(logs) > 1 else ptxas_log))
        registers = RESOURCES.search(regs.get(name, ""))
        metrics["registers"] = int(registers.group(1)) if registers else metrics.get("registers")
        metrics["sass"] = count_instructions(listing)
        metrics["mma"] = count_instructions(listing, MMA_OPCODES)
        out[name] = metrics
    if not out:
        raise RuntimeError("cuobjdump found no kernel in the cubin")
    return out


def sections(text, header):
    """{name: the text after its header line up to the next one} for each header in text."""
    found = list(header.finditer(text))
    return {m.group(1): text[m.end():found[i + 1].start() if i + 1 < len(found) else len(text)]
            for i, m in enumerate(found)}


def combine(kernels: dict, main: str) -> dict:
    """One kernel's metrics, or several combined: the main kernel's registers, shared memory
    and threads; spills summed over all (any spill shows); instruction counts summed; and the
    list of every kernel with its own metrics under `kernels`."""
    if len(kernels) == 1:
        return dict(next(iter(kernels.values())))
    metrics = dict(kernels[main])
    for key in (k for k in SUMMED if k in metrics):
        values = [k.get(key) for k in kernels.values()]
        metrics[key] = None if None in values else sum(values)
    for key in (k for k in COUNTED if k in metrics):
        metrics[key] = dict(sum((Counter(k.get(key) or {}) for k in kernels.values()), Counter()).most_common())
    metrics["kernels"] = [{"name": name, **{k: v for k, v in m.items() if k != "kernels"}} for name, m in kernels.items()]
    metrics["main_kernel"] = main
    return metrics


def cuobjdump(flag, path):
    out = subprocess.run([str(triton_tool("cuobjdump")), flag, str(path)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"cuobjdump {flag} failed: {out.stderr.strip()[:300]}")
    return out.stdout


def parse_ptxas_log(log: str) -> dict:
    """The numbers `ptxas -v` prints; None for those it does not (no smem line: 0 bytes)."""
    found = {key: pattern.search(log or "") for key, pattern in PTXAS.items()}
    metrics = {key: int(m.group(1)) if m else None for key, m in found.items()}
    if metrics["registers"] is not None and metrics["static_smem_bytes"] is None:
        metrics["static_smem_bytes"] = 0  # ptxas omits the smem clause when there is none
    return metrics


def count_instructions(sass: str, full=()) -> dict:
    """{opcode: count} over the SASS listing, opcodes without their modifiers (HGMMA.64x256x16.F32
    counts as HGMMA), plus the variants in VARIANTS under their dotted names. With `full`: only
    those opcodes, counted under their whole mnemonic (HGMMA.64x256x16.F32.BF16)."""
    counts = Counter()
    for line in sass.splitlines():
        match = INSTRUCTION.match(line)
        if not match:
            continue
        mnemonic = match.group(1)
        opcode = mnemonic.split(".")[0]
        if full:
            if opcode in full:
                counts[mnemonic] += 1
            continue
        counts[opcode] += 1
        counts.update(v for v in VARIANTS if mnemonic.startswith(v))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
