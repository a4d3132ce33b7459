"""The environment a result was measured in, stored in every record."""
import datetime
import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch


def version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit():
    root = Path(__file__).resolve().parents[2]
    def git(*args):
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else None
    try:
        commit, dirty = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit and commit + ("-dirty" if dirty else "")


def device():
    """cuda when a GPU is visible, else cpu; DSLBENCH_DEVICE=cpu takes the CPU paths (Triton's
    interpreter, TileLang's C backend) on a GPU machine too."""
    if os.environ.get("DSLBENCH_DEVICE", "").lower() == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def configure(dev):
    """Process settings every kernel run needs: Triton's interpreter without a GPU (read when
    @triton.jit decorates, so before kernel modules import); TF32 for fp32 matmuls on a GPU,
    as both DSLs use, so the torch baseline computes the same way."""
    if dev == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    else:
        torch.set_float32_matmul_precision("high")


@functools.lru_cache(maxsize=None)
def environment():
    """Device, driver and library versions, commit; the same dict for a whole run."""
    env = {
        "device_kind": "gpu" if device() == "cuda" else "cpu",
        "device_name": torch.cuda.get_device_name() if device() == "cuda" else (platform.processor() or platform.machine()),
        "cpu": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": version("triton"),
        "tilelang": version("tilelang"),
        "cuda": torch.version.cuda,
        "driver": None,
        "git_commit": git_commit(),
        # which device of the machine ran it: a --devices worker's slot (its CUDA_VISIBLE_DEVICES
        # entry on a GPU), else torch's current GPU
        "device_index": os.environ.get("DSLBENCH_DEVICE_INDEX") or (
            str(torch.cuda.current_device()) if device() == "cuda" else None),
    }
    if device() == "cuda":
        major, minor = torch.cuda.get_device_capability()
        env["compute_capability"] = f"{major}.{minor}"
        env["pci_bus_id"] = current_bus_id()
        env["float32_matmul_precision"] = torch.get_float32_matmul_precision()
        env["driver"] = nvidia_driver()
    return env


def nvidia_driver():
    """The driver version from NVML, else from nvidia-smi; None when neither answers."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlSystemGetDriverVersion()
    except Exception:  # nvidia-ml-py absent or NVML not initializable: ask nvidia-smi
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def pci_bus_id(props):
    """A device's PCI address as NVML and nvidia-smi write it (00000000:18:00.0), from torch's
    device properties; None when this torch does not report it."""
    if not all(hasattr(props, a) for a in ("pci_domain_id", "pci_bus_id", "pci_device_id")):
        return None
    return f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"


def current_bus_id():
    """The PCI bus id of the GPU torch computes on, or None (no GPU, or an older torch)."""
    if not torch.cuda.is_available():
        return None
    return pci_bus_id(torch.cuda.get_device_properties(torch.cuda.current_device()))
