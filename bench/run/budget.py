"""`--budget DURATION`: a run that must end within a time (a 15-minute GPU window, a SLURM
allocation) starts no group the time left cannot cover, then ends as a finished run does:
saved, the resume command printed, the report written.

The cost of a group is estimated from this run's own groups: the mean seconds per backend of
the groups of its op done so far, else of every group done so far (compiles, autotuning and
timing all included, as they are what the clock pays). The first group has nothing to go on and
starts while any time is left.
"""
import re
import threading
import time

from bench.core.ops import UsageError

UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text):
    """'7m', '90s', '1h30m', '420' (seconds) -> seconds; anything else is a one-line UsageError."""
    spec = (text or "").strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", spec):
        seconds = float(spec)
    elif re.fullmatch(r"(\d+(\.\d+)?[hms])+", spec):
        seconds = sum(float(n) * UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([hms])", spec))
    else:
        raise UsageError(f"--budget {text!r}: write a duration such as 7m, 90s, 1h30m or 420 (seconds)")
    if seconds <= 0:
        raise UsageError(f"--budget {text!r}: the budget must be more than 0 seconds")
    return seconds


class Budget:
    """Admits groups while the time left covers their estimate; remembers what it refused."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds, self.clock, self.start = seconds, clock, clock()
        self.lock, self.per_backend, self.refused = threading.Lock(), {}, []  # op -> [seconds, backends]

    def left(self):
        return self.seconds - (self.clock() - self.start)

    def estimate(self, group):
        """Seconds this group should take, or None with nothing done yet to go on."""
        spec, names = group[0], group[1]
        seen = self.per_backend.get(spec.NAME)
        if seen is None and self.per_backend:
            seen = [sum(v[0] for v in self.per_backend.values()), sum(v[1] for v in self.per_backend.values())]
        return seen[0] / max(seen[1], 1) * len(names) if seen else None

    def admit(self, group):
        """True if the group may start now; else it is kept in `refused` (with its estimate)."""
        with self.lock:
            left, cost = self.left(), self.estimate(group)
            if left > 0 and (cost is None or cost <= left):
                return True
            self.refused.append((group, cost))
            return False

    def done(self, group, seconds):
        """A group finished after `seconds` of wall time."""
        with self.lock:
            seen = self.per_backend.setdefault(group[0].NAME, [0.0, 0])
            seen[0] += seconds
            seen[1] += len(group[1])

    def refused_line(self):
        """What the budget left out, in one line (empty when nothing was)."""
        if not self.refused:
            return ""
        cases = sum(len(g[1]) for g, _ in self.refused)
        costs = [c for _, c in self.refused if c is not None]
        need = f"; about {sum(costs):.0f} s more would run them" if costs else ""
        return (f"budget: {len(self.refused)} groups ({cases} cases) not started, the {self.seconds:.0f} s budget "
                f"could not cover them{need}")
