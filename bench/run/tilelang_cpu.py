"""Run TileLang's GPU-style kernels on the CPU through its C backend (target="c").

The kernels in kernels/*/tilelang_<track>.py are written once, for the GPU. The C backend has no
shared memory, no thread fragments and no thread launch, so while a kernel is *built*
(its factory called) inside `cpu_dialect()`, four primitives are mapped to their CPU
meaning. Everything else (T.copy, T.gemm, T.Pipelined, T.reduce_*, ...) lowers as written.

Warp-specialized kernels (the roles of a program written as `with T.ws(warpgroup):` sections,
synchronized by mbarriers) run as one thread: each role section is marked while the kernel is
built and `weave_roles` then runs the sections in order, their main loops fused into one, so
that every step runs each role's part of it in program order (a producer fills the buffers of
the next step while the consumers use this step's, as on the GPU). The barriers, register
budgets, proxy fences and asynchronous-MMA waits have no CPU meaning and become no-ops; an
explicit asynchronous MMA is an ordinary gemm. This is the only place that knows about the
difference.
"""
import contextlib
import threading

# fp16 C code cannot be vectorized by TVM's C codegen; scalar code is what we want anyway.
# Loops stay rolled on the CPU even where a kernel asks CUDA for explicit unrolling (a codegen
# workaround there, kernels/attention/tilelang_matched.py): unrolled C takes twice as long to compile.
PASS_CONFIGS = {"tirx.disable_vectorize": True, "tl.UnrollLoop": {"explicit_unroll": False}}
BUILDING = threading.Lock()  # autotune compiles configs in threads; cpu_dialect() is global
ROLE = "dslbench_cpu_role"  # marks a T.ws section while a kernel is built for the CPU
NO_OPS = ("barrier_wait", "barrier_arrive", "set_max_nreg", "fence_proxy_async", "wait_wgmma", "cp_async_barrier_noinc",
          "annotate_producer_reg_dealloc", "annotate_consumer_reg_alloc")


@contextlib.contextmanager
def cpu_dialect():
    """Inside: shared/fragment buffers are plain locals, T.Parallel is a serial T.grid,
    T.Kernel takes no thread count and block rasterization (T.use_swizzle) is a no-op;
    T.ws sections are marked (see weave_roles), mbarriers are placeholders whose waits and
    arrivals do nothing, as do register budgets, proxy fences and WGMMA waits; an
    asynchronous WGMMA is a gemm, the fast reciprocal a division, and a cp.async its element
    copies."""
    import tilelang.language as T

    names = ("alloc_shared", "alloc_fragment", "Parallel", "Kernel", "use_swizzle", "ws", "alloc_barrier",
             "wgmma_gemm", "fast_rcp", "access_ptr", "ptx_cp_async", "tma_copy", *NO_OPS)
    saved = {n: getattr(T, n) for n in names}
    kernel = saved["Kernel"]
    T.alloc_shared = lambda shape, dtype, *args, **kwargs: T.alloc_local(shape, dtype)
    T.alloc_fragment = lambda shape, dtype, *args, **kwargs: T.alloc_local(shape, dtype)
    T.Parallel = lambda *extents, **kwargs: T.grid(*extents)
    T.Kernel = lambda *blocks, threads=None, **kwargs: kernel(*blocks, **kwargs)
    T.use_swizzle = lambda *args, **kwargs: None
    T.ws = lambda *warpgroups: T.attr(0, ROLE, warpgroups[0])
    T.alloc_barrier = lambda counts: T.alloc_local((len(counts) if isinstance(counts, (list, tuple)) else 1,), "int32")
    T.wgmma_gemm = T.gemm
    T.fast_rcp = lambda x: 1.0 / x
    T.access_ptr = lambda load, *args, **kwargs: load  # only ever handed to ptx_cp_async, below
    T.ptx_cp_async = copy_elements
    T.tma_copy = lambda src, dst, **kwargs: T.copy(src, dst)  # its barrier's arrival is a no-op here
    for name in NO_OPS:
        setattr(T, name, lambda *args, **kwargs: T.evaluate(0))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(T, name, value)


def copy_elements(dst, src, count, predicate=None):
    """T.ptx_cp_async(T.access_ptr(dst), T.access_ptr(src), count) on the CPU: `count` element
    stores along the last index (the C backend has no cp.async; its completion, the barrier
    arrival, is a no-op here)."""
    import tilelang.language as T

    for e in range(count):
        value = type(src)(src.buffer, [*src.indices[:-1], src.indices[-1] + e])
        T.buffer_store(dst.buffer, value, [*dst.indices[:-1], dst.indices[-1] + e])


def weave_roles(func):
    """The kernel with its T.ws role sections run by one thread. Consecutive sections whose
    main loops share a loop variable name (each role's loop over the same steps, written with
    the same name; the only top-level loop of that name in each section) and an extent become
    [every section's statements before its main loop, in order; one loop whose body is every
    section's loop body, in order; every section's statements after it, in order]. Sections
    without such a loop run one after the other."""
    from tvm import tirx
    from tvm.tirx import stmt_functor

    def is_role(stmt):
        return isinstance(stmt, tirx.AttrStmt) and stmt.attr_key == ROLE

    def flat(stmt):
        return list(stmt.seq) if isinstance(stmt, tirx.SeqStmt) else [stmt]

    def loops(section):  # {loop variable name: position} of its top-level serial loops
        body = flat(section.body)
        names = [s.loop_var.name for s in body if isinstance(s, tirx.For)]
        return {s.loop_var.name: i for i, s in enumerate(body)
                if isinstance(s, tirx.For) and names.count(s.loop_var.name) == 1}

    def woven(sections):
        common = set.intersection(*(set(loops(s)) for s in sections)) if len(sections) > 1 else set()
        main = [name for name in common if len({str(flat(s.body)[loops(s)[name]].extent) for s in sections}) == 1]
        if len(main) != 1:
            return [s for section in sections for s in flat(section.body)]
        parts = []
        for section in sections:
            body, i = flat(section.body), loops(section)[main[0]]
            parts.append((body[:i], body[i], body[i + 1:]))
        loop = parts[0][1]
        bodies = [stmt_functor.substitute(p[1].body, {p[1].loop_var: loop.loop_var}) for p in parts]
        fused = tirx.For(loop.loop_var, loop.min, loop.extent, loop.kind, tirx.SeqStmt(bodies))
        return [s for p in parts for s in p[0]] + [fused] + [s for p in parts for s in p[2]]

    def rewrite(stmt):
        if not isinstance(stmt, tirx.SeqStmt) or not any(is_role(s) for s in stmt.seq):
            return None
        out, run = [], []
        for s in list(stmt.seq) + [None]:
            if s is not None and is_role(s):
                run.append(s)
                continue
            out += woven(run) if run else []
            run = []
            if s is not None:
                out.append(s)
        return tirx.SeqStmt(out)

    body = stmt_functor.ir_transform(func.body, None, rewrite, ["tirx.SeqStmt"])
    return func.with_body(body)


def compile_cpu(factory, pass_configs=None, *args, **kwargs):
    """Build factory(*args, **kwargs) in the CPU dialect and compile it for target="c", with
    the kernel's own pass configs (e.g. TMA lowering off) and the CPU path's. A factory that
    returns {name: (prim_func, pass_configs)} gets {name: compiled kernel}."""
    import tilelang

    with BUILDING, cpu_dialect():  # the dialect patches the module: one build at a time
        built = factory(*args, **kwargs)
    funcs = built if isinstance(built, dict) else {None: (built, pass_configs)}
    kernels = {name: tilelang.compile(weave_roles(func), target="c", pass_configs={**(configs or {}), **PASS_CONFIGS})
               for name, (func, configs) in funcs.items()}
    return kernels if isinstance(built, dict) else kernels[None]
