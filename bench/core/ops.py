"""The ops dslbench knows, their backends, and the parsing of what a user asks for.

An op is a folder kernels/<op>/ with spec.py (its one description) and one kernel module per
DSL and track: triton_matched.py, tilelang_matched.py, and triton_best.py, tilelang_best.py
where the op has the best track (spec.TRACKS). Each (DSL, track) is a backend of its own,
named `<dsl>-<track>` (triton-matched, tilelang-best, ...). A kernel written for one GPU arch
only, kernels/<op>/<dsl>_<track>_<arch>.py (tilelang_best_sm100a.py), replaces <dsl>_<track>.py
when compiling for that arch (kernel_module). Nothing here imports torch or a DSL (an arch
variant is imported only when asked for), so `dslbench --help` stays fast.
"""
import difflib
import importlib
import importlib.util
import json
import os
import sys

OPS = ("matmul", "act_quant", "attention", "attention_bwd", "attention_train", "fp8_gemm", "grouped_gemm", "dsa_index", "sparse_mla", "dsa_step")
DSLS = ("triton", "tilelang")
# matched: the same code path in both DSLs (a gap is code generation); best: each DSL written
# as its best public kernels are (a gap is what a good engineer gets). README: two tracks.
TRACKS = ("matched", "best")


class UsageError(Exception):
    """Bad input from the user: the CLI prints it on one line and exits 2."""


# What every spec.py defines (README: Add an op); the rest (TRACKS, FLAGS, BASELINES,
# GPU_DTYPES, GPU_FULL_SUITE, INSPECT_SHAPE, SMOKE_SHAPE, MMA_DTYPES, shape_class, headline) is optional.
SPEC_FIELDS = ("NAME", "SHAPE_KEYS", "DTYPES", "INPUTS", "OUTPUTS", "CONFIGS", "TOLERANCE", "CPU_SUITE", "GPU_SUITE",
               "configs_for", "validate", "kernel_flags", "make_inputs", "make_outputs", "reference", "flops",
               "bytes_moved")


def load_spec(op):
    """The spec module of a known op, or of an op folder elsewhere named by its dotted
    package path (e.g. `tests.fake_op`, which the sweep's own tests use); a spec that lacks a
    field is a one-line UsageError naming it."""
    if op in OPS:
        spec = importlib.import_module(f"kernels.{op}.spec")
    elif "." in op:
        try:
            spec = importlib.import_module(f"{op}.spec")
        except ImportError:
            raise UsageError(f"no op folder {op!r}: {op.replace('.', '/')}/spec.py cannot be imported") from None
    else:
        raise UsageError(f"unknown op {op!r}{suggestion(op, OPS)}; valid ops: {', '.join(OPS)}")
    missing = [f for f in SPEC_FIELDS if not hasattr(spec, f)]
    if missing:
        raise UsageError(f"{spec.__name__.replace('.', '/')}.py lacks {', '.join(missing)} (README: Add an op)")
    return spec


def suggestion(name, valid):
    """' (did you mean X?)' for the closest valid name, or ''."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def tracks(spec):
    """The tracks an op's kernels come in, in TRACKS order."""
    return tuple(t for t in TRACKS if t in getattr(spec, "TRACKS", ("matched",)))


def backend_name(dsl, track):
    return f"{dsl}-{track}"


def dsl_backends(spec, dsls=DSLS):
    """The op's DSL backends, both DSLs of one track side by side: triton-matched,
    tilelang-matched, triton-best, tilelang-best."""
    return [backend_name(d, t) for t in tracks(spec) for d in dsls]


def split_backend(name):
    """'tilelang-best' -> ('tilelang', 'best'); a vendor baseline or the reference -> (None, None).
    A bare DSL name (records written before tracks) -> (dsl, None)."""
    dsl, _, track = name.partition("-")
    if dsl in DSLS and (track in TRACKS or not track):
        return dsl, track or None
    return None, None


def kernel_module(spec, backend, arch=None, dtype=None):
    """The module of a DSL backend: kernels/<op>/<dsl>_<track>.py, or, compiling for `arch`
    (e.g. sm_100a), its arch variant kernels/<op>/<dsl>_<track>_<arch>.py (sm100a) where that
    file exists and takes `dtype` (a variant may list the dtypes it takes in DTYPES); a user
    kernel's file (user:<name>: load_user_kernel)."""
    if is_user(backend):
        return load_user_kernel(backend)
    dsl, track = split_backend(backend)
    variant = arch_variant(spec, backend, arch)
    if variant and (dtype is None or dtype in getattr(variant, "DTYPES", (dtype,))):
        return variant
    return sibling(spec, f"{dsl}_{track}")


def cuda_arch(capability):
    """The arch name of a CUDA device's compute capability: (9, 0) -> 'sm_90a', (10, 0) ->
    'sm_100a' (the `a` variants from Hopper on, as inspect compiles them), (8, 0) -> 'sm_80'."""
    major, minor = capability
    return f"sm_{major}{minor}" + ("a" if major >= 9 else "")


def arch_tag(arch):
    """'sm_100a' -> 'sm100a': how an arch is spelled in a variant's file name."""
    return arch.replace("_", "")


def arch_variant(spec, backend, arch):
    """The module kernels/<op>/<dsl>_<track>_<arch>.py, or None when there is none."""
    if not has_variant(spec, backend, arch):
        return None
    dsl, track = split_backend(backend)
    return sibling(spec, f"{dsl}_{track}_{arch_tag(arch)}")


def has_variant(spec, backend, arch):
    """Whether an arch variant file exists for this backend (found without importing it)."""
    dsl, track = split_backend(backend)
    return bool(arch) and importlib.util.find_spec(
        f"{spec.__name__.rpartition('.')[0]}.{dsl}_{track}_{arch_tag(arch)}") is not None


def arch_backends(spec, arch):
    """The op's DSL backends compiled for `arch`: those of its tracks (dsl_backends) and, for a
    track the spec does not list yet, a backend whose only kernel is an arch variant for `arch`."""
    listed = dsl_backends(spec)
    extra = [backend_name(d, t) for t in TRACKS for d in DSLS
             if backend_name(d, t) not in listed and has_variant(spec, backend_name(d, t), arch)]
    return listed + extra


def backend_configs(spec, backend, dtype, arch=None):
    """The configs a backend compiles for dtype: the track's shared list (spec.configs_for);
    for a track the spec does not list yet, the arch variant's own CONFIGS, if it takes dtype."""
    track = split_backend(backend)[1]
    if track in tracks(spec):
        return spec.configs_for(dtype, track)
    variant = arch_variant(spec, backend, arch)
    if variant is None or dtype not in getattr(variant, "DTYPES", (dtype,)):
        return []
    return list(getattr(variant, "CONFIGS", []))


def expand_backends(names, valid):
    """A DSL's bare name stands for all its tracks: 'triton' -> triton-matched, triton-best
    (those in `valid`); other names as they are."""
    out = []
    for name in names:
        out += [v for v in valid if split_backend(v)[0] == name] if name in DSLS else [name]
    return list(dict.fromkeys(out))


def sibling(spec, name):
    """A module beside the op's spec.py in its folder: triton, tilelang or baselines."""
    return importlib.import_module(f"{spec.__name__.rpartition('.')[0]}.{name}")


def parse_list(text, valid, what):
    """'a,b' -> ['a', 'b'], each checked against `valid`; None -> all of `valid`."""
    if text is None:
        return list(valid)
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"empty {what} list; valid {what}s: {', '.join(valid)}")
    for item in items:
        if item not in valid and not (what == "op" and "." in item):  # an op folder by its path
            raise UsageError(f"unknown {what} {item!r}{suggestion(item, valid)}; valid {what}s: {', '.join(valid)}")
    return items


def parse_shape(text, spec):
    """'M=128,N=64,K=32' -> {'M': 128, 'N': 64, 'K': 32}, checked against the op's keys.

    Every key is an integer >= 1, except the op's FLAGS, which are 0 or 1."""
    keys, flags = spec.SHAPE_KEYS, getattr(spec, "FLAGS", ())
    shape = {}
    for part in (p.strip() for p in text.split(",")):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise UsageError(f"bad shape item {part!r} in {text!r}; write KEY=VALUE, e.g. {example(spec)}")
        if key not in keys:
            raise UsageError(f"unknown shape key {key!r} for {spec.NAME}; its keys are {', '.join(keys)}")
        if key in shape:
            raise UsageError(f"shape key {key!r} given twice in {text!r}")
        try:
            number = int(value)
        except ValueError:
            raise UsageError(f"shape {key}={value!r} is not an integer") from None
        if key in flags and number not in (0, 1):
            raise UsageError(f"shape {key}={number} must be 0 or 1")
        if key not in flags and number < 1:
            raise UsageError(f"shape {key}={number} must be >= 1")
        shape[key] = number
    missing = [k for k in keys if k not in shape]
    if missing:
        raise UsageError(f"shape {text!r} lacks {', '.join(missing)}; {spec.NAME} needs {example(spec)}")
    problem = spec.validate(shape)
    if problem:
        raise UsageError(f"shape {text!r}: {problem}")
    return shape


def example(spec):
    return shape_str(spec.CPU_SUITE[0])


def shape_str(shape):
    """{'M': 8, 'N': 9} -> 'M=8,N=9': how shapes are written on the command line, in tables
    and in the key that matches a case across runs."""
    return ",".join(f"{k}={v}" for k, v in shape.items())


# Users' own kernels (bench/core/user.py reads their files): backends named user:<name>, given to a
# command with --kernel FILE or by an installed package. The ones a run uses travel to its worker
# processes in the environment.
USER_PREFIX = "user:"
USER_KERNELS_ENV = "DSLBENCH_USER_KERNELS"  # {backend: what user.parse read}, as JSON


def is_user(backend):
    """A user's kernel (user:<name>), not one of ours, a vendor's or the reference."""
    return backend.startswith(USER_PREFIX)


def register_user_kernels(kernels):
    """Make these kernels (user.parse's) backends of their ops in this process and the workers it starts."""
    os.environ[USER_KERNELS_ENV] = json.dumps({k["name"]: k for k in kernels})


def user_kernels():
    """{backend: what user.parse read} of the user kernels this process was given."""
    return json.loads(os.environ.get(USER_KERNELS_ENV) or "{}")


def user_backends(spec):
    """The user backends that implement this op."""
    return [name for name, k in user_kernels().items() if k["op"] == spec.NAME]


def backend_dsl(backend):
    """The DSL whose CPU path and compiler a backend goes through: ours by name, a user kernel's
    by its file (triton, tilelang, or another label); None for a vendor baseline or the reference."""
    return user_kernel(backend)["dsl"] if is_user(backend) else split_backend(backend)[0]


def user_kernel(backend):
    """What user.parse read of a user backend; a KeyError says it was not given to this run."""
    kernels = user_kernels()
    if backend not in kernels:
        raise KeyError(f"{backend}: not a user kernel of this run (give its file with --kernel)")
    return kernels[backend]


def load_user_kernel(backend, device=None):
    """Import a user kernel's file, once per process. On the CPU Triton's interpreter is turned on
    first (TRITON_INTERPRET is read when @triton.jit decorates). A package the file imports that is
    not installed raises ModuleNotFoundError (the harness: skipped)."""
    kernel = user_kernel(backend)
    module_name = "dslbench_user_" + "".join(c if c.isalnum() else "_" for c in kernel["name"][len(USER_PREFIX):])
    if module_name in sys.modules:
        return sys.modules[module_name]
    if device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    loader = importlib.util.spec_from_file_location(module_name, kernel["file"])
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    try:
        loader.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
