"""Compile kernels/<op>/triton.py for a GPU arch without a GPU, exactly as a launch would.

The host wrapper <op>(*inputs, *outputs, **flags, **config) is called on meta tensors (shapes
and dtypes, no memory) with the kernel swapped for a recorder, which catches the launch
arguments. Triton's own binder then turns them into the signature, constexprs and
specialization attributes (16-byte alignment, ints equal to 1 or divisible by 16) that the
JIT would compile on a GPU, so the cubin is the one a run would get. No per-op code.
"""
import contextlib
import io
import os
import tempfile
import time

import torch


class Recorder:
    """Stands in for the @triton.jit kernel: `kernel[grid](*args, **kwargs)` records the call."""

    def __init__(self):
        self.calls = []

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.calls.append((args, kwargs))


def launch_arguments(spec, shape, dtype, config):
    """(the JITFunction, args, kwargs) of the wrapper's launch for this case, on meta tensors."""
    from triton.runtime.jit import JITFunction

    from bench.core.ops import sibling

    module = sibling(spec, "triton")
    op = spec.NAME
    name = f"{op}_kernel"
    kernel = getattr(module, name)
    if not isinstance(kernel, JITFunction):
        raise RuntimeError(f"{module.__name__}.{name} is a {type(kernel).__name__}, not a JITFunction "
                           "(TRITON_INTERPRET must be unset before the kernel module is imported)")
    with torch.device("meta"):  # make_inputs' random numbers cost nothing on meta tensors
        inputs = spec.make_inputs(shape, dtype, 0, "meta")
        outputs = spec.make_outputs(shape, dtype, "meta")
    recorder = Recorder()
    setattr(module, name, recorder)
    try:
        getattr(module, op)(*inputs.values(), *outputs.values(), **spec.kernel_flags(shape), **config)
    finally:
        setattr(module, name, kernel)
    if not recorder.calls:
        raise RuntimeError(f"{module.__name__}.{op} did not launch {name}")
    args, kwargs = recorder.calls[0]
    return kernel, args, kwargs


def compile_triton(spec, shape, dtype, config, arch):
    """Compile cold (an empty cache) for `arch`: (cubin, ptxas log, facts from Triton's metadata)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    kernel, args, kwargs = launch_arguments(spec, shape, dtype, config)
    target = GPUTarget("cuda", arch.capability, 32)
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
    facts = {"compile_ms": compile_ms, "threads": meta.num_warps * 32 * meta.num_ctas,
             "dynamic_smem_bytes": meta.shared}
    return compiled.asm["cubin"], log.getvalue(), facts


def warm_up(arch):
    """Compile a one-line kernel once, so that Triton's one-time setup (loading its LLVM, the
    backend) is not charged to whichever real kernel a worker happens to compile first."""
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    @triton.jit
    def fill(x_ptr):
        tl.store(x_ptr, 1.0)

    with tempfile.TemporaryDirectory(prefix="dslbench-triton-") as cache, contextlib.redirect_stdout(io.StringIO()):
        os.environ["TRITON_CACHE_DIR"] = cache
        triton.compile(ASTSource(fill, {"x_ptr": "*fp32"}), target=GPUTarget("cuda", arch.capability, 32))
