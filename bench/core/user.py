"""Users' own kernels: a Python file that implements one of the ops, checked and timed beside ours
(README: Your own kernel).

The file defines
- OP = "<op>": the op it implements (one of bench.core.ops.OPS);
- a host function named after the op, with the op's calling convention (a vendor baseline's):
  <op>(*inputs, *outputs, **flags, **config), inputs then outputs in the spec's order, writing the
  outputs; or, in TileLang, the factory <op>_kernel(**shape, dtype=..., **config) returning a
  prim_func, as our TileLang kernels do (then dslbench compiles it: the C backend on the CPU);
and may define
- DSL = "gluon": its label in records and tables (default: the DSL it imports: triton, tilelang,
  else "python");
- CONFIGS = [dict(...), ...]: the configs autotuned over with the harness's procedure (default:
  one call with no config);
- DEVICES = ("cuda",): where it can run (default: both); DTYPES: the dtypes it takes (default:
  the op's); workspace(shape, dtype, config, device), as our kernel modules do.
It becomes the backend `user:<file stem>`, track "user", in records with the file's sha256. A
package ships kernels through the entry point group `dslbench.kernels` (name = value: a module).

The file is read here with `ast`, never imported: its DSL may be missing on this machine (that is
a skip when it runs, not a usage error), and the process that parses it is not the one that runs
it. The kernels a run uses travel to its worker processes in the environment
(bench.core.ops.register_user_kernels), where ops.kernel_module imports them.
"""
import ast
import hashlib
import importlib.util
import sys
from pathlib import Path

from bench.core.ops import OPS, USER_PREFIX as PREFIX, UsageError, load_spec, suggestion

TRACK = "user"
ENTRY_POINTS = "dslbench.kernels"
KNOWN_DSLS = ("tilelang", "triton")  # what the DSL label defaults to, by the file's imports (else "python")


def parse(path, name=None):
    """What a kernel file declares, checked without importing it: {name, file, op, dsl, host,
    sha256}; a file that does not follow the convention is a one-line UsageError naming what it
    lacks. name: the backend's (default user:<file stem>)."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--kernel {path}: no such file")
    source = file.read_bytes()
    try:
        tree = ast.parse(source, filename=str(file))
    except SyntaxError as exc:
        raise UsageError(f"{path}:{exc.lineno}: {exc.msg}") from None
    values, functions = top_level(tree)
    op = literal(values.get("OP"))
    if not isinstance(op, str):
        raise UsageError(f"{path} lacks OP = \"<op>\", the op it implements: one of {', '.join(OPS)} "
                         "(README: Your own kernel)")
    if op not in OPS:
        raise UsageError(f"{path}: OP = {op!r} is not an op{suggestion(op, OPS)}; ops: {', '.join(OPS)}")
    spec = load_spec(op)
    imported = imported_dsls(tree)
    dsl = literal(values.get("DSL")) if "DSL" in values else next((d for d in KNOWN_DSLS if d in imported), "python")
    if not isinstance(dsl, str) or not dsl:
        raise UsageError(f"{path}: DSL must be a string, e.g. DSL = \"gluon\"")
    if op in functions or op in values:
        host = "function"
        check_arguments(path, functions.get(op), spec)
    elif f"{op}_kernel" in functions and dsl == "tilelang":
        host = "factory"
    else:
        convention = ", ".join([*spec.INPUTS, *spec.OUTPUTS])
        raise UsageError(f"{path} lacks its host function: def {op}({convention}, **flags) (inputs, then the outputs "
                         f"it writes; README: Your own kernel)")
    stem = "".join(c if c.isalnum() or c in "_." else "_" for c in file.stem)
    return {"name": name or PREFIX + stem, "file": str(file.resolve()), "op": op, "dsl": dsl, "host": host,
            "sha256": hashlib.sha256(source).hexdigest()}


def top_level(tree):
    """({name: value node} of the module's top-level assignments, {name: def node} of its functions)."""
    values, functions = {}, {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            values[node.target.id] = node.value
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = node
    return values, functions


def literal(node):
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def imported_dsls(tree):
    """The top-level packages the file imports (anywhere in it)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.partition(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.partition(".")[0])
    return found


def check_arguments(path, function, spec):
    """A host function must take the op's inputs and outputs as positional arguments."""
    if function is None or function.args.vararg:
        return  # an assignment (a wrapped function), or *args: taken on trust, checked when called
    needed = [*spec.INPUTS, *spec.OUTPUTS]
    positional = [a.arg for a in function.args.posonlyargs + function.args.args]
    if len(positional) < len(needed):
        raise UsageError(f"{path}: {function.name}({', '.join(positional)}) takes {len(positional)} positional "
                         f"arguments; {spec.NAME} passes {len(needed)}: {', '.join(needed)} (inputs, then outputs)")


def entry_point_kernels():
    """The kernels installed packages declare (entry point group `dslbench.kernels`, name =
    module), parsed as files are; one that cannot be found is a one-line warning on stderr."""
    from importlib.metadata import entry_points

    found = []
    for point in entry_points(group=ENTRY_POINTS):
        try:
            origin = importlib.util.find_spec(point.value).origin
        except (ImportError, AttributeError, ValueError):
            origin = None
        if not origin:
            print(f"dslbench: entry point {point.name} = {point.value} ({ENTRY_POINTS}): no such module; left out",
                  file=sys.stderr)
            continue
        found.append(parse(origin, PREFIX + point.name))
    return found


def gather(paths, entry_points=True):
    """The kernels of a command: --kernel files, then those of installed packages; two of one
    name are a UsageError."""
    kernels = [parse(p) for p in paths or ()] + (entry_point_kernels() if entry_points else [])
    seen = {}
    for k in kernels:
        if k["name"] in seen:
            raise UsageError(f"two user kernels are named {k['name']} ({seen[k['name']]} and {k['file']}): "
                             "rename one file")
        seen[k["name"]] = k["file"]
    return kernels


def configs(module):
    """A user kernel's CONFIGS, checked: a list of dicts ([{}] when it has none)."""
    listed = getattr(module, "CONFIGS", None)
    if listed is None:
        return [{}]
    if not isinstance(listed, (list, tuple)) or not listed or not all(isinstance(c, dict) for c in listed):
        raise TypeError(f"{module.__file__}: CONFIGS must be a non-empty list of dicts (keyword arguments of its "
                        "host function)")
    return list(listed)
