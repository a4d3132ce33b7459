"""Run TileLang's GPU-style kernels on the CPU through its C backend (target="c").

The kernels in kernels/*/tilelang_<track>.py are written once, for the GPU. The C backend has no
shared memory, no thread fragments and no thread launch, so while a kernel is *built*
(its factory called) inside `cpu_dialect()`, four primitives are mapped to their CPU
meaning. Everything else (T.copy, T.gemm, T.Pipelined, T.reduce_*, ...) lowers as written.
This is the only place that knows about the difference.
"""
import contextlib
import threading

# fp16 C code cannot be vectorized by TVM's C codegen; scalar code is what we want anyway.
PASS_CONFIGS = {"tirx.disable_vectorize": True}
BUILDING = threading.Lock()  # autotune compiles configs in threads; cpu_dialect() is global


@contextlib.contextmanager
def cpu_dialect():
    """Inside: shared/fragment buffers are plain locals, T.Parallel is a serial T.grid,
    T.Kernel takes no thread count and block rasterization (T.use_swizzle) is a no-op."""
    import tilelang.language as T

    saved = {n: getattr(T, n) for n in ("alloc_shared", "alloc_fragment", "Parallel", "Kernel", "use_swizzle")}
    kernel = saved["Kernel"]
    T.alloc_shared = lambda shape, dtype, *args, **kwargs: T.alloc_local(shape, dtype)
    T.alloc_fragment = lambda shape, dtype, *args, **kwargs: T.alloc_local(shape, dtype)
    T.Parallel = lambda *extents, **kwargs: T.grid(*extents)
    T.Kernel = lambda *blocks, threads=None, **kwargs: kernel(*blocks, **kwargs)
    T.use_swizzle = lambda *args, **kwargs: None
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(T, name, value)


def compile_cpu(factory, pass_configs=None, *args, **kwargs):
    """Build factory(*args, **kwargs) in the CPU dialect and compile it for target="c", with
    the kernel's own pass configs (e.g. TMA lowering off) and the CPU path's."""
    import tilelang

    with BUILDING, cpu_dialect():  # the dialect patches the module: one build at a time
        func = factory(*args, **kwargs)
    return tilelang.compile(func, target="c", pass_configs={**(pass_configs or {}), **PASS_CONFIGS})
