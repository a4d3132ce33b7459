"""bench/ is laid out by job, and its imports run one way (read with `ast`, nothing imported):

    cli, session, smoke (top) -> run, results, inspect, ledger -> core;   run, inspect -> kernels;
    ledger -> inspect (its reproducers compile as inspect does)

results never imports run, inspect never imports run, core imports no other part of bench,
kernels/ never imports bench/, and no two modules import each other (directly or round a cycle).
Imports inside functions count too: a lazy import is still a dependency.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each part may import (besides itself). The top: bench.cli, bench.smoke, bench.__main__.
ALLOWED = {
    "top": {"core", "run", "results", "inspect", "ledger", "kernels", "top"},
    "run": {"core", "kernels"},
    "inspect": {"core", "kernels"},
    "ledger": {"core", "inspect"},
    "results": {"core"},
    "core": set(),
    "kernels": set(),
}


def module_name(path, root=ROOT):
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    """{dotted name: path} of every module of bench/ and kernels/."""
    return {module_name(p): p for top in ("bench", "kernels") for p in sorted((ROOT / top).rglob("*.py"))}


def part(name):
    """Which part of the layout a module belongs to."""
    head = name.split(".")
    if head[0] == "kernels":
        return "kernels"
    return head[1] if len(head) > 1 and head[1] in ALLOWED else "top"


def imports(path, known, root=ROOT):
    """The modules of bench/ and kernels/ that `path` imports, anywhere in the file."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, the module mod
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known and n != me}
    return found


def graph():
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}


def test_every_module_sits_in_a_part_of_the_layout():
    tops = sorted(n for n in modules() if part(n) == "top" and n.startswith("bench"))
    assert set(tops) <= {"bench", "bench.__main__", "bench.cli", "bench.session", "bench.smoke"}, tops


def test_imports_run_one_way():
    wrong = [f"{a} ({part(a)}) imports {b} ({part(b)})"
             for a, targets in graph().items() for b in sorted(targets)
             if part(b) != part(a) and part(b) not in ALLOWED[part(a)]]
    assert not wrong, "\n".join(wrong)


def cycles(edges):
    """Every cycle of the graph, as one path each (Tarjan's strongly connected components)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_another_that_imports_it_back():
    assert not cycles(graph())


@pytest.mark.parametrize("edges,expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}}, []),
])
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert cycles(edges) == expected


def test_the_import_reader_sees_lazy_and_package_imports(tmp_path):
    known = {"bench.results.report", "bench.results", "bench.run.sweep", "bench.core.ops", "bench.core"}
    source = tmp_path / "x.py"
    source.write_text("from bench.results import report\ndef f():\n    from bench.run.sweep import Sweep\n"
                      "import bench.core.ops\nfrom bench.core import shape_str\n")
    assert imports(source, known, tmp_path) == {"bench.results.report", "bench.run.sweep", "bench.core.ops", "bench.core"}
