"""The workflow as users run it: `snakemake` in a subprocess."""

import itertools
import json
from pathlib import Path
import re
import shutil
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest
import pandas as pd
import xarray as xr

from conftest import ROOT, TINY, expected_flags, job_counts, parse_status, snakemake
from test_cost import FROM_STATE
from llcbench import diagnostics, plots, run_plots
from llcbench.llc import LLCEstimate

RUN_FIGURES = ("llc_running", "L_trace", "L_acf", "L_ess", "L_rhat", "theta_trace", "theta_rank")  # README, per run
# The histogram figure of each statistic a sampler declares with one (README) -> the statistic it shows.
STAT_FIGURES = {"acceptance": "acceptance_rate", "energy_hist": "energy_change", "mala_accept": "mala_accept", "step_size": "step_size"}
SAMPLER_STAT_FIGURES = {"hmc": ["acceptance"], "mclmc": ["energy_hist"], "sgld": ["mala_accept"]}


def test_tiny_run_writes_sweep_csv(tiny_run):
    wd, res = tiny_run
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    required = [
        "run_id",
        "sampler",
        "llc",
        "llc_se",
        "ess",
        "rhat",
        "L0",
        "n",
        "d",
        "beta",
        "nbeta",
        "gamma",
        "activation",
        "depth",
        "widths",
        "x_dist",
        "noise",
        "seed",
        "chains",
        "draws",
        "sampling_seconds",
        "grad_evals_fde",
        "status",
    ]
    assert set(required) <= set(table.columns)
    assert sorted(table["sampler"]) == ["hmc", "hmc", "mclmc", "mclmc", "sgld", "sgld"]
    assert sorted(table["experiment"]) == ["a"] * 3 + ["b"] * 3
    assert (table["d"] == 4 * 8 + 8 + 8 * 8 + 8 + 8 + 1).all()
    assert (table["n"] == 256).all() and (table["widths"] == "8x8").all()
    np.testing.assert_allclose(table["nbeta"], 256 / np.log(256))
    assert np.isfinite(table[["llc", "llc_se", "ess", "rhat"]]).all().all()
    assert (table["llc_se"] > 0).all() and (table["grad_evals_fde"] > 0).all() and (table["sampling_seconds"] > 0).all()
    assert set(table["status"]) <= {"ok", "erm_not_converged"}, table["status"].tolist()
    # WNV = Var(λ̂) × cost, Var(λ̂) from the larger of the two SEs (the scoreboard's), over the whole run (what
    # ranks samplers; wnv_grad and wnv_time are these) and over the draws alone; the cost's parts add up
    # (tests/test_cost.py counts them against the model's passes)
    var = np.fmax(table["llc_se"], table["llc_se_bootstrap"]) ** 2
    for unit, measure in (("fde", "grad"), ("seconds", "time")):
        cost = {p: table[f"cost_{p}_{unit}"] for p in ("tuning", "burn_in", "draws", "eval", "sampling", "total")}
        np.testing.assert_allclose(cost["sampling"], cost["draws"] + cost["eval"], rtol=1e-6)
        np.testing.assert_allclose(cost["total"], cost["tuning"] + cost["burn_in"] + cost["sampling"], rtol=1e-6)
        np.testing.assert_allclose(table[f"wnv_{measure}_total"], var * cost["total"], rtol=1e-6)
        np.testing.assert_allclose(table[f"wnv_{measure}_sampling"], var * cost["sampling"], rtol=1e-6)
        np.testing.assert_array_equal(table[f"wnv_{measure}"], table[f"wnv_{measure}_total"])
    from_state = table["sampler"].isin(FROM_STATE)  # read each draw's L_n from their state's log density: no pass to pay
    assert (table.loc[~from_state, "cost_eval_fde"] > 0).all() and (table.loc[from_state, "cost_eval_fde"] == 0).all()
    assert (table["cost_total_seconds"] > 0).all()
    # where the results are is printed at the end
    assert "llc_sweep_results.csv" in res.stdout + res.stderr


def test_light_jobs_run_inside_the_snakemake_process_and_log_to_their_own_files(tiny_run):
    """The estimates, tables and sweep figures run in the snakemake process (`run:` rules,
    llcbench.runtime.in_process): every such job's log names one and the same process, and
    its own rule; the sampler jobs are processes of their own (they set XLA's threads)."""
    wd, _ = tiny_run
    logs = wd / "results/logs"

    def pids(paths):
        return {p.name: re.search(r"pid (\d+)\)", p.read_text()) for p in paths}

    runs = pd.read_csv(wd / "results/llc_sweep_results.csv")["run_id"]
    light = [*(logs / f"llc/{run_id}.log" for run_id in runs), logs / "aggregate.log", logs / "scoreboard.log", logs / "plots/sweep.log"]
    found = pids(light)
    assert all(found.values()), [name for name, m in found.items() if m is None]
    assert len({m.group(1) for m in found.values()}) == 1, found
    assert "rule llc," in light[0].read_text() and "wrote" in (logs / "aggregate.log").read_text()
    assert not any(pids(sorted((logs / "sample").glob("*.log"))).values())  # scripts: "rule sample, threads ..."


def test_tiny_run_netcdf_outputs_open_with_xarray_and_carry_provenance(tiny_run):
    wd, _ = tiny_run
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    for row in table.drop_duplicates("run_id").itertuples():
        run = wd / "results/runs" / row.run_id
        dt = xr.open_datatree(run / "trace.nc")
        post = dt["posterior"]
        assert post["L_n"].dims == ("chain", "draw")
        assert post.sizes["chain"] == row.chains and post.sizes["draw"] == row.draws
        for key in ("d", "n", "beta", "nbeta", "gamma", "L0", "sampling_seconds", "grad_evals_fde"):
            assert key in dt.attrs
        assert json.loads(dt.attrs["settings_json"])["sampler"] == row.sampler
        assert "blackjax" in json.loads(dt.attrs["versions_json"])
        llc = xr.open_dataset(run / "llc.nc")
        # the estimate is recomputable from the stored trace
        np.testing.assert_allclose(llc.attrs["llc"], dt.attrs["nbeta"] * (post["L_n"].values.mean() - dt.attrs["L0"]), rtol=1e-5)
        np.testing.assert_allclose(llc["llc_running_pooled"].values[-1], llc.attrs["llc"], rtol=1e-5)
        summary = (run / "summary.md").read_text()
        assert f"{llc.attrs['llc']:.4g}" in summary and "blackjax" in summary
        for key in ("ess_tail", "L_acf", "rhat_by_draws", "ess_bulk_by_draws"):
            assert key in llc.attrs or key in llc.data_vars
    for nc in (wd / "results/data").glob("*/data.nc"):
        assert xr.open_dataset(nc)["x"].shape == (256, 4)


def test_index_maps_every_id_under_results_to_the_settings_of_its_files(tiny_run):
    wd, _ = tiny_run
    index = pd.read_csv(wd / "results/index.csv")
    assert index["id"].is_unique
    indexed = {kind: dict(zip(rows["id"], rows["settings_json"].map(json.loads))) for kind, rows in index.groupby("kind")}
    for kind, pattern in {"data": "data/*/data.nc", "erm": "erm/*/erm.nc", "run": "runs/*/trace.nc"}.items():
        on_disk = {p.parent.name: p for p in (wd / "results").glob(pattern)}
        assert set(indexed.get(kind, {})) == set(on_disk), kind  # every ID there is indexed, and only those
        for id_, path in on_disk.items():
            with xr.open_datatree(path) as f:  # the settings the file records it was made with
                assert indexed[kind][id_] == json.loads(f.attrs["settings_json"]), id_
            if kind == "run":
                with xr.open_dataset(path.parent / "llc.nc") as f:
                    assert indexed[kind][id_] == json.loads(f.attrs["settings_json"]), id_
    assert len(indexed["data"]) == 1 and len(indexed["erm"]) == 1 and len(indexed["run"]) == 4  # a and b share all but SGLD
    for settings in indexed["run"].values():  # a run's settings name the data and w* it was sampled at
        assert settings["data_id"] in indexed["data"] and settings["erm_id"] in indexed["erm"]
    # each experiment -> its data, w* and one run per sampler, as in the sweep CSV
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    assert set(indexed["experiment"]) == set(table["experiment"]) == {"a", "b"}
    for name, e in indexed["experiment"].items():
        rows = table[table["experiment"] == name]
        assert e["runs"] == dict(zip(rows["sampler"], rows["run_id"]))
        assert {e["data_id"]} == set(rows["data_id"]) and {e["erm_id"]} == set(rows["erm_id"])
    sgld = {name: indexed["run"][e["runs"]["sgld"]]["sampler_settings"]["step_size"] for name, e in indexed["experiment"].items()}
    assert sgld == {"a": 1.0e-4, "b": 2.0e-4}  # tests/configs/tiny.yaml


def test_tiny_run_samplers_agree_on_lambda_within_their_errors(tiny_run):
    wd, _ = tiny_run
    table = pd.read_csv(wd / "results/llc_sweep_results.csv").drop_duplicates("run_id")
    # A tempered posterior that is locally Gaussian has nβ·E[L_n − L_n(w*)] = nβ·tr(CΣ) ≤ d/2
    # (Σ = (2nβC + γI)⁻¹), and λ̂ of a minimum is positive.
    assert ((table["llc"] > 0) & (table["llc"] <= table["d"] / 2)).all(), table[["sampler", "llc", "d"]]
    # Every sampler samples the same posterior, so two runs' λ̂ differ by their Monte Carlo errors:
    # approximately N(0, se₁² + se₂²). 4 combined SEs leave a false alarm 6e-5 per pair even with the
    # SEs themselves uncertain by ~1/√(2·ESS) ≈ 10% (ESS 40–130 here). SGLD's step-size bias is
    # below that: its two runs (step 1e-4 and 2e-4) differ by a tenth of an SE.
    for a, b in itertools.combinations(table.itertuples(), 2):
        assert abs(a.llc - b.llc) < 4 * np.hypot(a.llc_se, b.llc_se), (a.run_id, a.llc, a.llc_se, b.run_id, b.llc, b.llc_se)


def test_status_of_every_row_follows_the_grammar_and_its_numbers(tiny_run):
    wd, _ = tiny_run
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    for row in table.to_dict("records"):
        llc = xr.open_dataset(wd / "results/runs" / row["run_id"] / "llc.nc")
        grad_tol = json.loads(xr.open_dataset(wd / "results/erm" / row["erm_id"] / "erm.nc").attrs["settings_json"])["training"]["grad_tol"]
        assert set(parse_status(row["status"])) == expected_flags(row, json.loads(llc.attrs["health_json"]), grad_tol), row
        assert llc.attrs["status"] == row["status"]


def test_every_status_flag_has_its_documented_format():
    thresholds = {"rhat_max": 1.05, "ess_min": 100}
    est = LLCEstimate(llc=-0.3, llc_se=0.1, ess=142.7, rhat=1.2345, mean_loss=0.1, chains_used=3, chains_diverged=1)
    every = diagnostics.health_status(
        est, ess_tail=99.7, counts={"divergences": 3.0, "nan_reverts": 2.0}, frac_below_L0=0.8, erm_converged=False, thresholds=thresholds
    )
    flags = parse_status(every)
    assert list(flags) == [
        "diverged",
        "rhat",
        "ess",
        "divergences",
        "nan_reverts",
        "w_star_not_minimum",
        "negative_llc",
        "erm_not_converged",
    ]
    assert flags["diverged"]["chains"] == "1"
    assert float(flags["rhat"]["rhat"]) == pytest.approx(1.2345, abs=5e-4) and float(flags["rhat"]["rhat_max"]) == 1.05
    # the lower of bulk and tail, floored: the flag never reads "ess 100 < 100"
    assert flags["ess"]["ess"] == "99" and float(flags["ess"]["ess_min"]) == 100
    assert flags["divergences"]["count"] == "3" and flags["nan_reverts"]["count"] == "2" and flags["w_star_not_minimum"]["below_l0"] == "80"
    healthy = est._replace(llc=1.0, ess=500.0, rhat=1.001, chains_diverged=0)
    quiet = {"ess_tail": 500.0, "counts": {"divergences": 0.0}, "frac_below_L0": 0.2, "thresholds": thresholds}
    assert diagnostics.health_status(healthy, erm_converged=True, **quiet) == "ok"
    none = est._replace(llc=float("nan"), chains_used=0, chains_diverged=4)
    assert list(parse_status(diagnostics.health_status(none, erm_converged=True, **quiet))) == ["diverged"]
    failed = diagnostics.health_status(none, erm_converged=False, failure="tuning_failed: step size 0", **quiet)
    assert {k: m[0] for k, m in parse_status(failed).items()} == {
        "failure": "tuning_failed: step size 0",
        "erm_not_converged": "erm_not_converged",
    }
    at_checkpoint = parse_status(diagnostics.health_status(est, erm_converged=False, checkpoint_grad_norm=0.0123, **quiet))
    assert list(at_checkpoint) == ["not_a_minimum", "diverged", "rhat"]  # the flags meant for w* left out
    assert at_checkpoint["not_a_minimum"]["grad"] == "0.0123" and at_checkpoint["not_a_minimum"]["below_ln"] == "20"
    for bad in (
        "rhat high",
        "ess 42<100",
        "ok;negative_llc",
        "negative_llc;rhat 1.200 > 1.05",
        "divergences: 0",
        "nan_reverts: 1;nan_reverts: 1",
    ):
        with pytest.raises(AssertionError):
            parse_status(bad)  # the grammar itself rejects what it should


# --- figures: what each one shows, checked on the matplotlib objects and the PNG the workflow wrote ---


def pixels(path) -> np.ndarray:
    """The pixels of the PNG at ``path``, asserted not blank (a figure has many colours)."""
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[-1] == 4, path  # RGBA, as matplotlib writes
    colours = np.unique(np.ascontiguousarray(np.round(img * 255).astype(np.uint8)).view(np.uint32))
    assert len(colours) > 20, f"{path} is blank"
    return img


def assert_drawn_as(written: Path, drawn: Path) -> None:
    """The PNG the workflow wrote is, pixel for pixel, the figure the plotting function draws now
    from the same files (so what the figure objects are checked for is what the file shows)."""
    a, b = pixels(written), pixels(drawn)
    assert a.shape == b.shape and np.array_equal(a, b), f"{written.name} is not the figure of its run's files"


def chains_of(attrs) -> int:
    return json.loads(attrs["settings_json"])["sampler_settings"]["chains"]


def assert_same_series(lines, expected: np.ndarray, what: str, atol: float = 0.0) -> None:
    """``lines`` (matplotlib Line2D) draw exactly the series in the rows of ``expected``, one each."""
    drawn = [np.asarray(line.get_ydata(), float) for line in lines]
    assert len(drawn) == len(expected), f"{what}: {len(drawn)} lines for {len(expected)} series"
    for series in expected:
        hits = sum(d.shape == series.shape and np.allclose(d, series, rtol=1e-6, atol=atol, equal_nan=True) for d in drawn)
        assert hits == 1, f"{what}: a series is drawn {hits} times"


def check_running_llc(fig, llc: xr.Dataset) -> None:
    (ax,) = fig.axes
    chains = chains_of(llc.attrs)
    lines = {line.get_label(): line for line in ax.lines}
    assert sorted(k for k in lines if k.startswith("chain")) == [f"chain {c}" for c in range(chains)]
    for c in range(chains):  # λ̂_t per chain against the sampler step of each draw
        np.testing.assert_array_equal(lines[f"chain {c}"].get_xdata(), llc["step"].values)
        np.testing.assert_allclose(lines[f"chain {c}"].get_ydata(), llc["llc_running"].isel(chain=c).values, rtol=1e-6)
    np.testing.assert_allclose(lines["pooled"].get_ydata(), llc["llc_running_pooled"].values, rtol=1e-6)
    found = re.search(r"λ̂ = (-?\d+\.\d\d) ± (\d+\.\d\d),", ax.get_title())
    assert found, ax.get_title()
    assert float(found[1]) == pytest.approx(llc.attrs["llc"], abs=0.0051) and float(found[2]) == pytest.approx(
        llc.attrs["llc_se"], abs=0.0051
    )


def check_title(fig, attrs) -> None:
    """ArviZ figures: the heading names the sampler, its chains and the problem (d, n)."""
    title = fig.get_suptitle()
    assert f"{attrs['sampler'].upper()} (chains={chains_of(attrs)}," in title and f"d={attrs['d']}, n={attrs['n']}," in title, title


def check_trace(fig, dt: xr.DataTree, var: str) -> None:
    check_title(fig, dt.attrs)
    values = dt["posterior"][var].values  # (chain, draw[, proj])
    series = np.moveaxis(values.reshape(*values.shape[:2], -1), 1, -1).reshape(-1, values.shape[1])  # one per chain (× proj)
    density, trace = fig.axes
    assert_same_series(trace.lines, series, f"{var} trace")
    assert len(density.lines) == len(series), f"{var}: one density per chain and projection"
    assert trace.get_xlabel().startswith("draw")


def check_acf(fig, dt: xr.DataTree, llc: xr.Dataset) -> None:
    check_title(fig, dt.attrs)
    (ax,) = fig.axes
    curves = [line for line in ax.lines if np.asarray(line.get_ydata(), float)[0] == 1.0]  # ρ(0) = 1: one per chain
    lags = max((len(line.get_ydata()) for line in curves), default=0)
    assert lags > 1
    assert_same_series(curves, llc["L_acf"].values[:, :lags], "L_n ACF", atol=1e-6)  # ArviZ's ACF, in float32 or 64


def check_ess(fig, dt: xr.DataTree, llc: xr.Dataset) -> None:
    check_title(fig, dt.attrs)
    (ax,) = fig.axes
    bulk, tail = ax.collections  # bulk and tail ESS after each share of the draws
    assert len(bulk.get_offsets()) == len(tail.get_offsets()) == llc.sizes["checkpoint"]
    np.testing.assert_allclose(np.asarray(bulk.get_offsets())[:, 1], llc["ess_bulk_by_draws"].values, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(tail.get_offsets())[:, 1], llc["ess_tail_by_draws"].values, rtol=1e-5)  # 5%/95%
    draws = dt["posterior"].sizes["chain"] * dt["posterior"].sizes["draw"]
    assert ax.get_xlabel() == "draws, all chains together" and np.asarray(bulk.get_offsets())[-1, 0] == draws
    assert any(np.all(np.asarray(line.get_ydata()) == 400) for line in ax.lines)  # the dashed 400


def check_rhat(fig, llc: xr.Dataset) -> None:
    (ax,) = fig.axes
    curve, threshold = ax.lines[0], next(line for line in ax.lines if line.get_label() == "health threshold")
    np.testing.assert_array_equal(curve.get_xdata(), llc["checkpoint"].values)
    np.testing.assert_allclose(curve.get_ydata(), llc["rhat_by_draws"].values, rtol=1e-6)
    assert set(threshold.get_ydata()) == {json.loads(llc.attrs["health_json"])["rhat_max"]}


def check_rank(fig, dt: xr.DataTree) -> None:
    check_title(fig, dt.attrs)
    projections = dt["posterior"].sizes["proj"]
    assert len(fig.axes) == projections == 4  # README: 4 fixed random projections
    for ax in fig.axes:
        assert len(ax.lines) == chains_of(dt.attrs), ax.get_title()  # one rank ECDF per chain


def check_histogram(fig, dt: xr.DataTree, stat: str) -> None:
    (ax,) = fig.axes
    assert ax.get_xlabel() == stat and stat in dt["sample_stats"]
    values = dt["sample_stats"][stat].values
    counts = [sum(p.get_height() for p in bars) for bars in ax.containers]  # one histogram per chain
    assert counts == [np.isfinite(v).sum() for v in values]


def check_run_figures(run_dir: Path, sampler: str, stat_figures, out: Path, redraw=None) -> None:
    """Every per-run figure of the run in ``run_dir`` is there and not blank; those in ``redraw``
    (default: all) are drawn again from the run's trace.nc and llc.nc, checked for what they
    show (lines per chain with the run's values, the title's λ̂ …) and compared with the
    workflow's PNG pixel for pixel."""
    dt, llc = xr.open_datatree(run_dir / "trace.nc"), xr.open_dataset(run_dir / "llc.nc")
    names = [*RUN_FIGURES, *stat_figures]
    images = [pixels(run_dir / f"{sampler}_{name}.png") for name in names]
    for (a, name_a), (b, name_b) in itertools.combinations(zip(images, names), 2):
        assert a.shape != b.shape or not np.array_equal(a, b), f"{name_a} and {name_b} are the same picture"
    draw = {
        "llc_running": lambda p: check_running_llc(run_plots.running_llc(llc, p), llc),
        "L_trace": lambda p: check_trace(run_plots.loss_trace(dt, p), dt, "L_n"),
        "L_acf": lambda p: check_acf(run_plots.loss_acf(dt, p), dt, llc),
        "L_ess": lambda p: check_ess(run_plots.loss_ess(dt, p), dt, llc),
        "L_rhat": lambda p: check_rhat(run_plots.loss_rhat(llc, p), llc),
        "theta_trace": lambda p: check_trace(run_plots.theta_trace(dt, p), dt, "theta_proj"),
        "theta_rank": lambda p: check_rank(run_plots.theta_rank(dt, p), dt),
        **{f: lambda p, s=STAT_FIGURES[f]: check_histogram(run_plots.sampler_stat(dt, s, p), dt, s) for f in stat_figures},
    }
    out.mkdir(parents=True, exist_ok=True)
    for name in names if redraw is None else redraw:
        draw[name](out / f"{name}.png")
        assert_drawn_as(run_dir / f"{sampler}_{name}.png", out / f"{name}.png")


def test_every_run_figure_shows_its_runs_data(tiny_run, tmp_path):
    wd, _ = tiny_run
    table = pd.read_csv(wd / "results/llc_sweep_results.csv").drop_duplicates("run_id")
    assert sorted(table["sampler"]) == ["hmc", "mclmc", "sgld", "sgld"]
    for row in table.itertuples():
        # all of HMC's figures are redrawn and inspected (every kind of figure; the code is the
        # same for every sampler); of the other runs, one figure of each input: llc.nc, the
        # trace's draws and its sampler statistic
        stat_figures = SAMPLER_STAT_FIGURES[row.sampler]
        redraw = None if row.sampler == "hmc" else ["llc_running", "L_trace", *stat_figures]
        check_run_figures(wd / "results/runs" / row.run_id, row.sampler, stat_figures, tmp_path / row.run_id, redraw)


def test_sampler_stats_follow_arviz_conventions(tiny_run):
    wd, _ = tiny_run
    import arviz as az

    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    dt = xr.open_datatree(wd / "results/runs" / table.loc[table.sampler == "hmc", "run_id"].iloc[0] / "trace.nc")
    assert {"acceptance_rate", "is_divergent"} <= set(dt["sample_stats"].data_vars)
    assert float(az.ess(dt, var_names=["L_n"])["L_n"]) > 0


def test_sweep_plots_and_report_build(tiny_run, tmp_path):
    wd, _ = tiny_run
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    samplers = ["sgld", "hmc", "mclmc"]  # in the CSV's order
    # λ̂ ± SE: one error-bar series per sampler, a point per experiment (a, b) with the CSV's values
    (ax,) = plots.sweep_llc(table, tmp_path / "sweep_llc.png").axes
    assert ax.get_legend_handles_labels()[1] == samplers and [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert len(ax.containers) == len(samplers)
    for sampler, bars in zip(samplers, ax.containers):
        rows = table[table["sampler"] == sampler]
        line, _, (errors,) = bars.lines
        np.testing.assert_allclose(np.asarray(line.get_ydata(), float), rows["llc"])
        assert np.round(line.get_xdata()).tolist() == [0, 1]  # experiment a, experiment b (offset per sampler)
        np.testing.assert_allclose([np.ptp(seg[:, 1]) / 2 for seg in errors.get_segments()], rows["llc_se"])
    # WNV in both units, log scale, a point per run with the CSV's values
    axes = plots.sweep_wnv(table, tmp_path / "sweep_wnv.png").axes
    for ax, col in zip(axes, ("wnv_time", "wnv_grad")):
        assert ax.get_yscale() == "log" and ax.get_ylabel().startswith(col)
        assert [t.get_text() for t in ax.get_xticklabels()] == samplers and len(ax.collections) == len(samplers)
        for sampler, points in zip(samplers, ax.collections):
            np.testing.assert_allclose(np.asarray(points.get_offsets(), float)[:, 1], table.loc[table["sampler"] == sampler, col])
    # the workflow's λ̂ figure also draws each experiment's reference sampler's λ̂ (the scoreboard's): HMC here
    board = pd.read_csv(wd / "results/scoreboard.csv")
    (ax,) = plots.sweep_llc(table, tmp_path / "sweep_llc.png", board).axes
    (reference,) = [c for c in ax.collections if c.get_label() == "reference λ̂"]
    np.testing.assert_allclose([seg[0, 1] for seg in reference.get_segments()], table.loc[table["sampler"] == "hmc", "llc"])
    for name in ("sweep_llc", "sweep_wnv"):  # what the workflow wrote is those figures
        assert_drawn_as(wd / f"results/plots/{name}.png", tmp_path / f"{name}.png")
    res = snakemake(wd, "--configfile", str(TINY), "--report", "results/report.html")
    assert res.returncode == 0, res.stderr[-2000:]
    html = (wd / "results/report.html").read_text()
    assert "Experiment a, b" in html and "Experiment b" in html and "Sweep" in html
    assert "hmc_acceptance.png" in html and "llc_sweep_results.csv" in html
    assert "Scoreboard" in html and "scoreboard.csv" in html and "scoreboard.png" in html


def test_readme_images_copies_the_first_experiments_figures(tiny_run, tmp_path):
    """The README's refresh command for its example figures (`readme_images`) copies the
    figures of the first experiment's runs (the tiny run's experiment a), byte for byte, and
    among them every figure the README embeds."""
    wd = tmp_path / "workflow"
    shutil.copytree(tiny_run[0], wd, symlinks=True, ignore=shutil.ignore_patterns("assets"))
    res = snakemake(wd, "readme_images", "--cores", "1", "--configfile", str(TINY))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    first = table[table.experiment == "a"].set_index("sampler")
    written = sorted(p.name for p in (wd / "assets/readme").iterdir())
    embedded = set(re.findall(r"assets/readme/((?:sgld|hmc|mclmc)_\w+\.png)", (ROOT / "README.md").read_text()))
    assert embedded and embedded <= set(written), written
    for name in written:
        source = wd / "results/runs" / first.loc[name.split("_")[0], "run_id"] / name
        assert (wd / "assets/readme" / name).read_bytes() == source.read_bytes(), name


def test_rerun_with_nothing_changed_does_nothing(tiny_run):
    wd, _ = tiny_run
    res = snakemake(wd, "-n", "--cores", "1", "--configfile", str(TINY))
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


def test_default_config_dry_run_plans_every_stage(tmp_path):
    res = snakemake(tmp_path, "-n", "--cores", "1", snakefile=ROOT / "Snakefile")
    assert res.returncode == 0, res.stderr[-2000:]
    assert job_counts(res.stdout) == {
        "data": 1,
        "erm": 1,
        "sample": 3,
        "llc": 3,
        "plot_run_sgld": 1,
        "plot_run_hmc": 1,
        "plot_run_mclmc": 1,
        "aggregate": 1,
        "scoreboard": 1,
        "plot_scoreboard": 1,
        "plot_sweep": 1,
        "all": 1,
    }


def test_lint_is_clean():
    res = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0 and "Congratulations" in res.stdout + res.stderr, res.stdout[-2000:]


def test_precision_follows_each_samplers_dtype(tiny_run):
    wd, _ = tiny_run
    table = pd.read_csv(wd / "results/llc_sweep_results.csv").drop_duplicates("run_id")
    for row in table.itertuples():
        dt = xr.open_datatree(wd / "results/runs" / row.run_id / "trace.nc")
        expected = {"sgld": "float32", "hmc": "float64", "mclmc": "float32"}[row.sampler]  # config.yaml, and tiny.yaml's HMC
        assert str(dt["posterior"]["L_n"].dtype) == expected == dt.attrs["dtype"] == row.dtype
    sgld = table[table.sampler == "sgld"].iloc[0]
    assert 0 < sgld["mala_accept_mean"] <= 1


PRESETS = [
    ["config/sweep.yaml"],
    *[[f"config/presets/{p.name}"] for p in sorted((ROOT / "config/presets").glob("*.yaml")) if p.name != "grid.yaml"],
    ["config/presets/quick.yaml", "config/presets/grid.yaml"],
]  # grid.yaml is a layer over quick


@pytest.mark.parametrize("files", PRESETS, ids=lambda f: "+".join(Path(p).stem for p in f))
def test_every_preset_plans_its_jobs(tmp_path, files):
    res = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", *[str(ROOT / f) for f in files], snakefile=ROOT / "Snakefile")
    counts = job_counts(res.stdout)
    assert res.returncode == 0 and counts["sample"] >= 1 and counts["aggregate"] == 1, res.stdout[-2000:] + res.stderr[-2000:]
