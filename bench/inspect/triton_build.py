"""Compile kernels/<op>/triton_<track>.py for a GPU arch without a GPU, exactly as a launch would
(NVIDIA: a cubin; AMD gfx942: amdgcn assembly and a code object, from Triton's own LLVM).

The wrapper's launches are caught on meta tensors and bound by Triton's own binder
(bench/core/triton_launch.py), so each cubin is the one a run would get. No per-op code.
"""
import contextlib
import io
import os
import tempfile
import time

from bench.core import triton_launch
from bench.core.triton_launch import launches, source_of
from kernels import compiling_for


def compile_triton(spec, backend, shape, dtype, config, arch):
    """Compile every kernel the wrapper launches, cold (an empty cache), for `arch`:
    ([(cubin, ptxas log, {kernel name: threads, dynamic shared memory})], facts); for an AMD
    arch the amdgcn assembly stands where the cubin does (facts["source"] says which)."""
    parts, compile_ms = [], 0.0
    with compiling_for(arch.name):  # the code path a launch on that GPU takes
        found = launches(spec, backend, shape, dtype, config, arch.name)
    for kernel, args, kwargs in found:
        binary, log, name, facts, ms = compile_launch(kernel, args, kwargs, arch)
        parts.append((binary, log, {name: facts}))
        compile_ms += ms
    return parts, {"compile_ms": compile_ms, "source": "amdgcn" if arch.vendor == "hip" else "sass"}


def compile_launch(kernel, args, kwargs, arch):
    """One launch compiled as Triton's JIT would compile it on that GPU: (cubin, or amdgcn
    assembly for AMD, the ptxas log, kernel name, {threads, dynamic shared memory}, ms)."""
    import triton

    target = arch.triton_target()
    source, options = source_of(kernel, args, kwargs, target)
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="dslbench-triton-") as cache:
        os.environ["TRITON_CACHE_DIR"] = cache  # cold: nothing to reuse
        os.environ["TRITON_DUMP_PTXAS_LOG"] = "1"  # Triton prints `ptxas -v` to stdout
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(log):
            compiled = triton.compile(source, target=target, options=options)
        compile_ms = (time.perf_counter() - t0) * 1e3
    meta = compiled.metadata
    facts = {"threads": meta.num_warps * target.warp_size * meta.num_ctas, "dynamic_smem_bytes": meta.shared}
    binary = compiled.asm["amdgcn"] if arch.vendor == "hip" else compiled.asm["cubin"]
    return binary, log.getvalue(), meta.name, facts, compile_ms


def warm_up(arch):
    """Triton's one-time setup paid once for `arch`, not by the first real compile."""
    triton_launch.warm_up(arch.triton_target())
