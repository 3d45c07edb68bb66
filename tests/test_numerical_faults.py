"""Numerical faults end in a `status` of the run's CSV row and a WARNING in the job
log, never in a crash or a silent number: non-finite data, an unconverged w*, a
degenerate tuning. Stage functions are called directly on a tiny problem (n = 64,
d = 17), plus one small workflow run on non-finite data; diverging chains are covered
by test_sampler_health and test_workflow."""

import logging

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import ROOT, parse_status, snakemake
from llcbench import aggregate, diagnostics, files, llc, run_plots
from llcbench.config import resolve_experiments
from llcbench.plan import build_plan
from llcbench.samplers import Tuned, hmc
from llcbench.stages.data import make_data
from llcbench.stages.erm import train_erm
from llcbench.stages.estimate import estimate_llc
from llcbench.stages.sample import run_sampler

HEALTH = {"rhat_max": 1.05, "ess_min": 100}


def plan_for(**data):
    """The plan of one experiment on a tiny MLP, running HMC only (never compiled here)."""
    base = {
        "run_samplers": ["hmc"],
        "data": {"n": 64, "in_dim": 2, "teacher": {"depth": 1, "widths": [2]}, **data},
        "model": {"depth": 1, "widths": [4]},
        "training": {"steps": 20},
        "samplers": {"hmc": {"chains": 2, "steps": 20, "adapt_steps": 10, "num_integration_steps": 2}},
    }
    exps = resolve_experiments({"base": base})
    return exps["default"], build_plan(exps)


def run_stages(tmp_path, settings, plan):
    """data -> erm -> sample -> llc in ``tmp_path``; returns (llc.nc path, CSV row)."""
    e = plan.experiments["default"]
    run_id = e["runs"]["hmc"]
    paths = {k: str(tmp_path / f"{k}.nc") for k in ("data", "erm", "trace", "llc")}
    make_data(plan.data[e["data_id"]], paths["data"])
    train_erm(plan.erm[e["erm_id"]], paths["data"], paths["erm"])
    run_sampler(plan.runs[run_id], run_id, paths["data"], paths["erm"], paths["trace"])
    estimate_llc(paths["trace"], paths["llc"], str(tmp_path / "summary.md"), HEALTH)
    return paths, aggregate.sweep_row("default", settings, run_id, paths["llc"], ["acceptance_rate_mean", "divergences"])


def warnings_of(caplog, stage):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.getMessage().startswith(stage)]


def test_nonfinite_data_gives_status_and_nan_not_a_crash(tmp_path, caplog):
    # Student-t inputs with df = 0.01 overflow float32: most rows of x are inf (measured: 255 of 256)
    settings, plan = plan_for(x_dist="heavy_tailed", x_df=0.01)
    with caplog.at_level(logging.WARNING):
        paths, row = run_stages(tmp_path, settings, plan)
    data = xr.open_dataset(paths["data"])
    bad = int((~np.isfinite(data["x"].values).all(axis=1)).sum())
    assert bad > 0 and data.attrs["nonfinite_rows"] == bad
    assert row["status"] == f"data_nonfinite: {bad} of 64 rows have a non-finite x or y"
    assert np.isnan(row["llc"]) and np.isnan(row["llc_se"]) and row["chains_used"] == 0
    assert np.isnan(files.open_dataset(paths["erm"])["w_star"].values).all()  # no training on inf
    for stage in ("data: data_nonfinite", "erm: data_nonfinite", "hmc: data_nonfinite", "hmc: llc = nan"):
        assert warnings_of(caplog, stage), stage


def test_degenerate_tuning_writes_a_nan_run_with_status(tmp_path, caplog, monkeypatch):
    settings, plan = plan_for()

    build = hmc.build

    def collapsing(**kw):  # what window adaptation returns when it collapses: a zero step size
        algorithm = build(**kw)

        def tune(key, posterior):
            state, tuned = algorithm.tune(key, posterior)
            return state, Tuned({**tuned.params, "step_size": jnp.zeros_like(tuned.params["step_size"])}, tuned.grads)

        return algorithm._replace(tune=tune)

    monkeypatch.setattr(hmc, "build", collapsing)
    with caplog.at_level(logging.WARNING):
        paths, row = run_stages(tmp_path, settings, plan)
    reason = "hmc tuning returned a degenerate step_size (2 of 2 entries zero, negative or non-finite)"
    # training.steps = 20 leaves w* unconverged: that flag still reaches the status
    assert row["status"] == f"tuning_failed: {reason};erm_not_converged"
    assert np.isnan(row["llc"]) and np.isnan(row["grad_evals_tuning_fde"]) and row["sampling_seconds"] == 0
    assert warnings_of(caplog, "hmc: tuning_failed") and warnings_of(caplog, "w* is not a converged minimum")
    # every per-run figure is still drawn (they are outputs of the workflow's `all`)
    dt, est = files.open_datatree(paths["trace"]), files.open_dataset(paths["llc"])
    for name, fn in (
        ("trace", run_plots.loss_trace),
        ("acf", run_plots.loss_acf),
        ("theta", run_plots.theta_rank),
        ("acc", lambda dt, path: run_plots.sampler_stat(dt, "acceptance_rate", path)),
    ):
        fn(dt, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    run_plots.running_llc(est, tmp_path / "running.png")
    assert "tuning_failed" in (tmp_path / "summary.md").read_text()


def test_unconverged_erm_is_flagged_and_logged(tmp_path, caplog):
    settings, plan = plan_for()
    e = plan.experiments["default"]
    make_data(plan.data[e["data_id"]], tmp_path / "data.nc")
    with caplog.at_level(logging.WARNING):
        train_erm(
            {**plan.erm[e["erm_id"]], "training": {**settings["training"], "grad_tol": 1e-12}}, tmp_path / "data.nc", tmp_path / "erm.nc"
        )
    erm = files.open_dataset(tmp_path / "erm.nc")
    assert erm.attrs["converged"] == 0 and erm.attrs["grad_norm"] > 1e-12
    assert warnings_of(caplog, "w* is not a converged minimum")


def status(loss, **kw):
    est = llc.estimate(loss, 0.5, 10.0)
    args = {"ess_tail": diagnostics.tail_ess(loss), "counts": {}, "frac_below_L0": 0.0, "erm_converged": True, "thresholds": HEALTH}
    return diagnostics.health_status(est, **{**args, **kw})


@pytest.mark.parametrize(
    "failure,erm_converged,expected",
    [
        ("tuning_failed: x", True, "tuning_failed: x"),
        ("tuning_failed: x", False, "tuning_failed: x;erm_not_converged"),
        ("data_nonfinite: 3 of 64 rows", False, "data_nonfinite: 3 of 64 rows"),  # the ERM never ran: its flag is moot
        ("erm_nonfinite: w*", False, "erm_nonfinite: w*"),
    ],
)
def test_a_failure_replaces_the_chain_flags(failure, erm_converged, expected):
    nan = np.full((2, 50), np.nan)
    no_draws = parse_status(status(nan, erm_converged=erm_converged))
    assert list(no_draws) == ["diverged"] + ["erm_not_converged"] * (not erm_converged)
    assert no_draws["diverged"]["chains"] is None  # "all chains non-finite"
    failed = status(nan, failure=failure, erm_converged=erm_converged)
    assert failed == expected and parse_status(failed)["failure"]["kind"] == failure.split(":")[0]


def test_diverged_erm_gives_erm_nonfinite(tmp_path):
    settings, plan = plan_for()
    e = plan.experiments["default"]
    run_id = e["runs"]["hmc"]
    make_data(plan.data[e["data_id"]], tmp_path / "data.nc")
    train_erm(plan.erm[e["erm_id"]], tmp_path / "data.nc", tmp_path / "erm.nc")
    erm = files.open_dataset(tmp_path / "erm.nc")
    erm["w_star"][:] = np.nan  # what a blown-up optimiser leaves
    files.write_netcdf(erm, tmp_path / "erm.nc")
    run_sampler(plan.runs[run_id], run_id, tmp_path / "data.nc", tmp_path / "erm.nc", tmp_path / "trace.nc")
    failure = parse_status(files.open_datatree(tmp_path / "trace.nc").attrs["failure"])
    assert list(failure) == ["failure"] and failure["failure"]["kind"] == "erm_nonfinite"


NONFINITE = """
base:
  run_samplers: [hmc]
  data: {n: 64, in_dim: 2, x_dist: heavy_tailed, x_df: 0.01, teacher: {depth: 1, widths: [2]}}
  model: {depth: 1, widths: [4]}
  training: {steps: 20}
  samplers:
    hmc: {chains: 2, steps: 20, adapt_steps: 10, num_integration_steps: 2}
"""


def test_workflow_finishes_with_a_status_row_when_data_is_nonfinite(tmp_path):
    cfg = tmp_path / "nonfinite.yaml"
    cfg.write_text(NONFINITE)
    res = snakemake(tmp_path, "results/llc_sweep_results.csv", "--cores", "2", "--configfile", str(cfg), snakefile=ROOT / "Snakefile")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    row = pd.read_csv(tmp_path / "results/llc_sweep_results.csv").iloc[0]
    flags = parse_status(row["status"])  # the ERM never ran: no erm_not_converged beside the failure
    assert list(flags) == ["failure"] and flags["failure"]["kind"] == "data_nonfinite" and np.isnan(row["llc"])
    for rule in ("data", "erm", "sample"):
        log = next((tmp_path / "results/logs" / rule).glob("*.log")).read_text()
        assert "WARNING" in log and "data_nonfinite" in log, rule
