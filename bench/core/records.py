"""Result records: one JSON object per (op, backend, dtype, shape), one per line in a file."""
import json
import math
import os

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


def load(path):
    """Every record of a result file, or a one-line UsageError saying what is wrong with it:
    missing, empty, truncated, not dslbench's, or written by a newer dslbench."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            what = "truncated" if number == len(lines) else "not JSON"
            raise UsageError(f"{path}: line {number} is {what}: not a complete dslbench record") from None
        if not isinstance(record, dict) or "schema" not in record or not ("op" in record or "kind" in record):
            raise UsageError(f"{path}: line {number} is not a dslbench record")
        if not isinstance(record["schema"], int) or record["schema"] > SCHEMA:
            raise UsageError(f"{path}: line {number} has schema {record['schema']}; this dslbench reads up to {SCHEMA}: upgrade it")
        records.append(record)
    if not records:
        raise UsageError(f"{path}: empty result file")
    return records


def case_key(record):
    """What identifies a case across runs: op, backend, dtype, shape and seed."""
    return (record["op"], record["backend"], record["dtype"], shape_str(record["shape"]), record.get("seed"))
