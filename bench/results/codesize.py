"""Lines of kernel code per DSL per op: what a kernel costs to write, counted the same way for both."""
import ast
import io
import subprocess
import tokenize
from pathlib import Path

from bench.core.ops import DSLS, TRACKS, backend_name

KERNELS = Path(__file__).resolve().parents[2] / "kernels"
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
        tokenize.ENCODING, tokenize.ENDMARKER}


def docstring_lines(tree):
    """Line numbers of every docstring (module, class, function): documentation, not code."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source):
    """Non-blank lines holding code: comments and docstrings do not count."""
    docs = docstring_lines(ast.parse(source))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in SKIP:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docs)


def kernel_lines(op, kernels=KERNELS, commit=None):
    """{backend: code lines of its kernel file} for the DSL backends the op has: triton-matched
    from kernels/<op>/triton_matched.py, and so on for each DSL and track; read at `commit`
    (see source) when one is given."""
    out = {}
    for track in TRACKS:
        for dsl in DSLS:
            text = source(Path(kernels) / op / f"{dsl}_{track}.py", commit)
            if text is not None:
                out[backend_name(dsl, track)] = code_lines(text)
    return out


def source(path, commit=None):
    """A file's text at `commit` (git show), or as it is in the checkout without one; None when
    it does not exist there."""
    if commit is None:
        return path.read_text(encoding="utf-8") if path.exists() else None
    root = Path(__file__).resolve().parents[2]
    relative = path.resolve().relative_to(root).as_posix()
    shown = subprocess.run(["git", "show", f"{commit}:{relative}"], cwd=root, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def known_commit(commit):
    """The commit itself when this checkout has it (a trailing -dirty dropped), else None."""
    if not commit:
        return None
    commit = commit.removesuffix("-dirty")
    root = Path(__file__).resolve().parents[2]
    try:
        found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=root, capture_output=True)
    except OSError:
        return None
    return commit if found.returncode == 0 else None
