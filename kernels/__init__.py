"""The kernels dslbench compares: one folder per op (its spec, then one file per DSL)."""


class Skip(Exception):
    """A backend that cannot run this case here (e.g. a baseline refusing a shape): the
    harness records it as `skipped: <reason>`, never as a failure."""
