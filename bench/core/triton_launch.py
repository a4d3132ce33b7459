"""A Triton wrapper's launches caught and bound as Triton's JIT binds them, without a GPU.

The host wrapper <op>(*inputs, *outputs, **flags, **config) is called on meta tensors (shapes
and dtypes, no memory) with every @triton.jit kernel of the module swapped for a recorder,
which catches the launch arguments of each kernel it launches. Triton's own binder then turns
them into the signature, constexprs and specialization attributes (16-byte alignment, ints
equal to 1 or divisible by 16) that the JIT would compile on a GPU: the source triton.compile
gets and keys its disk cache on. `dslbench inspect` compiles it for any arch
(bench/inspect/triton_build.py); the compile-ahead pool compiles it into the cache a timing
worker's JIT then loads from (bench/run/ahead_pool.py). Both call the wrapper inside
kernels.compiling_for(arch), so that it takes the code path a launch on that GPU takes. No
per-op code.
"""
import os

import torch


class Recorder:
    """Stands in for a @triton.jit kernel: `kernel[grid](*args, **kwargs)` records the call."""

    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.calls.append((self.name, args, kwargs))


def launches(spec, backend, shape, dtype, config, arch=None, device="meta"):
    """[(the JITFunction, args, kwargs)] of the wrapper's launches for this case, in order, on
    meta tensors (or real ones on `device`); one per kernel (a split-KV pass and its combine are
    two). Every @triton.jit function of the kernel module is swapped for a recorder while the
    wrapper runs."""
    from triton.runtime.jit import JITFunction

    from bench.core.ops import is_user, kernel_module

    module = kernel_module(spec, backend, arch, dtype)
    op, name = spec.NAME, f"{spec.NAME}_kernel"
    kernels = jit_kernels(module)
    if is_user(backend) and not kernels:  # a user's file may name its kernels as it likes
        raise RuntimeError(f"{module.__file__} defines no @triton.jit kernel (TRITON_INTERPRET must be unset "
                           "before it is imported)")
    if not is_user(backend) and not isinstance(getattr(module, name, None), JITFunction):
        raise RuntimeError(f"{module.__name__}.{name} is a {type(getattr(module, name, None)).__name__}, not a "
                           "JITFunction (TRITON_INTERPRET must be unset before the kernel module is imported)")
    with torch.device(device):  # make_inputs' random numbers cost nothing on meta tensors
        inputs = spec.make_inputs(shape, dtype, 0, device)
        outputs = spec.make_outputs(shape, dtype, device)
        make = getattr(module, "workspace", None)
        scratch = make(shape, dtype, config, device) if make else {}
    calls = []
    for (home, n) in kernels:
        setattr(home, n, Recorder((home, n), calls))
    try:
        getattr(module, op)(*inputs.values(), *outputs.values(), **scratch, **spec.kernel_flags(shape), **config)
    finally:
        for (home, n), f in kernels.items():
            setattr(home, n, f)
    if not calls:
        raise RuntimeError(f"{module.__name__}.{op} did not launch "
                           f"{', '.join(n for _, n in kernels) if is_user(backend) else name}")
    first = {}
    for n, args, kwargs in calls:  # a kernel launched twice is compiled once
        first.setdefault(n, (kernels[n], args, kwargs))
    return list(first.values())


def jit_kernels(module):
    """{(module, name): JITFunction}: the module's @triton.jit kernels, and those of the modules
    it chains (LAUNCHES_FROM: a step of several ops launches their modules' kernels)."""
    from triton.runtime.jit import JITFunction

    return {(home, n): f for home in (module, *getattr(module, "LAUNCHES_FROM", ()))
            for n, f in vars(home).items() if isinstance(f, JITFunction)}


def source_of(kernel, args, kwargs, target):
    """(ASTSource, options) of one launch, bound as Triton's JIT binds a launch on a GPU of that
    target (signature, constexprs, specialization): what triton.compile gets, and keys its cache on."""
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    backend = make_backend(target)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(backend, kwargs, bound, specialization, options)
    return ASTSource(kernel, signature, constexprs, attrs), options.__dict__


def cuda_target(arch):
    """Triton's GPUTarget of a CUDA arch name (bench.core.ops.cuda_arch's): sm_90a -> capability 90."""
    from triton.backends.compiler import GPUTarget

    return GPUTarget("cuda", int("".join(ch for ch in arch if ch.isdigit())), 32)


def warm_up(target):
    """Compile a one-line kernel once, so that Triton's one-time setup (loading its LLVM, the
    backend) is not charged to whichever real kernel a process happens to compile first."""
    import contextlib
    import io
    import tempfile

    import triton
    import triton.language as tl
    from triton.compiler import ASTSource

    @triton.jit
    def fill(x_ptr):
        tl.store(x_ptr, 1.0)

    with tempfile.TemporaryDirectory(prefix="dslbench-triton-") as cache, contextlib.redirect_stdout(io.StringIO()):
        os.environ["TRITON_CACHE_DIR"] = cache
        triton.compile(ASTSource(fill, {"x_ptr": "*fp32"}), target=target)
