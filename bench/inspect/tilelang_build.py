"""Compile kernels/<op>/tilelang_<track>.py for a GPU arch without a GPU: TileLang lowers the prim_func
to CUDA source, nvcc (the CUDA wheels' or a toolkit's: toolchain.nvcc) compiles that to a cubin, as TileLang's own JIT
does on a GPU machine (its flags: C++20, its templates and CUTLASS on the include path).

Only the device code is compiled: TileLang's JIT also builds a host-side launcher library,
which a cubin does not need, so its compile time on a GPU is somewhat longer.

AMD (gfx942): TileLang lowers to HIP source (MFMA intrinsics), whose compile needs ROCm's
hipcc/amdclang, which is not installed here: the record is `lowered`, not `compiled`, and says so.
Huawei Ascend (ascend) likewise: TileLang's Ascend backend lowers to AscendC source, whose compile
needs CANN's bisheng (bench/inspect/ascend.py reads the source).
"""
import contextlib
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.core.ops import kernel_module
from bench.inspect import ascend
from bench.inspect.toolchain import nvcc, nvcc_version, tilelang_includes
from kernels import Skip, dtypes


def compile_tilelang(spec, backend, shape, dtype, config, arch):
    """Build, lower (with the kernel's PASS_CONFIGS, as tilelang.compile would) and
    nvcc-compile cold for `arch`: ([(cubin, ptxas log, {kernel name: threads, dynamic shared
    memory})], facts). One prim_func may hold several kernels (a split-KV pass and its
    combine): one cubin holds them all. A factory returning {name: (prim_func, pass_configs)}
    (kernels a host function chains) gives one cubin each. For an AMD arch: lowered only, the HIP
    source stands where the cubin does (facts["source"] = "hip-source"); for ascend the AscendC
    source ("ascend-source"), and a lowering that fails raises LoweringFailed with its telling line."""
    import tilelang

    tilelang.disable_cache()  # cold, as Triton's
    logging.getLogger("tilelang").setLevel(logging.WARNING)
    module = kernel_module(spec, backend, arch.name, dtype)
    factory = getattr(module, f"{spec.NAME}_kernel")
    t0 = time.perf_counter()
    try:
        artifacts, pass_configs = lower_all(module, factory, shape, dtype, config, arch)
    except Skip:
        raise
    except Exception as exc:
        if arch.vendor == "ascend":  # a CUDA-shaped kernel the Ascend backend refuses: a result, said in one line
            raise LoweringFailed(ascend.reason(exc)) from None
        raise
    t1 = time.perf_counter()
    if arch.vendor in SOURCE_ONLY:
        facts = {"lower_ms": (t1 - t0) * 1e3, "source": SOURCE_ONLY[arch.vendor]}
        return [(artifact.kernel_source, "", kernel_launches(artifact)) for artifact in artifacts], facts
    compiler = nvcc()
    parts = [(*nvcc_cubin(artifact.kernel_source, arch, nvcc_flags(configs)), kernel_launches(artifact))
             for artifact, configs in zip(artifacts, pass_configs)]
    t2 = time.perf_counter()
    facts = {"compile_ms": (t2 - t0) * 1e3, "lower_ms": (t1 - t0) * 1e3, "nvcc_ms": (t2 - t1) * 1e3,
             "nvcc": nvcc_version(compiler), "nvcc_path": str(compiler), "source": "sass"}
    return parts, facts


# What stands for the binary where none can be built here: AMD's HIP source (needs ROCm), Huawei
# Ascend's AscendC source (needs CANN's bisheng).
SOURCE_ONLY = {"hip": "hip-source", "ascend": "ascend-source"}


class LoweringFailed(Exception):
    """TileLang's Ascend backend refused a kernel; the message is the one line the record keeps."""


def lower_all(module, factory, shape, dtype, config, arch):
    """([lowered artifact], [pass configs]) of every kernel the factory returns, for arch's target."""
    import tilelang
    import tvm

    with without_rocm_probe_warnings() if arch.vendor == "hip" else contextlib.nullcontext():
        target = arch.tilelang_target()
        with tvm.transform.PassContext(opt_level=3, config=dict(getattr(module, "PASS_CONFIGS", {}))), target:
            func = factory(**shape, dtype=dtypes.TILELANG[dtype], **config)
            if not isinstance(func, dict):
                artifacts = [tilelang.lower(func, target=target)]
                pass_configs = [getattr(module, "PASS_CONFIGS", {})]
        if isinstance(func, dict):  # several kernels chained by a host function, each with its pass configs
            artifacts, pass_configs = [], []
            for prim_func, configs in func.values():
                with tvm.transform.PassContext(opt_level=3, config=dict(configs)), target:
                    artifacts.append(tilelang.lower(prim_func, target=target))
                pass_configs.append(configs)
    return artifacts, pass_configs


@contextlib.contextmanager
def without_rocm_probe_warnings():
    """TVM's C++ side warns on stderr, several times per HIP lowering, that it cannot find ROCm
    ("Unable to detect ROCm version"): expected here, so those lines are dropped; every other
    line it writes is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if "Unable to detect ROCm version" not in line))


def kernel_launches(artifact):
    """{kernel name: threads per block, dynamic shared memory} of every device kernel after lowering.
    An Ascend kernel launches blocks (NPU cores) with no threads at kernel scope: threads None."""
    out = {}
    for gvar, func in artifact.device_mod.functions.items():
        if not (func.attrs and "thread_extent" in func.attrs):
            continue
        extent = func.attrs["thread_extent"]
        threads = [int(extent[f"threadIdx.{axis}"]) for axis in "xyz" if f"threadIdx.{axis}" in extent]
        out[gvar.name_hint] = {"threads": math.prod(threads) if threads or not is_ascend(func) else None,
                               "dynamic_smem_bytes": int(func.attrs.get("dyn_shared_memory_buf", 0))}
    if not out:
        raise RuntimeError("no device kernel after lowering")
    return out


def is_ascend(func):
    """Whether a lowered device function targets Ascend (its launch is a 1-D grid of NPU cores)."""
    target = func.attrs.get("target")
    return target is not None and target.kind.name == "ascend"


def nvcc_flags(pass_configs):
    """The nvcc flags TileLang's own CUDA compile derives from a kernel's pass configs
    (tilelang/cuda/backend.py): --use_fast_math when "tl.enable_fast_math" is set."""
    return ["--use_fast_math"] if pass_configs.get("tl.enable_fast_math") else []


def nvcc_cubin(source, arch, flags=()):
    """nvcc -cubin for exactly `arch`, with `flags` added; ptxas -v goes to the log. Raises
    with nvcc's first error."""
    includes = [f"-I{p}" for p in tilelang_includes()]
    with tempfile.TemporaryDirectory(prefix="dslbench-nvcc-") as tmp:
        src, out = Path(tmp) / "kernel.cu", Path(tmp) / "kernel.cubin"
        src.write_text(source)
        cmd = [str(nvcc()), "-cubin", "-std=c++20", "-w", "-Xcudafe", "--diag_suppress=177", "-lineinfo",
               "-gencode", f"arch={arch.compute},code={arch.name}", *includes, *flags, "-Xptxas", "-v",
               "-o", str(out), str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"nvcc failed: {first_error(done.stderr) or done.returncode}")
        return out.read_bytes(), done.stderr


def first_error(log):
    """The line of nvcc's output that says why: a compile error, or ptxas's own refusal ("ptxas
    fatal : (C7602) Insufficient registers ...") rather than nvcc's closing "Ptx assembly aborted
    due to errors"; else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if ("error" in line or "fatal" in line) and "aborted due to errors" not in line]
    return (errors or [line for line in lines if "error" in line] or lines[-1:] or [""])[0]
