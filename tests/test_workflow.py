"""The workflow as users run it: `snakemake` in a subprocess."""

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
import pandas as pd
import xarray as xr

from conftest import ROOT, TINY, job_counts, snakemake


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
    np.testing.assert_allclose(table["wnv_time"], table["llc_se"] ** 2 * table["sampling_seconds"], rtol=1e-6)
    np.testing.assert_allclose(table["wnv_grad"], table["llc_se"] ** 2 * table["grad_evals_sampling_fde"], rtol=1e-6)
    # where the results are is printed at the end
    assert "llc_sweep_results.csv" in res.stdout + res.stderr


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
        names = ["llc_running", "L_trace", "L_acf", "L_ess", "L_rhat", "theta_trace", "theta_rank"]
        names += {"hmc": ["acceptance"], "mclmc": ["energy_hist"], "sgld": ["mala_accept"]}.get(row.sampler, [])
        for name in names:
            assert (run / f"{row.sampler}_{name}.png").stat().st_size > 5000, name
        summary = (run / "summary.md").read_text()
        assert f"{llc.attrs['llc']:.4g}" in summary and "blackjax" in summary
        for key in ("ess_tail", "L_acf", "rhat_by_draws", "ess_bulk_by_draws"):
            assert key in llc.attrs or key in llc.data_vars
    for nc in (wd / "results/data").glob("*/data.nc"):
        assert xr.open_dataset(nc)["x"].shape == (256, 4)
    assert (wd / "results/index.csv").exists()


def test_sampler_stats_follow_arviz_conventions(tiny_run):
    wd, _ = tiny_run
    import arviz as az

    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    dt = xr.open_datatree(wd / "results/runs" / table.loc[table.sampler == "hmc", "run_id"].iloc[0] / "trace.nc")
    assert {"acceptance_rate", "is_divergent"} <= set(dt["sample_stats"].data_vars)
    assert float(az.ess(dt, var_names=["L_n"])["L_n"]) > 0


def test_sweep_plots_and_report_build(tiny_run):
    wd, _ = tiny_run
    for name in ("sweep_llc", "sweep_wnv"):
        assert (wd / f"results/plots/{name}.png").stat().st_size > 5000
    res = snakemake(wd, "--configfile", str(TINY), "--report", "results/report.html")
    assert res.returncode == 0, res.stderr[-2000:]
    html = (wd / "results/report.html").read_text()
    assert "Experiment a, b" in html and "Experiment b" in html and "Sweep" in html
    assert "hmc_acceptance.png" in html and "llc_sweep_results.csv" in html


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
        expected = {"sgld": "float32", "hmc": "float32", "mclmc": "float64"}[row.sampler]
        assert str(dt["posterior"]["L_n"].dtype) == expected == dt.attrs["dtype"] == row.dtype
    sgld = table[table.sampler == "sgld"].iloc[0]
    assert 0 < sgld["mala_accept_mean"] <= 1


BLOWUP = """
base:
  run_samplers: [sgld, hmc]
  data: {n: 256, in_dim: 4, teacher: {depth: 1, widths: [4]}}
  model: {depth: 2, widths: [8, 8]}
  training: {steps: 500, lr: 0.01}
  samplers:
    sgld: {chains: 2, steps: 300, burn_in: 50, eval_every: 5, step_size: 10.0, batch_size: 64}
    hmc: {chains: 2, steps: 50, adapt_steps: 50, num_integration_steps: 4}
"""


def test_diverging_sampler_is_reported_not_fatal(tmp_path):
    cfg = tmp_path / "blowup.yaml"
    cfg.write_text(BLOWUP)
    res = snakemake(tmp_path, "--cores", "2", "--configfile", str(cfg), snakefile=ROOT / "Snakefile")
    assert res.returncode == 0, res.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/llc_sweep_results.csv").set_index("sampler")
    assert table.loc["sgld", "status"] == "diverged: all chains non-finite"
    assert np.isnan(table.loc["sgld", "llc"]) and table.loc["sgld", "chains_diverged"] == 2
    assert np.isfinite(table.loc["hmc", "llc"])  # the other sampler's row is unaffected
    log = next((tmp_path / "results/logs/sample").glob("sgld-*.log")).read_text()
    assert "2 of 2 chains diverged" in log


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
