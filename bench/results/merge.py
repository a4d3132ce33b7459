"""`dslbench merge`: join shard files into one run.

Refuses a case recorded twice (unless --allow-duplicates: the first is kept) and runs from
different environments (device, library versions, commit; unless --allow-mixed)."""
import os
import sys

from bench.core.ops import UsageError
from bench.core.records import append, case_key, env_difference, env_signature, load


def merge(paths, out, allow_duplicates=False, allow_mixed=False):
    if os.path.exists(out):
        raise UsageError(f"{out} exists: merge writes a new file")
    merged, seen, signatures = [], {}, {}
    for path in paths:
        for record in load(path):
            signatures.setdefault(env_signature(record.get("env")), path)
            if record.get("kind", "case") != "case":
                merged.append(record)
                continue
            key = case_key(record)
            if key in seen:
                if not allow_duplicates:
                    raise UsageError(f"case {'/'.join(map(str, key))} is in both {seen[key]} and {path}; "
                                     "pass --allow-duplicates to keep the first")
                continue
            seen[key] = path
            merged.append(record)
    if len(signatures) > 1 and not allow_mixed:
        first, second = list(signatures)[:2]
        diff = env_difference(first, second)
        raise UsageError(f"mixed environments ({diff}) in {signatures[first]} and {signatures[second]}; "
                         "pass --allow-mixed to merge anyway")
    for record in merged:
        append(out, record)
    print(f"merged {len(seen)} cases from {len(paths)} files into {out}", file=sys.stderr)
    return 0
