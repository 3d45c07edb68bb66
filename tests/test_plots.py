import numpy as np
import pandas as pd

from llcbench import plots
from test_workflow import pixels


def table(**extra):
    h = [1e-6, 1e-5, 1e-4, 1e-3]
    return pd.DataFrame(
        {
            "experiment": [f"e{i}" for i in range(4)],
            "sampler": "sgld",
            "llc": [5.0, 5.1, 5.6, np.nan],
            "llc_se": [0.3, 0.1, 0.05, np.nan],
            "mala_accept_mean": [0.99, 0.95, 0.6, np.nan],
            "chains_diverged": [0, 0, 1, 4],
            "chains": 4,
            "wnv_time": [1.0, 0.5, 0.2, np.nan],
            "wnv_grad": [10.0, 5.0, 2.0, np.nan],
            "true_llc": np.nan,
            "sweep_axis": "grid",
            "samplers.sgld.step_size": h,
            **extra,
        }
    )


def values(line) -> np.ndarray:
    return np.asarray(line.get_ydata(), float)


def test_step_size_calibration_figure_plots_each_statistic_against_the_step(tmp_path):
    rows = table().iloc[::-1]  # any order: the figure sorts by step size
    fig = plots.step_size_calibration(rows, "sgld", {"mala_accept_mean": "MALA acceptance"}, tmp_path / "cal.png")
    pixels(tmp_path / "cal.png")
    llc, accept, diverged = fig.axes  # λ̂ ± SE, each statistic, the diverged fraction
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_xlabel() == "sgld step size"
        np.testing.assert_allclose(np.asarray(ax.lines[0].get_xdata(), float), [1e-6, 1e-5, 1e-4, 1e-3])
    (bars,) = llc.containers
    np.testing.assert_allclose(values(bars.lines[0]), [5.0, 5.1, 5.6, np.nan])
    half = [np.ptp(seg[:, 1]) / 2 for seg in bars.lines[2][0].get_segments() if len(seg)]  # none for the NaN row
    np.testing.assert_allclose(half, [0.3, 0.1, 0.05])
    assert accept.get_ylabel() == "mala_accept_mean" and accept.get_title() == "MALA acceptance"
    np.testing.assert_allclose(values(accept.lines[0]), [0.99, 0.95, 0.6, np.nan])
    np.testing.assert_allclose(values(diverged.lines[0]), [0, 0, 1 / 4, 4 / 4])  # chains_diverged / chains


def test_sweep_figures_survive_diverged_rows(tmp_path):
    t = table()
    (ax,) = plots.sweep_llc(t, tmp_path / "llc.png").axes  # one panel: the swept step size, a point per value
    assert ax.get_xlabel() == "samplers.sgld.step_size" and [x.get_text() for x in ax.get_xticklabels()] == [
        "1e-06",
        "1e-05",
        "0.0001",
        "0.001",
    ]
    (bars,) = ax.containers
    np.testing.assert_allclose(values(bars.lines[0]), [5.0, 5.1, 5.6, np.nan])
    for ax, expected in zip(plots.sweep_wnv(t, tmp_path / "wnv.png").axes, ([1.0, 0.5, 0.2], [10.0, 5.0, 2.0])):
        (points,) = ax.collections  # the diverged run has no WNV: left out
        np.testing.assert_allclose(np.asarray(points.get_offsets(), float)[:, 1], expected)
        assert ax.get_yscale() == "log" and not ax.texts
    for ax in plots.sweep_wnv(t.assign(wnv_time=np.nan, wnv_grad=np.nan), tmp_path / "wnv_nan.png").axes:
        assert not any(len(c.get_offsets()) for c in ax.collections) and ax.get_yscale() == "linear"
        assert [x.get_text() for x in ax.texts] == ["no finite WNV (all runs diverged)"]
    for name in ("llc.png", "wnv.png", "wnv_nan.png"):
        pixels(tmp_path / name)
