"""The report's plots: legends never over the data, labels never cut off, no speed ratios on a CPU run."""
import pytest

from bench.results import plots

SHAPES = [dict(M=4096, N=4096, K=4096), dict(M=16, N=14336, K=4096), dict(M=8192, N=8192, K=8192)]
TFLOPS = {"triton-best": [600, 30, 650], "tilelang-best": [620, 35, 640], "cublas": [700, 40, 720]}


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions save, kept open (and the keywords savefig got)."""
    kept = []
    real_save = plots.save

    def keep(fig, path, title, performance):
        fig.suptitle(title)
        fig.canvas.draw()
        kept.append(fig)
        real_save(fig, path, title, performance)
    monkeypatch.setattr(plots, "save", keep)
    monkeypatch.setattr(plots.plt, "close", lambda fig: None)
    return kept


def overlaps(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def legend_problems(fig):
    renderer = fig.canvas.get_renderer()
    problems = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend and overlaps(legend.get_window_extent(renderer), ax.get_window_extent(renderer)):
            problems.append(f"legend over the axes of {ax.get_ylabel()!r}")
    return problems


def test_no_legend_covers_a_plot_s_data_area(figures, tmp_path):
    plots.performance(tmp_path / "p.png", "matmul", "bf16", SHAPES, TFLOPS,
                      {"triton-best": [0.9, 0.8, 0.9], "tilelang-best": [0.9, 0.9, 0.9]}, True)
    plots.compile_times(tmp_path / "c.png", "attention", ["bf16", "fp16"],
                        {"triton-best": [900, 950], "tilelang-best": [12000, 14000]},
                        {"triton-best": [(800, 1000), (900, 1000)], "tilelang-best": [(11000, 13000), (13000, 15000)]},
                        True)
    plots.across_runs(tmp_path / "r.png", "matmul bf16", ["a", "b"], {"triton-best": [600, 610], "cublas": [700, 705]})
    assert len(figures) == 3 and all(any(ax.get_legend() for ax in f.axes) for f in figures)
    assert [p for f in figures for p in legend_problems(f)] == []


def test_the_legend_check_sees_a_legend_over_the_data(figures, tmp_path):
    plots.compile_times(tmp_path / "c.png", "attention", ["bf16"], {"triton-best": [900]},
                        {"triton-best": [(800, 1000)]}, True)
    fig = figures[0]
    fig.axes[0].legend(loc="upper right")  # the old placement: inside the axes
    fig.canvas.draw()
    assert legend_problems(fig)


def test_every_label_is_inside_the_saved_image(figures, tmp_path, monkeypatch):
    """A long first shape label (rotated, right-aligned) reaches left of the figure: the saved
    image must still hold it whole."""
    saved_with = {}
    real_savefig = plots.plt.Figure.savefig

    def savefig(fig, path, **kwargs):
        saved_with.update(kwargs)
        real_savefig(fig, path, **kwargs)
    monkeypatch.setattr(plots.plt.Figure, "savefig", savefig)
    long_first = [dict(B=16, Hq=32, Hkv=8, Sq=16384, Skv=16384, D=128, causal=1, window=123456789),
                  dict(B=1, Hq=2, Hkv=2, Sq=1, Skv=8, D=64, causal=0), dict(B=1, Hq=2, Hkv=2, Sq=1, Skv=8, D=64, causal=0)]
    plots.performance(tmp_path / "p.png", "attention", "bf16", long_first, TFLOPS, {"triton-best": [1, 1, 1]}, True)
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    inches = fig.dpi_scale_trans.inverted()
    image = fig.get_tightbbox(renderer) if saved_with.get("bbox_inches") == "tight" else fig.bbox_inches
    labels = [t for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    assert labels
    for text in labels:
        box = text.get_window_extent(renderer).transformed(inches)
        assert image.x0 <= box.x0 + 1e-6 and box.x1 <= image.x1 + 1e-6, f"{text.get_text()!r} is cut off"


def test_a_cpu_path_run_has_no_speed_ratio_panel(figures, tmp_path):
    plots.performance(tmp_path / "p.png", "matmul", "fp16", SHAPES, TFLOPS, {"triton-best": [0.1, 0.1, 0.1]}, False)
    plots.performance(tmp_path / "g.png", "matmul", "fp16", SHAPES, TFLOPS, {"triton-best": [0.9, 0.9, 0.9]}, True)
    cpu, gpu = figures
    assert len(cpu.axes) == 1 and len(gpu.axes) == 2
    assert "vendor" not in cpu.axes[0].get_ylabel()
