"""What TileLang's AscendC source says about its kernel (Huawei Ascend, `--arch ascend`).

TileLang's Ascend backend (tilelang/ascend, the Ascend 950 NPU) lowers a kernel to AscendC-style
C++: compiling that needs CANN's bisheng, which no registry here offers, so, as for TileLang's HIP
source on gfx942, only what the source shows is known: which cores the kernel runs on (its
`__global__ __cube__` / `__vector__` / `__mix__(c, v)` qualifier: the Cube cores do matrix
products, the Vector cores everything else), the Cube unit's MAD calls (asc_mmad: its matrix
instruction), the on-chip buffers it declares, by address space, and every asc_* intrinsic it calls.
Registers, spills, binary size: unknown.
"""
import re
from collections import Counter

# The Cube unit's matrix multiply-accumulate (asc_mmad_mx: its block-scaled MX form).
CUBE_MAD = re.compile(r"\basc_mmad\w*(?=\s*\()")
# On-chip memories by the AscendC address-space qualifier a buffer pointer is declared with.
SCOPES = {"__cbuf__": "L1", "__ca__": "L0A", "__cb__": "L0B", "__cc__": "L0C", "__ubuf__": "UB"}
DECLARED = re.compile(r"^\s*(__cbuf__|__ca__|__cb__|__cc__|__ubuf__)\s+\w+\s*\*\s*\w+\s*=", re.M)
KERNEL = re.compile(r"__global__\s+(__cube__|__vector__|__mix__\s*\([^)]*\))\s+void\s+(\w+)\s*\(")
CORES = {"__cube__": "cube", "__vector__": "vector"}
VECTOR_FUNCTION = re.compile(r"__(simd|simt)_vf__")
CALL = re.compile(r"\b(asc_\w+)\s*\(")


def analyze_source(source: str, names) -> dict:
    """{kernel name: metrics} from AscendC source without a compile: `core` (cube, vector or mix),
    `mma` (the Cube's asc_mmad calls, occurrences in the source), `buffers` ({L1/L0A/L0B/L0C/UB:
    buffers declared}), `vector_functions` (SIMD/SIMT functions it defines), `ascend` ({asc_*
    intrinsic: calls}); registers and spills unknown (None). `names`: the kernels lowering made."""
    kernels = {m.group(2): (m.start(), m.group(1)) for m in KERNEL.finditer(source)}
    if not kernels:
        raise RuntimeError("no __global__ AscendC kernel in the lowered source")
    ordered = sorted(kernels.items(), key=lambda kv: kv[1][0])
    out = {}
    for i, (name, (start, qualifier)) in enumerate(ordered):
        text = source[start:ordered[i + 1][1][0] if i + 1 < len(ordered) else len(source)]
        out[name if name in names or not names else next(iter(names))] = {
            "registers": None, "spill_store_bytes": None, "spill_load_bytes": None, "static_smem_bytes": 0,
            "core": CORES.get(qualifier, "mix"),
            "mma": dict(Counter(CUBE_MAD.findall(text)).most_common()),
            "buffers": dict(Counter(SCOPES[s] for s in DECLARED.findall(text))),
            "vector_functions": len(VECTOR_FUNCTION.findall(source)),
            "ascend": dict(Counter(CALL.findall(text)).most_common()),
        }
    return out


def reason(exc):
    """The telling line of a failed Ascend lowering: its first line, cut before the TIR it quotes
    (': with T.attr(...)'), and the statement that failed when it quotes one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first, _, quoted = lines[0].partition(": with T.attr")
    text = first + (f" (at {lines[-1]})" if quoted and len(lines) > 1 else "")
    return f"{type(exc).__name__}: {text}"[:300]
