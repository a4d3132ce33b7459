"""Result records: one JSON object per (op, backend, dtype, shape), one per line in a file."""
import json
import math
import os
import sys

from bench.core.ops import UsageError, shape_str

SCHEMA = 1


def clean(value):
    """JSON has no NaN or Infinity: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(record):
    return json.dumps(clean(record), allow_nan=False)


def append(path, record):
    """Append one record and push it to disk, so a crash loses nothing already done."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def load(path, quiet=False):
    """Every record of a result file, or a one-line UsageError saying what is wrong with it:
    missing, empty, not dslbench's, a bad line, or written by a newer dslbench. A torn last
    line is what a crash or a full disk leaves mid-write: it is left out, and said on stderr
    (unless quiet); `cut_torn_tail` removes it before more records are appended."""
    lines = read_lines(path)
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                if not quiet:
                    print(f"dslbench: warning: {path}: line {number} is torn (a crash or a full disk mid-write?): "
                          "read without it", file=sys.stderr)
                break
            raise UsageError(f"{path}: line {number} is not JSON: not a complete dslbench record") from None
        if not isinstance(record, dict) or "schema" not in record or not ("op" in record or "kind" in record):
            raise UsageError(f"{path}: line {number} is not a dslbench record")
        if not isinstance(record["schema"], int) or record["schema"] > SCHEMA:
            raise UsageError(f"{path}: line {number} has schema {record['schema']}; this dslbench reads up to {SCHEMA}: upgrade it")
        lacking = [k for k in CASE_KEYS if k not in record] if record.get("kind", "case") == "case" else []
        if lacking:
            raise UsageError(f"{path}: line {number} is a case record without {', '.join(lacking)}")
        records.append(record)
    if not records:
        raise UsageError(f"{path}: empty result file")
    return records


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such result file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None


def cut_torn_tail(path):
    """Remove a torn last line (see load) from the file, so that appending goes on after the
    last whole record; True if there was one."""
    with open(path, "rb") as f:
        data = f.read()
    body = data.rstrip(b"\n")
    start = body.rfind(b"\n") + 1
    try:
        json.loads(body[start:] or b"{}")
        return False
    except ValueError:
        with open(path, "r+b") as f:
            f.truncate(start)
        return True


CASE_KEYS = ("op", "backend", "dtype", "shape")  # what every case record holds


def case_key(record):
    """What identifies a case across runs: op, backend, dtype, shape and seed."""
    return (record["op"], record["backend"], record["dtype"], shape_str(record["shape"]), record.get("seed"))


# What must agree for records to be one run (merge, --resume); the time of day may differ.
ENV_KEYS = ("device_kind", "device_name", "python", "torch", "triton", "tilelang", "cuda", "driver", "git_commit")


def env_signature(env):
    """The environment fields that make a run one run, from a record's `env` dict."""
    env = env or {}
    return tuple((k, env.get(k)) for k in ENV_KEYS)


def env_difference(a, b):
    """'torch: '2.8' vs '2.9', ...' for two signatures, or '' when they agree."""
    return ", ".join(f"{k}: {x!r} vs {y!r}" for (k, x), (_, y) in zip(a, b) if x != y)
