"""What a cubin says about a kernel: registers, spills, shared memory, and its SASS instruction mix.

Spills and static shared memory come from the ptxas log (`ptxas -v`, the compiler's own
account); registers from the cubin itself (cuobjdump -res-usage), so that both DSLs are read
the same way. Instruction counts are static: how often each opcode appears in the code, not
how often it runs.
"""
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from bench.inspect.toolchain import triton_tool

# One SASS line: `/*0a30*/  @!P0 HGMMA.64x256x16.F32 R24, gdesc[UR4], ...`; group 1 the opcode.
INSTRUCTION = re.compile(r"^\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)")
# Opcodes where the variant matters as much as the opcode (ARRIVE opens a wgmma batch).
VARIANTS = ("WARPGROUP.ARRIVE",)
PTXAS = {
    "stack_bytes": re.compile(r"(\d+) bytes stack frame"),
    "spill_store_bytes": re.compile(r"(\d+) bytes spill stores"),
    "spill_load_bytes": re.compile(r"(\d+) bytes spill loads"),
    "registers": re.compile(r"Used (\d+) registers"),
    "static_smem_bytes": re.compile(r"(\d+) bytes smem"),
}
RESOURCES = re.compile(r"REG:(\d+)")


def analyze(cubin: bytes, ptxas_log: str) -> dict:
    """Registers, spills, static shared memory and opcode counts of the (one-kernel) cubin."""
    with tempfile.TemporaryDirectory(prefix="dslbench-sass-") as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        resources = cuobjdump("-res-usage", path)
        sass = cuobjdump("-sass", path)
    metrics = parse_ptxas_log(ptxas_log)
    registers = RESOURCES.search(resources)
    metrics["registers"] = int(registers.group(1)) if registers else metrics.get("registers")
    metrics["sass"] = count_instructions(sass)
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


def count_instructions(sass: str) -> dict:
    """{opcode: count} over the SASS listing, opcodes without their modifiers (HGMMA.64x256x16.F32
    counts as HGMMA), plus the variants in VARIANTS under their dotted names."""
    counts = Counter()
    for line in sass.splitlines():
        match = INSTRUCTION.match(line)
        if not match:
            continue
        mnemonic = match.group(1)
        counts[mnemonic.split(".")[0]] += 1
        counts.update(v for v in VARIANTS if mnemonic.startswith(v))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
