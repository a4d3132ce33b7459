"""Result records: one JSON object per (op, backend, dtype, shape), one per line in a file."""
import json
import math
import os

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
