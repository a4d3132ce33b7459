"""The DSL maturity ledger (findings/): read each finding's facts, run its reproducer in a fresh
process, and say `present`, `fixed`, `skipped` or `error` for the installed release."""


class Skip(Exception):
    """A reproducer cannot run here (a toolchain or the DSL is missing): the finding's status is
    `skipped`, with this message as the reason."""
