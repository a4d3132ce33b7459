"""PNG plots for `dslbench report` (matplotlib, Agg: no display needed).

Every plot of a CPU-path run carries "CPU PATH: NOT PERFORMANCE" in its title. Legends sit
beside the axes (LEGEND), never over the data, and each figure is saved at the size of all
it holds (bbox_inches="tight"), so no tick label is cut off."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bench.core.ops import shape_str  # noqa: E402

NOT_PERFORMANCE = "CPU PATH: NOT PERFORMANCE"
# Each DSL keeps its hue in every plot, a lighter shade for its matched track.
COLORS = {"triton": "tab:blue", "tilelang": "tab:orange", "triton-best": "tab:blue", "tilelang-best": "tab:orange",
          "triton-matched": "#9ecae1", "tilelang-matched": "#fdae6b"}
OTHER_COLORS = ("tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray")
LEGEND = dict(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # right of the axes


def color(name, index):
    """The DSLs keep their colours in every plot; vendor baselines take the others in turn."""
    return COLORS.get(name, OTHER_COLORS[index % len(OTHER_COLORS)])


def grouped_bars(ax, labels, series, ylabel, spans=None):
    """Bars of several series side by side at each label; None values are left out. `spans`
    ({name: [(low, high) or None]}) draws each bar's whisker (p10-p90 of the timing). The axis
    is logarithmic when the values span more than 10x. A series with no value (a backend
    skipped on every shape) takes no slot and no legend entry; the legend sits beside the
    axes, never over a bar."""
    series = {name: values for name, values in series.items() if any(values)}
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        xs = [x + i * width for x, v in enumerate(values) if v]
        heights = [v for v in values if v]
        whiskers = None
        if spans and spans.get(name):
            pairs = [s for s, v in zip(spans[name], values) if v]
            if all(pairs):
                # max(0, .): the span of equal samples can miss the median by a rounding error
                whiskers = [[max(h - lo, 0.0) for h, (lo, _) in zip(heights, pairs)],
                            [max(hi - h, 0.0) for h, (_, hi) in zip(heights, pairs)]]
        ax.bar(xs, heights, width, label=name, color=color(name, i), yerr=whiskers, capsize=2 if whiskers else 0,
               error_kw={"elinewidth": 0.8})
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    present = [v for values in series.values() for v in values if v]
    if present and max(present) > 10 * min(present):
        ax.set_yscale("log")
    if series:
        ax.legend(**LEGEND)


def save(fig, path, title, performance):
    fig.suptitle(title if performance else f"{title}  [{NOT_PERFORMANCE}]", color="black" if performance else "red")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def performance(path, op, dtype, shapes, tflops, vs_vendor, performance, spans=None):
    """Left: TFLOP/s per backend across shapes, whiskers from the p90 to the p10 time. Right: each
    DSL's speed over the fastest vendor baseline (1 = as fast), per shape; a CPU-path run has no
    right panel (interpreter-over-torch ratios say nothing of speed; its table keeps the column)."""
    labels = [shape_str(s) for s in shapes]
    fig, axes = plt.subplots(1, 2 if performance else 1, figsize=(14 if performance else 8, 4.2), squeeze=False)
    left = axes[0][0]
    grouped_bars(left, labels, tflops, "TFLOP/s (median; p90-p10 time)", spans)
    if performance and vs_vendor:
        grouped_bars(axes[0][1], labels, vs_vendor, "speed / fastest vendor baseline")
        axes[0][1].axhline(1.0, color="gray", linewidth=1)
    elif performance:
        axes[0][1].text(0.5, 0.5, "no vendor baseline timed", ha="center", transform=axes[0][1].transAxes)
    save(fig, path, f"{op} {dtype}", performance)


def compile_times(path, op, dtypes, medians, spans, performance):
    """Median compile time per DSL per dtype, the whiskers spanning min to max over shapes."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.8 / max(len(medians), 1)
    for i, (dsl, values) in enumerate(medians.items()):
        xs = [x + i * width for x, v in enumerate(values) if v]
        low = [v - s[0] for v, s in zip(values, spans[dsl]) if v]
        high = [s[1] - v for v, s in zip(values, spans[dsl]) if v]
        ax.bar(xs, [v for v in values if v], width, yerr=[low, high], label=dsl, color=color(dsl, i), capsize=3)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(dtypes))], dtypes)
    ax.set_ylabel("compile ms (median; min-max)")
    ax.set_yscale("log")
    ax.legend(**LEGEND)
    save(fig, path, f"{op}: compile time", performance)


def speed_ratio(path, groups):
    """TileLang/Triton speed per shape, one row of points per op and dtype, on a log axis."""
    fig, ax = plt.subplots(figsize=(7, 1.8 + 0.4 * len(groups)))
    for y, (label, ratios) in enumerate(groups.items()):
        ax.scatter(ratios, [y] * len(ratios), color="tab:orange", alpha=0.7)
    ax.set_yticks(range(len(groups)), list(groups))
    ax.set_ylim(-0.7, len(groups) - 0.3)
    ax.axvline(1.0, color="gray", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g}x"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("TileLang speed / Triton speed per shape (> 1: TileLang faster)")
    save(fig, path, "TileLang vs Triton", True)


def across_runs(path, title, run_labels, series):
    """Geometric-mean TFLOP/s (or another per-backend number) of each backend, one bar per run."""
    backends = list(series)
    per_run = {label: [series[b][i] for b in backends] for i, label in enumerate(run_labels)}
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * len(backends) + 3), 4.2))
    grouped_bars(ax, backends, per_run, "TFLOP/s (geometric mean over shapes)")
    save(fig, path, f"{title}: across runs", True)
