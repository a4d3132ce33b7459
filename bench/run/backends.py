"""How each backend runs an op: prepare once (compile), then a zero-argument closure.

Conventions every op folder follows, so that this file needs no per-op code. A DSL backend
`<dsl>-<track>` lives in kernels/<op>/<dsl>_<track>.py (bench/core/ops.py):
- triton_<track>.py has a host wrapper named <op>: <op>(*inputs, *outputs, **flags, **config),
  where flags = spec.kernel_flags(shape) (e.g. causal) and config is one of
  spec.configs_for(dtype, track); its @triton.jit kernel is <op>_kernel.
- tilelang_<track>.py has a factory <op>_kernel(**shape, dtype=..., **config) returning a
  prim_func whose parameters are (*inputs, *outputs) in the spec's order; PASS_CONFIGS, if
  set, are the TileLang pass configs it is compiled with (e.g. TMA lowering off).
- Either may define workspace(shape, dtype, config, device) -> {name: tensor}: scratch
  buffers (split-KV partials, ...) allocated once, outside the timed call, and passed after
  the outputs (Triton: as keywords; TileLang: as the prim_func's next parameters, in order).
- On a GPU, an arch variant kernels/<op>/<dsl>_<track>_<arch>.py (e.g. tilelang_best_sm100a.py on
  a compute capability 10.0 device) replaces <dsl>_<track>.py (bench/core/ops.py, kernel_module).
- kernels/<op>/baselines.py maps a vendor backend name to fn(*inputs, *outputs, **flags);
  fn.outputs, if set, names the outputs it produces (e.g. SDPA: o but no lse): only those are checked.
- A user's kernel file (user:<name>, bench/core/user.py) has a host function <op>(*inputs,
  *outputs, **flags, **config) called as a Triton wrapper is (its CONFIGS autotuned alike), or a
  TileLang factory <op>_kernel compiled as ours are.
- A TileLang factory may instead return {name: (prim_func, pass_configs)}: several kernels,
  each compiled with its own pass configs, that the module's host function
  <op>(kernels, *inputs, *outputs, *workspace) chains (with host work between them, such as
  a torch top-k), kernels being {name: compiled kernel}.
- An op made of stages (spec.STAGES, e.g. indexer, top-k, sparse MLA) has every host function
  (Triton's, TileLang's chaining one, each baseline) take `stage=`: None runs them all, a
  stage's name only that stage (on what the earlier stages left in the outputs). The
  prepared run's `stages` are those closures; the runner times them after the whole.
On the CPU, Triton runs in its interpreter and TileLang through its C backend; a dtype
that CPU path cannot hold runs on values rounded to it, stored in fp32 (`emulated`).
"""
import functools
import importlib.util
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from bench.core import user
from bench.core.ops import (backend_dsl, cuda_arch, dsl_backends, is_user, kernel_module, load_user_kernel, sibling,
                            split_backend, user_backends, user_kernel)
from bench.run import guards, timing
from kernels import Skip, dtypes  # noqa: F401  (Skip: bench.run.backends.Skip for the harness)

# dtypes each CPU path computes natively; tensors of the others are emulated in fp32
# storage (outputs rounded into their dtype after each run). Triton's interpreter multiplies
# bf16 bit patterns in tl.dot, truncates fp32 -> bf16 and loses the carry into the exponent
# in fp32 -> e4m3 (upstream bugs), but reads e4m3 exactly (tl.dot widens it through fp16):
# e4m3 inputs stay e4m3 there. TileLang's C backend has no bf16 or fp8 C type.
# finding: findings/triton_interpreter_bf16_dot.py
# finding: findings/triton_interpreter_bf16_cast.py
# finding: findings/triton_interpreter_e4m3_cast.py
CPU_NATIVE = {"triton": ("fp32", "fp16"), "tilelang": ("fp32", "fp16")}
# finding: findings/triton_interpreter_e4m3_cast.py
CPU_NATIVE_INPUTS = {"triton": ("e4m3",)}
CPU_PATH = {"triton": "Triton interpreter", "tilelang": "TileLang C backend", "reference": "float64 on the CPU"}
VENDOR_CPU_PATH = "torch on the CPU"  # every vendor baseline that runs without a GPU
USER_CPU_PATH = "its own code on the CPU"  # a user's kernel in neither Triton nor TileLang


@dataclass
class Prepared:
    run: Callable[[], None]  # writes `outputs`; the only thing timed
    outputs: dict
    emulated: bool = False
    compile_ms: float = 0.0
    autotune_ms: float = 0.0
    config: dict | None = None
    tried: list = field(default_factory=list)  # autotune: (config, median_ms) per config
    stages: dict = field(default_factory=dict)  # spec.STAGES: {stage: a run of that stage alone}
    inputs: dict = field(default_factory=dict)  # the tensors the run reads (fp32 copies where emulated)
    poison: Callable[[], None] = lambda: None  # refills every output the run writes with its poison
    ahead: dict | None = None  # the compile-ahead pool's mark when it built this config (bench/run/ahead.py)
    cold_compile_ms: float | None = None  # the first config's compile, cold and alone in this process (None: the pool's)


def backends_for(spec):
    """Both DSLs in each of the op's tracks, its vendor baselines (named in its spec, so
    baselines.py is not imported to list them), the users' kernels given to this run, and the
    float64 reference."""
    return [*dsl_backends(spec), *getattr(spec, "BASELINES", ()), *user_backends(spec), "reference"]


def cpu_path(backend):
    """Which CPU path runs a backend without a GPU."""
    dsl = backend_dsl(backend)
    return CPU_PATH.get(dsl or backend, USER_CPU_PATH if is_user(backend) else VENDOR_CPU_PATH)


def support(backend, dtype, device, spec):
    """'native', 'emulated', or a reason it cannot run (a string starting 'skipped: '). A user
    kernel's own limits (DEVICES, DTYPES, a package it imports) are found when it is imported."""
    dsl = backend_dsl(backend)
    if is_user(backend) and dsl not in CPU_NATIVE:
        return "native"
    if dsl:
        if importlib.util.find_spec(dsl) is None:
            return f"skipped: {dsl} is not installed"
        if device == "cpu" and dtype not in CPU_NATIVE[dsl]:
            return "emulated"
    elif backend != "reference":
        fn = sibling(spec, "baselines").BASELINES[backend]
        reason = getattr(fn, "unavailable", lambda *a: None)(dtype, device)
        if reason:
            return f"skipped: {reason}"
    return "native"


def load_triton(spec, backend, device):
    """Import the backend's triton_<track>.py, in Triton's interpreter when there is no GPU.

    TRITON_INTERPRET is read when @triton.jit decorates, so it must be set before import."""
    if device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    module = kernel_module(spec, backend, device_arch(device))
    interpreted = type(getattr(module, f"{spec.NAME}_kernel")).__name__ == "InterpretedFunction"
    if interpreted != (device == "cpu"):
        raise RuntimeError(f"{module.__name__} was imported before TRITON_INTERPRET was set for {device}")
    return module


def device_arch(device):
    """The GPU's arch name (sm_100a on a B200), which picks an arch variant of a kernel
    (kernels/<op>/<dsl>_<track>_<arch>.py) where one exists; None on the CPU."""
    return cuda_arch(torch.cuda.get_device_capability()) if device == "cuda" else None


def emulate(tensors, native):
    """Tensors of a dtype not in `native` widened to fp32 storage (values unchanged: they
    are already rounded); the others as they are."""
    lacking = [t for name, t in dtypes.TORCH.items() if name not in native]
    return {k: v.float() if v.dtype in lacking else v for k, v in tensors.items()}


def prepare(backend, spec, shape, dtype, config, inputs, device, exclude=()):
    """Compile (and on a GPU, autotune) `backend` for this case; return what to time.
    config: one config of the track's list, "first" (the list's first), "autotune" (the whole
    list) or "autotune:N" (its first N); a user kernel's list is its file's CONFIGS.
    exclude: [{config, reason}] of configs that faulted in an earlier process (not tried again).
    The outputs are poisoned before every call whose result is kept (bench/run/guards.py)."""
    if backend == "reference":  # the float64 computation: what its run does, and times
        run = lambda: spec.reference(inputs, **spec.kernel_flags(shape))  # noqa: E731
        return Prepared(run=run, outputs=run())
    state = support(backend, dtype, device, spec)
    if state.startswith("skipped"):
        raise Skip(state[len("skipped: "):])
    emulated = state == "emulated"
    real_outputs = spec.make_outputs(shape, dtype, device)
    dsl, track = backend_dsl(backend), split_backend(backend)[1]
    native = CPU_NATIVE.get(dsl, ())
    run_in = emulate(inputs, native + CPU_NATIVE_INPUTS.get(dsl, ())) if emulated else inputs
    run_out = emulate(real_outputs, native) if emulated else real_outputs
    poison = guards.Poison([*run_out.values(), *real_outputs.values()])
    flags, produces, stages = spec.kernel_flags(shape), spec.OUTPUTS, getattr(spec, "STAGES", ())
    compute_dtype = dtype if not emulated else "fp32"
    if is_user(backend):
        module = user_module(backend, dtype, device)
        configs = user.configs(module)
        if user_kernel(backend)["host"] == "factory":
            build = tilelang_builder(spec, backend, shape, compute_dtype, run_in, run_out, device, stages, module)
        else:
            build = host_builder(module, spec, shape, dtype, flags, run_in, run_out, device, stages)
    elif dsl in ("triton", "tilelang"):
        configs = spec.configs_for(dtype, track)
        if dsl == "triton":
            build = host_builder(load_triton(spec, backend, device), spec, shape, dtype, flags, run_in, run_out,
                                 device, stages, backend)
        else:
            build = tilelang_builder(spec, backend, shape, compute_dtype, run_in, run_out, device, stages)
    else:
        fn = sibling(spec, "baselines").BASELINES[backend]
        call = lambda **stage: fn(*run_in.values(), *run_out.values(), **flags, **stage)  # noqa: E731
        build = lambda config: staged(call, stages)  # noqa: E731
        configs, config, produces = [None], None, getattr(fn, "outputs", produces)
    if emulated:
        build = rounding(build, run_out, real_outputs)
    if isinstance(config, str) and config.startswith("autotune"):  # "autotune:2": the list's first two
        count = int(config.partition(":")[2] or 0) or None
        prepared = autotune(build, configs[:count], device, exclude, poison)
    else:
        if config == "first":  # the first config of the list this backend takes
            prepared = first_taken(build, configs, device, poison)
        else:
            prepared = compiled(build, config, device, poison)
        prepared.cold_compile_ms = None if prepared.ahead else prepared.compile_ms
    prepared.outputs = {name: out for name, out in real_outputs.items() if name in produces}
    prepared.emulated, prepared.inputs, prepared.poison = emulated, run_in, poison
    return prepared


def user_module(backend, dtype, device):
    """A user kernel's module, imported, or Skip when it cannot run here: a package it imports
    is not installed, or its DEVICES, DTYPES or unavailable(dtype, device) refuse this case."""
    try:
        module = load_user_kernel(backend, device)
    except ModuleNotFoundError as exc:
        raise Skip(f"{exc.name} is not installed ({user_kernel(backend)['file']} imports it)") from None
    devices = getattr(module, "DEVICES", ("cpu", "cuda"))
    if device not in devices:
        raise Skip("needs a CUDA GPU" if devices == ("cuda",) else f"runs on {', '.join(devices)} only (its DEVICES)")
    taken = getattr(module, "DTYPES", None)
    if taken is not None and dtype not in taken:
        raise Skip(f"takes {', '.join(taken)} only (its DTYPES)")
    reason = getattr(module, "unavailable", lambda *a: None)(dtype, device)
    if reason:
        raise Skip(reason)
    return module


# What a DSL's compiler or the GPU says when a config asks for more than it has: the config is
# one this DSL cannot take (README: the best track's config rule), not an error of the kernel.
REFUSALS = ("out of resource", "insufficient registers", "too many resources requested for launch",
            "uses too much shared data", "dynamic shared memory size")


def refusal(exc):
    """The reason, when `exc` says a DSL cannot take a config: the kernel refused it
    (kernels.Skip) or its resources were refused (shared memory, registers: Triton's
    OutOfResources, ptxas, the launch); None for any other error."""
    if isinstance(exc, Skip):
        return str(exc)
    text = one_line(exc)
    if type(exc).__name__ == "OutOfResources" or any(word in text.lower() for word in REFUSALS):
        return text
    return None


def first_taken(build, configs, device, poison=None):
    """The first config of the list this DSL takes, compiled: those it cannot take before it
    are in `tried` as skipped, with the reason; any other error is the result, as is the last
    refusal when it takes none."""
    skipped = []
    for i, config in enumerate(configs):
        try:
            prepared = compiled(build, config, device, poison)
        except Exception as exc:
            reason = refusal(exc)
            if reason is None or i == len(configs) - 1:
                raise
            skipped.append({"config": config, "skipped": reason})
            continue
        prepared.tried = skipped
        return prepared
    raise Skip("the track's config list is empty")


# CUDA errors that stay with the process: after one, every later CUDA call fails too.
STICKY_ERRORS = ("illegal memory access", "misaligned address", "illegal instruction", "unspecified launch failure",
                 "device-side assert", "hardware stack error", "illegal address")


class ConfigFault(Exception):
    """A config whose kernel faulted and may have left a sticky CUDA error behind: nothing
    else can be trusted in this process, so the rest runs in a fresh one without this config."""

    def __init__(self, config, reason):
        super().__init__(f"config {config} faulted ({reason}); not tried again")
        self.config, self.reason = config, reason


def sticky(exc, device):
    """Whether an error may have left the process's CUDA context unusable."""
    if any(s in str(exc).lower() for s in STICKY_ERRORS):
        return True
    if device == "cuda":
        try:
            torch.cuda.synchronize()
        except Exception:
            return True
    return False


def staged(call, stages):
    """A zero-argument run of call(), with run.stages = {stage: a run of call(stage=stage)}
    for each of the op's stages (none for most ops)."""
    def run():
        call()
    run.stages = {name: functools.partial(call, stage=name) for name in stages}
    return run


def rounding(build, wide_outputs, real_outputs):
    """Wrap `build` so that every run ends by rounding the fp32 results into the real dtype."""
    def build_rounded(config):
        kernel = build(config)

        def run():
            kernel()
            for name, out in real_outputs.items():
                out.copy_(wide_outputs[name])
        run.stages = getattr(kernel, "stages", {})  # timed as they are (CPU paths only)
        for name in ("built_ahead", "ahead_missed"):  # what compiled() reads of the kernel's build
            if hasattr(kernel, name):
                setattr(run, name, getattr(kernel, name))
        return run
    return build_rounded


def compiled(build, config, device, poison=None):
    """Build one config and call it once, on poisoned outputs: compile_ms is the wall time of
    both (TileLang compiles in build, Triton JIT-compiles in its first call); for a config the
    compile-ahead pool built (bench/run/ahead.py), the pool's compile time plus this first call."""
    if poison:
        poison()
    t0 = time.perf_counter()
    run = build(config)
    built = time.perf_counter()
    timing.wall_ms(run, device)
    compile_ms = (time.perf_counter() - t0) * 1e3
    ahead = getattr(run, "built_ahead", None)
    if ahead and getattr(run, "ahead_missed", lambda: False)():
        ahead = dict(ahead, missed=True)  # Triton's JIT compiled it here after all: this compile time counts
    elif ahead:
        compile_ms = ahead["compile_ms"] + (time.perf_counter() - built) * 1e3
    return Prepared(run=run, outputs={}, compile_ms=compile_ms, config=config, stages=getattr(run, "stages", {}),
                    ahead=ahead)


def autotune(build, configs, device, exclude=(), poison=None):
    """Compile every config, time each with the shared procedure, keep the fastest.

    Both DSLs get the same list and the same procedure, one config after another: the same
    tuning budget, and compile times measured alike (none under another's contention).
    compile_ms is the sum of the configs' compile times; autotune_ms the time spent timing
    them. A config that fails to compile or run is recorded and passed over (`skipped` with the
    reason when this DSL cannot take it: refusal; else `error`); one that faults
    (a possibly sticky CUDA error) raises ConfigFault: see runner.run_group. Configs in
    `exclude` faulted in an earlier process and are not tried again."""
    faulted = {repr(e["config"]): e["reason"] for e in exclude}
    compile_ms, autotune_ms, best, tried = 0.0, 0.0, None, []
    for config in configs:
        if repr(config) in faulted:
            tried.append({"config": config, "error": f"faulted in an earlier process: {faulted[repr(config)]}"})
            continue
        candidate = attempt(build, config, device)
        if isinstance(candidate, dict):  # a config that does not compile is recorded, not fatal
            tried.append({"config": config, **candidate})
            continue
        compile_ms += candidate.compile_ms
        t0 = time.perf_counter()
        try:
            median = timing.time_fn(candidate.run, device)["median_ms"]
        except Exception as exc:
            if sticky(exc, device):
                raise ConfigFault(config, one_line(exc)) from exc
            tried.append({"config": config, "compile_ms": candidate.compile_ms, **failure(exc)})
            continue
        finally:
            autotune_ms += (time.perf_counter() - t0) * 1e3
        tried.append({"config": config, "compile_ms": candidate.compile_ms, "median_ms": median,
                      **ahead_fields(candidate)})
        if best is None or median < best[0]:
            best = (median, candidate)
    if best is None:
        if tried and all("skipped" in t for t in tried):  # one reason (a shape refused): as it is
            reasons = list(dict.fromkeys(t["skipped"] for t in tried))
            raise Skip(reasons[0] if len(reasons) == 1 else f"this DSL takes no config of the list: {reasons[-1]}")
        errors = [t["error"] for t in tried if "error" in t]
        raise RuntimeError(f"no config compiled: {errors[-1] if errors else 'empty config list'}")
    prepared = best[1]
    if poison:
        poison()
    timing.wall_ms(prepared.run, device)  # the outputs now hold the chosen config's result, alone
    prepared.compile_ms, prepared.autotune_ms, prepared.tried = compile_ms, autotune_ms, tried
    prepared.cold_compile_ms = first_cold(tried)
    return prepared


def ahead_fields(candidate):
    """An autotune entry's word on where its config was compiled: the pool's, with how many
    compiled at once ("ahead-missed": the pool's build was not the one Triton's JIT looked up,
    so this process compiled it, beside the pool), or nothing (this process, alone)."""
    ahead = candidate.ahead
    if not ahead:
        return {}
    return {"compiled": "ahead-missed" if ahead.get("missed") else "ahead",
            "concurrent_compiles": ahead["concurrent_compiles"]}


def first_cold(tried):
    """The compile time of the first config compiled in this process, alone (not ahead): the
    cold, uncontended compile both DSLs are compared on."""
    return next((t["compile_ms"] for t in tried if t.get("compile_ms") is not None and "compiled" not in t), None)


def attempt(build, config, device):
    """compiled(...), or why not (failure); ConfigFault if it faulted."""
    try:
        return compiled(build, config, device)
    except Exception as exc:
        if sticky(exc, device):
            raise ConfigFault(config, one_line(exc)) from exc
        return failure(exc)


def failure(exc):
    """An autotune entry's word on a config that failed (not a fault): {"skipped": reason} when
    this DSL cannot take it (refusal), else {"error": one line}."""
    reason = refusal(exc)
    return {"skipped": reason} if reason else {"error": one_line(exc)}


def one_line(exc):
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def workspace(module, shape, dtype, config, device):
    """The kernel module's scratch buffers for this case and config ({} when it needs none)."""
    make = getattr(module, "workspace", None)
    return make(shape, dtype, config, device) if make else {}


def cold_triton(module):
    """Make the next compiles of this module's kernels cold, as TileLang's (whose cache is off):
    forget the kernels Triton's JIT holds in memory (an earlier shape with the same
    specialization would be a hit) and point its disk cache at a fresh, empty folder (inside
    one folder per process, removed when the process ends)."""
    from bench.core.triton_launch import jit_kernels

    for kernel in jit_kernels(module).values():
        kernel.device_caches.clear()
    os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(dir=cache_root())


@functools.lru_cache(maxsize=1)
def cache_root():
    """This process's folder of Triton caches, deleted at exit."""
    folder = tempfile.TemporaryDirectory(prefix="dslbench-triton-")
    cache_root.folder = folder  # kept alive until the process ends, then cleaned up
    return folder.name


@functools.lru_cache(maxsize=None)
def warm_up(device):
    """Pay each DSL's one-time start-up (Triton's compiler and driver, TileLang's TVM and nvcc)
    on a trivial kernel, once per process, so that no measured compile includes it; as
    `dslbench inspect` does. Nothing to pay on the CPU paths' timings, which are not GPU costs."""
    if device != "cuda":
        return
    import tilelang
    import tilelang.language as T
    import triton
    import triton.language as tl

    @triton.jit
    def fill(x_ptr):
        tl.store(x_ptr + tl.arange(0, 32), tl.full((32,), 1.0, tl.float32))

    x = torch.empty(32, device="cuda")
    os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(dir=cache_root())
    fill[(1,)](x)

    @T.prim_func
    def fill_tl(X: T.Tensor((32,), "float32")):
        with T.Kernel(1, threads=32):
            for i in T.Parallel(32):
                X[i] = 1.0

    tilelang.disable_cache()
    tilelang.compile(fill_tl, target="cuda")(x)
    torch.cuda.synchronize()


def host_builder(module, spec, shape, dtype, flags, inputs, outputs, device, stages=(), backend=None):
    """build(config) for a host function <op>(*inputs, *outputs, **workspace, **flags, **config):
    our Triton wrappers (backend: theirs, for the compile-ahead pool's builds) and users' files.
    On a GPU a module of Triton kernels compiles cold, into a cache of its own (cold_triton)."""
    from bench.run import ahead

    host = getattr(module, spec.NAME)
    triton_kernels = device == "cuda" and any(type(v).__name__ == "JITFunction" for v in vars(module).values())
    if triton_kernels:
        cold_triton(module)
    own_cache = os.environ.get("TRITON_CACHE_DIR")

    def build(config):
        built_ahead = ahead.compiled_ahead(spec, backend, dtype, shape, config) if backend and device == "cuda" else None
        if triton_kernels:  # the JIT of this config's first launch compiles into, or loads from, here
            os.environ["TRITON_CACHE_DIR"] = built_ahead["cache"] if built_ahead else own_cache
        scratch = workspace(module, shape, dtype, config, device)
        run = staged(lambda **stage: host(*inputs.values(), *outputs.values(), **scratch, **flags, **config, **stage),
                     stages)
        run.built_ahead = built_ahead  # the pool's compile (bench/run/ahead.py), or None
        if built_ahead:
            before = ahead.cache_entries(built_ahead["cache"])
            run.ahead_missed = lambda: ahead.cache_entries(built_ahead["cache"]) != before
        return run
    return build


def tilelang_cuda(module, func, target="cuda"):
    """TileLang's CUDA JIT for what a kernel module's factory returned, device code and host
    launcher: one prim_func, compiled with the module's PASS_CONFIGS, or {name: (prim_func,
    pass_configs)}, each compiled with its own. target: "cuda" is this machine's GPU; CI builds
    for a named arch (sm_90a) without one, up to loading onto the device."""
    import tilelang

    if isinstance(func, dict):
        return {name: tilelang.compile(f, target=target, pass_configs=dict(c)) for name, (f, c) in func.items()}
    return tilelang.compile(func, target=target, pass_configs=dict(getattr(module, "PASS_CONFIGS", {})))


def tilelang_compile(spec, backend, dtype, shape, config, arch, target="cuda", cache=False):
    """TileLang's CUDA JIT of one config (tilelang_cuda), the cache on or off: the one call the
    timing worker and the compile-ahead pool (bench/run/ahead.py) both make, so that what the
    pool builds is what the worker's cache lookup finds."""
    import contextlib

    import tilelang
    import tvm

    tilelang.enable_cache() if cache else tilelang.disable_cache()
    try:
        module = kernel_module(spec, backend, arch, dtype)
        factory = getattr(module, f"{spec.NAME}_kernel")
        if isinstance(target, dict):  # a named arch ({"kind": "cuda", "arch": "sm_90a"}): built without its GPU
            target = tvm.target.Target(target)
        with target if not isinstance(target, str) else contextlib.nullcontext():
            func = factory(**shape, dtype=dtypes.TILELANG[dtype], **config)
        return tilelang_cuda(module, func, target)
    finally:
        tilelang.disable_cache()  # compile times are cold, as Triton's, unless a compile asks


def tilelang_builder(spec, backend, shape, dtype, inputs, outputs, device, stages=(), module=None):
    """build(config) for a TileLang factory: kernels/<op>/tilelang_<track>.py's, or `module`'s
    (a user's file)."""
    import tilelang

    from bench.run import ahead

    tilelang.disable_cache()  # compile times are cold, as Triton's
    logging.getLogger("tilelang").setLevel(logging.WARNING)
    module = module or kernel_module(spec, backend, device_arch(device), dtype)
    factory = getattr(module, f"{spec.NAME}_kernel")
    pass_configs = getattr(module, "PASS_CONFIGS", {})

    def build(config):
        built_ahead = None
        if device == "cpu":
            from bench.run.tilelang_cpu import compile_cpu

            kernel = compile_cpu(factory, pass_configs, **shape, dtype=dtypes.TILELANG[dtype], **config)
        else:
            built_ahead = ahead.compiled_ahead(spec, backend, dtype, shape, config)
            kernel = tilelang_compile(spec, backend, dtype, shape, config, device_arch(device),
                                      cache=built_ahead is not None)
        scratch = workspace(module, shape, dtype, config, device)
        if isinstance(kernel, dict):  # several kernels, chained by the module's host function
            host = getattr(module, spec.NAME)
            run = staged(lambda **stage: host(kernel, *inputs.values(), *outputs.values(), *scratch.values(), **stage),
                         stages)
        else:
            run = lambda: kernel(*inputs.values(), *outputs.values(), *scratch.values())  # noqa: E731
        run.built_ahead = built_ahead  # the pool's compile (bench/run/ahead.py), or None
        return run
    return build
