"""`python -m bench.ledger.probe findings/<id>.py`: run one reproducer in this (fresh) process and
print its outcome as one JSON line, the last line of stdout: {"status": "present" | "fixed" |
"skipped" | "error", "reason": ...}. A fresh process per finding: a reproducer may need
TRITON_INTERPRET before its kernels are decorated, or may crash its compiler."""
import contextlib
import importlib.util
import io
import json
import sys
import traceback

from bench.ledger import Skip


def outcome(path):
    """The reproducer's verdict on the installed release, as a dict."""
    try:
        spec = importlib.util.spec_from_file_location(f"finding_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        with contextlib.redirect_stdout(io.StringIO()):  # compilers print; our stdout is the verdict
            spec.loader.exec_module(module)
            if getattr(module, "NOT_REPRODUCIBLE", None):
                return {"status": "not reproduced", "reason": module.NOT_REPRODUCIBLE}
            present = module.reproduce()
    except Skip as exc:
        return {"status": "skipped", "reason": str(exc)}
    except ImportError as exc:  # the DSL it reproduces, or a toolchain module, is not installed
        return {"status": "skipped", "reason": f"{type(exc).__name__}: {exc}"}
    except BaseException as exc:  # noqa: BLE001 - anything else means the reproducer is broken
        return {"status": "error", "reason": one_line(exc), "traceback": traceback.format_exc(limit=-6)}
    if not isinstance(present, bool):
        return {"status": "error", "reason": f"reproduce() returned {present!r}, not True (present) or False (fixed)"}
    return {"status": "present" if present else "fixed"}


def one_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


if __name__ == "__main__":
    print(json.dumps(outcome(sys.argv[1])), flush=True)
