import numpy as np
import pandas as pd

from llcbench import plots


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


def test_step_size_calibration_figure_is_written(tmp_path):
    plots.step_size_calibration(table(), "sgld", {"mala_accept_mean": "MALA acceptance"}, tmp_path / "cal.png")
    assert (tmp_path / "cal.png").stat().st_size > 10_000


def test_sweep_figures_survive_diverged_rows(tmp_path):
    t = table()
    plots.sweep_llc(t, tmp_path / "llc.png")
    plots.sweep_wnv(t, tmp_path / "wnv.png")
    all_nan = t.assign(wnv_time=np.nan, wnv_grad=np.nan)
    plots.sweep_wnv(all_nan, tmp_path / "wnv_nan.png")
    assert all((tmp_path / f).stat().st_size > 5_000 for f in ("llc.png", "wnv.png", "wnv_nan.png"))
