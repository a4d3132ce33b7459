"""What AMD code says about its kernel: Triton's amdgcn assembly, or TileLang's HIP source.

Triton compiles for gfx942 without ROCm (its own LLVM): the assembly it keeps (`asm["amdgcn"]`)
ends with the code object's metadata, the compiler's own account of VGPRs (AGPRs included: on
gfx942 the accumulation registers share the VGPR file), SGPRs, spills (counted in registers,
not bytes), scratch and static LDS. Instruction counts are static, as for SASS.

TileLang lowers to HIP source; compiling that needs ROCm's hipcc/amdclang, which is not
installed here, so from the source only the matrix intrinsics it calls (__builtin_amdgcn_mfma_*,
counted where they appear in the source, not as instructions) and its LDS are known.
"""
import re
from collections import Counter

# Code object metadata (YAML at the end of the assembly), one kernel per Triton compile.
METADATA = {
    "registers": re.compile(r"\.vgpr_count:\s+(\d+)"),  # VGPRs per lane, AGPRs included
    "agprs": re.compile(r"\.agpr_count:\s+(\d+)"),
    "sgprs": re.compile(r"\.sgpr_count:\s+(\d+)"),
    "vgpr_spill_count": re.compile(r"\.vgpr_spill_count:\s+(\d+)"),
    "sgpr_spill_count": re.compile(r"\.sgpr_spill_count:\s+(\d+)"),
    "scratch_bytes": re.compile(r"\.private_segment_fixed_size:\s+(\d+)"),  # per lane
    "static_smem_bytes": re.compile(r"\.group_segment_fixed_size:\s+(\d+)"),  # static LDS
}
KERNEL = re.compile(r"^\s*\.amdhsa_kernel\s+(\S+)", re.M)
# An instruction line: a tab, then the mnemonic (v_mfma_f32_32x32x8_bf16, global_load_dwordx4, ...).
INSTRUCTION = re.compile(r"^\s+([a-z][a-z0-9_]*)(?:\s|$)")
MFMA = re.compile(r"v_s?mfma\w*")
HIP_MFMA = re.compile(r"__builtin_amdgcn_s?mfma\w*")
HIP_STATIC_LDS = re.compile(r"__shared__[^;\[]*\b(\w+)\[(\d+)\]")
HIP_TYPE_BYTES = {"half_t": 2, "bfloat16_t": 2, "float": 4, "int": 4, "uint64_t": 8, "uint": 4}


def analyze(asm: str) -> dict:
    """{kernel name: metrics} for Triton's amdgcn assembly: registers (VGPRs), agprs, sgprs,
    spill counts, scratch and static LDS bytes, `amdgcn` ({mnemonic: count}) and `mma` (the MFMA
    mnemonics with their shapes and types, e.g. v_mfma_f32_32x32x8_bf16)."""
    names = KERNEL.findall(asm)
    if not names:
        raise RuntimeError("no .amdhsa_kernel in the amdgcn assembly")
    metrics = {key: int(m.group(1)) if (m := pattern.search(asm)) else None for key, pattern in METADATA.items()}
    counts = count_instructions(code(asm, names[0]))
    metrics["amdgcn"] = counts
    metrics["mma"] = {k: v for k, v in counts.items() if MFMA.fullmatch(k)}
    return {names[0]: metrics}


def code(asm, name):
    """The kernel's instructions: from its label to the end of its function."""
    start = re.search(rf"^{re.escape(name)}:\s*$", asm, re.M)
    end = re.search(r"^\.Lfunc_end\d+:", asm, re.M)
    return asm[start.end() if start else 0:end.start() if end and (not start or end.start() > start.end()) else len(asm)]


def count_instructions(text: str) -> dict:
    """{mnemonic: count}, most frequent first; directives, labels and comments are not instructions."""
    counts = Counter(m.group(1) for line in text.splitlines() if (m := INSTRUCTION.match(line)))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def analyze_hip_source(source: str, names) -> dict:
    """{kernel name: metrics} from HIP source without a compile: the MFMA intrinsics each kernel
    calls (`mma`, occurrences in its source) and its static LDS arrays; registers and spills are
    unknown (None). `names`: the kernels the lowering produced."""
    def definition(name):  # the last match: a forward declaration may come first
        found = list(re.finditer(rf"__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?{re.escape(name)}\s*\(", source))
        return found[-1].start() if found else None

    starts = sorted((definition(name), name) for name in names if definition(name) is not None)
    if not starts:
        starts = [(0, name) for name in list(names)[:1]]
    out = {}
    for i, (start, name) in enumerate(starts):
        text = source[start:starts[i + 1][0] if i + 1 < len(starts) else len(source)]
        out[name] = {"registers": None, "spill_store_bytes": None, "spill_load_bytes": None,
                     "static_smem_bytes": static_lds(text), "mma": dict(Counter(HIP_MFMA.findall(text)).most_common())}
    return out


def static_lds(text):
    """Bytes of the `__shared__ T name[N]` arrays declared in a kernel's HIP source."""
    total = 0
    for decl in re.finditer(r"__shared__[^;]*;", text):
        found = HIP_STATIC_LDS.search(decl.group(0))
        kind = next((t for t in HIP_TYPE_BYTES if re.search(rf"\b{t}\b", decl.group(0))), None)
        if found and kind:
            total += int(found.group(2)) * HIP_TYPE_BYTES[kind]
    return total
