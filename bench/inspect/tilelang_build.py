"""Compile kernels/<op>/tilelang_<track>.py for a GPU arch without a GPU: TileLang lowers the prim_func
to CUDA source, nvcc (the CUDA wheels' or a toolkit's: toolchain.nvcc) compiles that to a cubin, as TileLang's own JIT
does on a GPU machine (its flags: C++20, its templates and CUTLASS on the include path).

Only the device code is compiled: TileLang's JIT also builds a host-side launcher library,
which a cubin does not need, so its compile time on a GPU is somewhat longer.

AMD (gfx942): TileLang lowers to HIP source (MFMA intrinsics), whose compile needs ROCm's
hipcc/amdclang, which is not installed here: the record is `lowered`, not `compiled`, and says so.
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
from bench.inspect.toolchain import nvcc, nvcc_version, tilelang_includes
from kernels import dtypes


def compile_tilelang(spec, backend, shape, dtype, config, arch):
    """Build, lower (with the kernel's PASS_CONFIGS, as tilelang.compile would) and
    nvcc-compile cold for `arch`: ([(cubin, ptxas log, {kernel name: threads, dynamic shared
    memory})], facts). One prim_func may hold several kernels (a split-KV pass and its
    combine): one cubin holds them all. A factory returning {name: (prim_func, pass_configs)}
    (kernels a host function chains) gives one cubin each. For an AMD arch: lowered only, the HIP
    source stands where the cubin does (facts["source"] = "hip-source")."""
    import tilelang
    import tvm

    tilelang.disable_cache()  # cold, as Triton's
    logging.getLogger("tilelang").setLevel(logging.WARNING)
    module = kernel_module(spec, backend, arch.name, dtype)
    factory = getattr(module, f"{spec.NAME}_kernel")
    t0 = time.perf_counter()
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
    t1 = time.perf_counter()
    if arch.vendor == "hip":
        facts = {"lower_ms": (t1 - t0) * 1e3, "source": "hip-source"}
        return [(artifact.kernel_source, "", kernel_launches(artifact)) for artifact in artifacts], facts
    compiler = nvcc()
    parts = [(*nvcc_cubin(artifact.kernel_source, arch, nvcc_flags(configs)), kernel_launches(artifact))
             for artifact, configs in zip(artifacts, pass_configs)]
    t2 = time.perf_counter()
    facts = {"compile_ms": (t2 - t0) * 1e3, "lower_ms": (t1 - t0) * 1e3, "nvcc_ms": (t2 - t1) * 1e3,
             "nvcc": nvcc_version(compiler), "nvcc_path": str(compiler), "source": "sass"}
    return parts, facts


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
    """{kernel name: threads per block, dynamic shared memory} of every device kernel after lowering."""
    out = {}
    for gvar, func in artifact.device_mod.functions.items():
        if not (func.attrs and "thread_extent" in func.attrs):
            continue
        extent = func.attrs["thread_extent"]
        out[gvar.name_hint] = {"threads": math.prod(int(extent.get(f"threadIdx.{axis}", 1)) for axis in "xyz"),
                               "dynamic_smem_bytes": int(func.attrs.get("dyn_shared_memory_buf", 0))}
    if not out:
        raise RuntimeError("no device kernel after lowering")
    return out


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
            errors = [line for line in done.stderr.splitlines() if "error" in line] or done.stderr.splitlines()[-1:]
            raise RuntimeError(f"nvcc failed: {errors[0].strip() if errors else done.returncode}")
        return out.read_bytes(), done.stderr
