"""The ops dslbench knows, their backends, and the parsing of what a user asks for.

An op is a folder kernels/<op>/ with spec.py (its one description) and one kernel module per
DSL and track: triton_matched.py, tilelang_matched.py, and triton_best.py, tilelang_best.py
where the op has the best track (spec.TRACKS). Each (DSL, track) is a backend of its own,
named `<dsl>-<track>` (triton-matched, tilelang-best, ...). Nothing here imports torch or a
DSL, so `dslbench --help` stays fast.
"""
import importlib

OPS = ("matmul", "act_quant", "attention", "fp8_gemm", "dsa_index", "sparse_mla", "dsa_step")
DSLS = ("triton", "tilelang")
# matched: the same code path in both DSLs (a gap is code generation); best: each DSL written
# as its best public kernels are (a gap is what a good engineer gets). README: two tracks.
TRACKS = ("matched", "best")


class UsageError(Exception):
    """Bad input from the user: the CLI prints it on one line and exits 2."""


def load_spec(op):
    """The spec module of a known op, or of an op folder elsewhere named by its dotted
    package path (e.g. `tests.fake_op`, which the sweep's own tests use)."""
    if op in OPS:
        return importlib.import_module(f"kernels.{op}.spec")
    if "." in op:
        try:
            return importlib.import_module(f"{op}.spec")
        except ImportError:
            raise UsageError(f"no op folder {op!r}: {op.replace('.', '/')}/spec.py cannot be imported") from None
    raise UsageError(f"unknown op {op!r}; valid ops: {', '.join(OPS)}")


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


def kernel_module(spec, backend):
    """The module of a DSL backend: kernels/<op>/<dsl>_<track>.py."""
    dsl, track = split_backend(backend)
    return sibling(spec, f"{dsl}_{track}")


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
            raise UsageError(f"unknown {what} {item!r}; valid {what}s: {', '.join(valid)}")
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
