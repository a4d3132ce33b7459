"""Markdown pieces of `dslbench report` and its verdict."""


def table(header, rows):
    """A markdown table."""
    def cells(row):
        return "| " + " | ".join(str(c).replace("|", "/") for c in row) + " |"
    return [cells(header), "|" + "---|" * len(header), *(cells(r) for r in rows), ""]


def num(value, spec=".3g"):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "-" if value is None else format(value, spec)
