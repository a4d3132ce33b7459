"""Compile kernels/<op>/triton_<track>.py for a GPU arch without a GPU, exactly as a launch would
(NVIDIA: a cubin; AMD gfx942: amdgcn assembly and a code object, from Triton's own LLVM).

The host wrapper <op>(*inputs, *outputs, **flags, **config) is called on meta tensors (shapes
and dtypes, no memory) with every @triton.jit kernel of the module swapped for a recorder,
which catches the launch arguments of each kernel it launches. Triton's own binder then turns
them into the signature, constexprs and specialization attributes (16-byte alignment, ints
equal to 1 or divisible by 16) that the JIT would compile on a GPU, so each cubin is the one
a run would get. No per-op code.
"""
import contextlib
import io
import os
import tempfile
import time

import torch


class Recorder:
    """Stands in for a @triton.jit kernel: `kernel[grid](*args, **kwargs)` records the call."""

    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.calls.append((self.name, args, kwargs))


def launches(spec, backend, shape, dtype, config, arch=None):
    """[(the JITFunction, args, kwargs)] of the wrapper's launches for this case, in order, on
    meta tensors; one per kernel (a split-KV pass and its combine are two). Every @triton.jit
    function of the kernel module is swapped for a recorder while the wrapper runs."""
    from triton.runtime.jit import JITFunction

    from bench.core.ops import kernel_module

    module = kernel_module(spec, backend, arch, dtype)
    op, name = spec.NAME, f"{spec.NAME}_kernel"
    if not isinstance(getattr(module, name, None), JITFunction):
        raise RuntimeError(f"{module.__name__}.{name} is a {type(getattr(module, name, None)).__name__}, not a "
                           "JITFunction (TRITON_INTERPRET must be unset before the kernel module is imported)")
    kernels = {n: f for n, f in vars(module).items() if isinstance(f, JITFunction)}
    with torch.device("meta"):  # make_inputs' random numbers cost nothing on meta tensors
        inputs = spec.make_inputs(shape, dtype, 0, "meta")
        outputs = spec.make_outputs(shape, dtype, "meta")
        make = getattr(module, "workspace", None)
        scratch = make(shape, dtype, config, "meta") if make else {}
    calls = []
    for n in kernels:
        setattr(module, n, Recorder(n, calls))
    try:
        getattr(module, op)(*inputs.values(), *outputs.values(), **scratch, **spec.kernel_flags(shape), **config)
    finally:
        for n, f in kernels.items():
            setattr(module, n, f)
    if not calls:
        raise RuntimeError(f"{module.__name__}.{op} did not launch {name}")
    first = {}
    for n, args, kwargs in calls:  # a kernel launched twice is compiled once
        first.setdefault(n, (kernels[n], args, kwargs))
    return list(first.values())


def compile_triton(spec, backend, shape, dtype, config, arch):
    """Compile every kernel the wrapper launches, cold (an empty cache), for `arch`:
    ([(cubin, ptxas log, {kernel name: threads, dynamic shared memory})], facts); for an AMD
    arch the amdgcn assembly stands where the cubin does (facts["source"] says which)."""
    parts, compile_ms = [], 0.0
    for kernel, args, kwargs in launches(spec, backend, shape, dtype, config, arch.name):
        binary, log, name, facts, ms = compile_launch(kernel, args, kwargs, arch)
        parts.append((binary, log, {name: facts}))
        compile_ms += ms
    return parts, {"compile_ms": compile_ms, "source": "amdgcn" if arch.vendor == "hip" else "sass"}


def compile_launch(kernel, args, kwargs, arch):
    """One launch compiled as Triton's JIT would compile it on that GPU: (cubin, or amdgcn
    assembly for AMD, the ptxas log, kernel name, {threads, dynamic shared memory}, ms)."""
    import triton
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    target = arch.triton_target()
    backend = make_backend(target)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(backend, kwargs, bound, specialization, options)
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="dslbench-triton-") as cache:
        os.environ["TRITON_CACHE_DIR"] = cache  # cold: nothing to reuse
        os.environ["TRITON_DUMP_PTXAS_LOG"] = "1"  # Triton prints `ptxas -v` to stdout
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(log):
            compiled = triton.compile(ASTSource(kernel, signature, constexprs, attrs), target=target,
                                      options=options.__dict__)
        compile_ms = (time.perf_counter() - t0) * 1e3
    meta = compiled.metadata
    facts = {"threads": meta.num_warps * target.warp_size * meta.num_ctas, "dynamic_smem_bytes": meta.shared}
    binary = compiled.asm["amdgcn"] if arch.vendor == "hip" else compiled.asm["cubin"]
    return binary, log.getvalue(), meta.name, facts, compile_ms


def warm_up(arch):
    """Compile a one-line kernel once, so that Triton's one-time setup (loading its LLVM, the
    backend) is not charged to whichever real kernel a worker happens to compile first."""
    import triton
    import triton.language as tl
    from triton.compiler import ASTSource

    @triton.jit
    def fill(x_ptr):
        tl.store(x_ptr, 1.0)

    with tempfile.TemporaryDirectory(prefix="dslbench-triton-") as cache, contextlib.redirect_stdout(io.StringIO()):
        os.environ["TRITON_CACHE_DIR"] = cache
        triton.compile(ASTSource(fill, {"x_ptr": "*fp32"}), target=arch.triton_target())
