"""The compilers `dslbench inspect` drives, found without a GPU, and the archs it targets.

AMD (gfx942): Triton's own LLVM compiles to amdgcn assembly and a code object with no ROCm
installed; TileLang lowers to HIP source, whose compile needs ROCm's hipcc/amdclang (not here).

Huawei Ascend (ascend): TileLang's own Ascend backend (tilelang/ascend, target kind "ascend", the
Ascend 950 NPU, bisheng arch dav-3510) lowers to AscendC source; compiling that needs CANN's
bisheng, which no registry here offers. Triton has no Ascend target: triton-ascend is a fork that
installs its own `triton` package in place of the project's (see worker.TRITON_ASCEND).

Triton brings its own ptxas, cuobjdump and nvdisasm (triton/backends/nvidia/bin). TileLang emits
CUDA source, which nvcc turns into a cubin: nvcc from NVIDIA's pip wheels (the `inspect` extra,
all pinned to one CUDA release: a newer cicc with an older ptxas fails with "Unsupported
.version"), else a CUDA toolkit's nvcc ($CUDA_HOME/bin, then PATH, then /usr/local/cuda/bin),
the one TileLang's own JIT uses on a GPU machine without the wheels.
"""
import functools
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.core.ops import UsageError

INSTALL = "pip install -e .[inspect]"
# The wheels nvcc needs, and a file each one ships (relative to nvidia/cu13): checked
# before compiling so that a missing wheel is one clear line, not an nvcc include error.
CUDA_WHEELS = {
    "nvidia-cuda-nvcc": "bin/nvcc",
    "nvidia-nvvm": "nvvm/bin/cicc",
    "nvidia-cuda-crt": "include/crt/host_config.h",
    "nvidia-cuda-runtime": "include/cuda_runtime.h",
    "nvidia-cuda-cccl": "include/cccl/cuda/std/type_traits",
}


@dataclass(frozen=True)
class Arch:
    """One compile target: Triton's GPUTarget, TileLang's target and nvcc's arch names."""
    name: str  # what the user types, e.g. sm_90a or gfx942
    capability: int | None  # Triton's GPUTarget("cuda", capability, 32); from 90 on it builds the `a` variant
    vendor: str = "cuda"  # "cuda" (SASS via ptxas/nvcc), "hip" (AMD: amdgcn from Triton, HIP source from
    # TileLang) or "ascend" (Huawei NPU: AscendC source from TileLang, nothing from Triton)

    @property
    def compute(self):
        return self.name.replace("sm_", "compute_")

    def triton_target(self):
        """Triton's GPUTarget: CUDA with 32-thread warps, or HIP for a CDNA arch with 64-lane waves."""
        from triton.backends.compiler import GPUTarget

        if self.vendor == "hip":
            return GPUTarget("hip", self.name, 64)
        return GPUTarget("cuda", self.capability, 32)

    def tilelang_target(self):
        """TileLang's (TVM's) target: CUDA for sm_XX, HIP for gfx942, TileLang's Ascend target for
        ascend (the last two lowering only: see tilelang_build)."""
        import tvm

        if self.vendor == "ascend":
            return tvm.target.Target({"kind": "ascend"})  # bisheng arch dav-3510 (Ascend 950) by default
        if self.vendor == "hip":
            return tvm.target.Target({"kind": "hip", "mcpu": self.name})
        return tvm.target.Target({"kind": "cuda", "arch": self.name})


# Ampere, Ada, Hopper (warpgroup MMA and TMA need the `a` variant), Blackwell (tcgen05 needs
# sm_100a), AMD's MI300 (CDNA3, gfx942; Triton compiles it, TileLang lowers it to HIP source) and
# Huawei's Ascend 950 NPU (TileLang lowers it to AscendC source; Triton: no target).
ARCHS = {a.name: a for a in (Arch("sm_80", 80), Arch("sm_89", 89), Arch("sm_90a", 90), Arch("sm_100a", 100),
                             Arch("gfx942", None, "hip"), Arch("ascend", None, "ascend"))}
ALL = "all"


def parse_archs(text):
    """'sm_90a,gfx942' -> [Arch, Arch]; 'all' -> every arch; None -> sm_90a."""
    names = [t.strip() for t in (text or "sm_90a").split(",") if t.strip()]
    if ALL in names:
        names = list(ARCHS)
    for name in names or [""]:
        if name not in ARCHS:
            raise UsageError(f"unknown arch {name!r}; valid archs: {', '.join(ARCHS)} (or {ALL})")
    return [ARCHS[n] for n in dict.fromkeys(names)]


def cuda_root():
    """nvidia/cu13 of the pip wheels, or None."""
    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations or []) if spec else []:
        if (Path(base) / "cu13").is_dir():
            return Path(base) / "cu13"
    return None


TOOLKIT_DEFAULT = Path("/usr/local/cuda/bin/nvcc")


def toolkit_nvcc():
    """A CUDA toolkit's nvcc: $CUDA_HOME (or $CUDA_PATH)/bin/nvcc, else nvcc on PATH, else
    /usr/local/cuda/bin/nvcc; None when there is none. A toolkit is one release by construction."""
    homes = [os.environ.get(v) for v in ("CUDA_HOME", "CUDA_PATH")]
    candidates = [Path(h) / "bin" / "nvcc" for h in homes if h]
    on_path = shutil.which("nvcc")
    candidates += [Path(on_path)] if on_path else []
    candidates.append(TOOLKIT_DEFAULT)
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def nvcc():
    """Path of nvcc: the CUDA wheels' (checked to come from one release), else a toolkit's
    (toolkit_nvcc); else UsageError."""
    root = cuda_root()
    missing = [w for w, f in CUDA_WHEELS.items() if root is None or not (root / f).exists()]
    if missing:
        toolkit = toolkit_nvcc()
        if toolkit is not None:
            return toolkit
        raise UsageError(f"TileLang needs nvcc: from the CUDA wheels ({', '.join(missing)} missing): {INSTALL}; "
                         f"or a CUDA toolkit's (set CUDA_HOME, or put nvcc on PATH)")
    releases = {w: release(w) for w in CUDA_WHEELS}
    if len(set(releases.values())) > 1:
        mixed = ", ".join(f"{w} {r}" for w, r in releases.items())
        raise UsageError(f"the CUDA wheels come from different releases ({mixed}); {INSTALL}")
    return root / "bin" / "nvcc"


@functools.lru_cache(maxsize=None)
def nvcc_version(path):
    """'13.0.88' of an nvcc ("Cuda compilation tools, release 13.0, V13.0.88"), or None."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\bV(\d+\.\d+\.\d+)", out)
    return found.group(1) if found else None


def release(wheel):
    """'13.0' of an installed wheel's version 13.0.88."""
    try:
        return ".".join(importlib.metadata.version(wheel).split(".")[:2])
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=None)
def triton_tool(name):
    """cuobjdump or nvdisasm from Triton's wheel."""
    spec = importlib.util.find_spec("triton")
    path = Path(spec.origin).parent / "backends" / "nvidia" / "bin" / name
    if not os.access(path, os.X_OK):
        raise UsageError(f"{path} is missing: reinstall triton (its wheel ships {name})")
    return path


def tilelang_includes():
    """TileLang's CUDA templates and its bundled CUTLASS, which its generated source includes."""
    root = Path(importlib.util.find_spec("tilelang").origin).parent
    return [root / "src", root / "3rdparty" / "cutlass" / "include"]
