"""Compile kernels/<op>/tilelang.py for a GPU arch without a GPU: TileLang lowers the prim_func
to CUDA source, nvcc (from the CUDA wheels) compiles that to a cubin, as TileLang's own JIT
does on a GPU machine (its flags: C++20, its templates and CUTLASS on the include path).

Only the device code is compiled: TileLang's JIT also builds a host-side launcher library,
which a cubin does not need, so its compile time on a GPU is somewhat longer.
"""
import importlib.metadata
import logging
import math
import subprocess
import tempfile
import time
from pathlib import Path

from bench.core.ops import sibling
from bench.inspect.toolchain import nvcc, tilelang_includes
from kernels import dtypes


def compile_tilelang(spec, shape, dtype, config, arch):
    """Build, lower and nvcc-compile cold for `arch`: (cubin, ptxas log, facts from the lowering)."""
    import tilelang
    import tvm

    tilelang.disable_cache()  # cold, as Triton's
    logging.getLogger("tilelang").setLevel(logging.WARNING)
    factory = getattr(sibling(spec, "tilelang"), f"{spec.NAME}_kernel")
    target = tvm.target.Target({"kind": "cuda", "arch": arch.name})
    t0 = time.perf_counter()
    func = factory(**shape, dtype=dtypes.TILELANG[dtype], **config)
    with target:
        artifact = tilelang.lower(func, target=target)
    t1 = time.perf_counter()
    cubin, log = nvcc_cubin(artifact.kernel_source, arch)
    t2 = time.perf_counter()
    attrs = device_attrs(artifact)
    extent = attrs.get("thread_extent", {})
    facts = {"compile_ms": (t2 - t0) * 1e3, "lower_ms": (t1 - t0) * 1e3, "nvcc_ms": (t2 - t1) * 1e3,
             "threads": math.prod(int(extent.get(f"threadIdx.{axis}", 1)) for axis in "xyz"),
             "dynamic_smem_bytes": int(attrs.get("dyn_shared_memory_buf", 0)),
             "nvcc": importlib.metadata.version("nvidia-cuda-nvcc")}
    return cubin, log, facts


def device_attrs(artifact):
    """The kernel function's attributes (launch extents, dynamic shared memory) after lowering."""
    funcs = [f for f in artifact.device_mod.functions.values() if f.attrs and "thread_extent" in f.attrs]
    if len(funcs) != 1:
        raise RuntimeError(f"expected one device kernel after lowering, found {len(funcs)}")
    return dict(funcs[0].attrs)


def nvcc_cubin(source, arch):
    """nvcc -cubin for exactly `arch`; ptxas -v goes to the log. Raises with nvcc's first error."""
    includes = [f"-I{p}" for p in tilelang_includes()]
    with tempfile.TemporaryDirectory(prefix="dslbench-nvcc-") as tmp:
        src, out = Path(tmp) / "kernel.cu", Path(tmp) / "kernel.cubin"
        src.write_text(source)
        cmd = [str(nvcc()), "-cubin", "-std=c++20", "-w", "-Xcudafe", "--diag_suppress=177", "-lineinfo",
               "-gencode", f"arch={arch.compute},code={arch.name}", *includes, "-Xptxas", "-v",
               "-o", str(out), str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if "error" in line] or done.stderr.splitlines()[-1:]
            raise RuntimeError(f"nvcc failed: {errors[0].strip() if errors else done.returncode}")
        return out.read_bytes(), done.stderr
