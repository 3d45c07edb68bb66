"""Every chain-health flag from a real workflow run built to trigger it, the samplers no other
workflow test runs (adjusted MCLMC, SGHMC, SGNHT) through the workflow, the documented
gradient counts of every sampler, and the SGLD step-size calibration figure: one run of
tests/configs/flags_tiny.yaml (its header says which experiment triggers which flag)."""

import json
import shutil

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from test_cost import FROM_STATE
from test_workflow import RUN_FIGURES

from conftest import ROOT, copy_of_tiny_run, expected_flags, job_counts, job_outputs, parse_status, snakemake
from llcbench.samplers.driver import LOSS_PASS_FDE

CONFIG = ROOT / "tests/configs/flags_tiny.yaml"
PLUGIN = "tests/plugins/unstable_chains.py"
STUCK = "samplers.sgld.step_size=1e-09_s0"  # the sweep point at h = 1e-9


def flags(status: str) -> list[str]:
    """The flags of ``status`` in order, parsed by the documented grammar (fails on anything else)."""
    return list(parse_status(status))


@pytest.fixture(scope="module")
def flags_run(tmp_path_factory, tiny_run):
    """The run of flags_tiny.yaml, to its table and step-size figure, in a copy of the finished
    tiny run (its data, w* and SGLD run are the tiny run's, so they are not made again); and a
    dry run of the per-run figures of the samplers no other workflow test runs."""
    wd = copy_of_tiny_run(tmp_path_factory, tmp_path_factory.mktemp("flags"))
    (wd / PLUGIN).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / PLUGIN, wd / PLUGIN)
    res = snakemake(wd, "results/llc_sweep_results.csv", "results/plots/sgld_step_size.png", "--cores", "2", "--configfile", str(CONFIG))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    figures = [f"results/runs/{r.run_id}/{r.sampler}_llc_running.png" for r in table[table.experiment == "samplers"].itertuples()]
    planned = snakemake(wd, *figures, "-n", "--cores", "1", "--configfile", str(CONFIG))
    assert planned.returncode == 0, planned.stdout[-3000:] + planned.stderr[-3000:]
    return wd, table.set_index("experiment"), res, planned.stdout + planned.stderr


def trace_of(wd, row):
    return xr.open_datatree(wd / "results/runs" / row.run_id / "trace.nc")


def test_every_status_is_the_documented_flags_its_numbers_call_for(flags_run):
    wd, table, *_ = flags_run
    for exp, row in table.iterrows():
        health = json.loads(xr.open_dataset(wd / "results/runs" / row.run_id / "llc.nc").attrs["health_json"])
        grad_tol = json.loads(xr.open_dataset(wd / "results/erm" / row.erm_id / "erm.nc").attrs["settings_json"])["training"]["grad_tol"]
        assert set(flags(row.status)) == expected_flags(row, health, grad_tol), (exp, row.status)


def test_a_sampler_that_barely_moves_is_flagged_by_rhat_and_ess(flags_run):
    _, table, *_ = flags_run
    row = table.loc[STUCK]
    assert flags(row.status) == ["rhat", "ess"], row.status
    assert row.rhat > 1.05 and row.ess < 20
    assert table.loc["base_s0", "status"] == "ok"  # the same sampler at h = 1e-4 is healthy


def test_divergent_trajectories_are_counted_and_flagged(flags_run):
    wd, table, *_ = flags_run
    row = table.loc["hot"]
    trace = trace_of(wd, row)
    divergent = trace["sample_stats"]["is_divergent"].values
    assert flags(row.status) == ["divergences"], row.status
    # one transition per draw (eval_every 1): the column and the flag count the trace's divergent draws
    assert row.divergences == divergent.sum() > 0
    assert row.status == f"divergences: {int(divergent.sum())}"


def test_a_w_star_that_is_not_a_minimum_is_flagged(flags_run):
    wd, table, *_ = flags_run
    row = table.loc["untrained"]
    assert flags(row.status) == ["w_star_not_minimum", "negative_llc", "erm_not_converged"], row.status
    loss = trace_of(wd, row)["posterior"]["L_n"].values
    below = round(100 * np.mean(loss < row.L0))
    assert parse_status(row.status)["w_star_not_minimum"]["below_l0"] == str(below) and below > 50
    assert row.llc < 0


def test_partly_diverged_run_excludes_the_broken_chains(flags_run):
    wd, table, *_ = flags_run
    row = table.loc["broken"]
    trace = trace_of(wd, row)
    loss = trace["posterior"]["L_n"].values  # (chain, draw)
    broken = trace["tuning"]["diverged_step"].values >= 0
    assert 0 < broken.sum() < len(broken), "the seed must break some chains, not all or none"
    assert (trace["tuning"]["diverged_step"].values[broken] == 300).all()  # break_at
    status = parse_status(row.status)
    assert status["diverged"]["chains"] == str(broken.sum()) and row.chains_diverged == broken.sum()
    taken = trace["posterior"]["step"].values  # steps taken at each draw; the jump is the 301st step
    assert np.isfinite(loss[~broken]).all() and np.isfinite(loss[broken][:, taken <= 300]).all()
    assert np.isnan(loss[broken][:, taken > 300]).all()  # frozen from the step it broke
    # λ̂ is the surviving chains' estimate: the broken chains' draws before the break are not averaged in
    expected = row.nbeta * (loss[~broken].mean() - row.L0)
    np.testing.assert_allclose(row.llc, expected, rtol=1e-5)  # float32 trace summed in another order


def test_a_run_whose_every_chain_blows_up_is_reported_not_fatal(flags_run):
    wd, table, *_ = flags_run
    row = table.loc["blowup"]
    assert row.status == "diverged: all chains non-finite"
    assert np.isnan(row.llc) and row.chains_diverged == row.chains == 2
    assert table.drop(index="blowup")["llc"].notna().all()  # the other runs are unaffected
    log = (wd / "results/logs/sample" / f"{row.run_id}.log").read_text()
    assert "2 of 2 chains diverged" in log


def documented_cost(row, trace) -> dict[str, float]:
    """Full-data-equivalent gradients over all chains by phase (tuning, burn_in, draws, eval), by
    the counts of README "Cost": a minibatch gradient of b rows counts b/n, SGLD spends a second
    one at each draw (MALA check), an SGHMC step num_integration_steps of them, an HMC step its
    leapfrog steps, an adjusted MCLMC transition 2⌈L/ε⌉, each draw's full-data L_n pass
    LOSS_PASS_FDE (none for HMC, MCLMC and adjusted MCLMC); the steps run are burn_in + draws·eval_every."""
    s = json.loads(trace.attrs["settings_json"])["sampler_settings"]
    draws = (s["steps"] - s["burn_in"]) // s["eval_every"]
    burn, steps = s["burn_in"], draws * s["eval_every"]  # the steps of the burn-in and of the draw windows
    assert trace.attrs["steps_run"] == burn + steps
    chains = s["chains"]
    b = s.get("batch_size", 0) / row.n
    passes = 0 if row.sampler in FROM_STATE else chains * draws
    cost = {"tuning": 0.0, "eval": passes * LOSS_PASS_FDE}
    match row.sampler:
        case "sgld":
            per_step = b
            cost["draws_extra"] = chains * draws * b
        case "sghmc":
            per_step = s["num_integration_steps"] * b
        case "sgnht" | "unstable":
            per_step = b
        case "hmc":
            per_step = s["num_integration_steps"]
            cost["tuning"] = chains * s["adapt_steps"] * s["num_integration_steps"]
        case "mclmc":  # BlackJAX's tuner runs round(T/10) + round(T/10)·(1 + 1/3 with a diagonal mass) + round(T/10) steps
            t = s["tune_steps"]
            per_step = 2
            cost["tuning"] = (
                chains * 2 * (round(t / 10) + round(t / 10) + s["diagonal_preconditioning"] * (round(t / 10) // 3) + round(t / 10))
            )
        case "adjusted_mclmc":  # each chain runs ⌈L/ε⌉ integrator steps per transition, L and ε as tuned
            tuning = trace["tuning"]
            per_step = 2 * np.ceil(tuning["L"].values / tuning["step_size"].values)  # per chain
            cost["tuning"] = row.grad_evals_tuning_fde  # as the tuner counts it (tests/test_cost.py checks that count)
        case _:
            raise AssertionError(f"no documented count for {row.sampler}")
    cost["burn_in"] = float(np.sum(burn * per_step * np.ones(chains)))
    cost["draws"] = float(np.sum(steps * per_step * np.ones(chains))) + cost.pop("draws_extra", 0.0)
    return cost


def test_gradient_counts_are_the_documented_ones(flags_run):
    wd, table, *_ = flags_run
    seen = set()
    for exp, row in table.iterrows():
        check_cost(row, documented_cost(row, trace_of(wd, row)), exp)
        seen.add(row.sampler)
    assert seen == {"sgld", "hmc", "adjusted_mclmc", "sghmc", "sgnht", "unstable"}
    assert table.loc["hot", "grad_evals_tuning_fde"] == 2 * 1 * 4  # 2 chains × 1 adaptation step × 4 leapfrogs


def check_cost(row, cost, label):
    """The CSV row's cost columns are ``cost`` (documented_cost), parts, sums and WNV."""
    for part, value in cost.items():
        assert row[f"cost_{part}_fde"] == pytest.approx(value, rel=1e-6), (label, row.sampler, part)
    sampling = cost["draws"] + cost["eval"]
    total = cost["tuning"] + cost["burn_in"] + sampling
    assert row.cost_sampling_fde == pytest.approx(sampling, rel=1e-6) and row.cost_total_fde == pytest.approx(total, rel=1e-6)
    # the gradient columns: the tuner's, the chain loop's (burn-in and draws), their sum
    assert row.grad_evals_tuning_fde == pytest.approx(cost["tuning"], rel=1e-6), (label, row.sampler)
    assert row.grad_evals_sampling_fde == pytest.approx(cost["burn_in"] + cost["draws"], rel=1e-6), (label, row.sampler)
    assert row.grad_evals_fde == pytest.approx(total - cost["eval"], rel=1e-6), (label, row.sampler)
    if np.isfinite(row.llc_se):
        se = np.fmax(row.llc_se, row.llc_se_bootstrap)  # the scoreboard's SE: the larger of the two
        assert row.wnv_grad_total == pytest.approx(se**2 * total, rel=1e-6)
        assert row.wnv_grad_sampling == pytest.approx(se**2 * sampling, rel=1e-6)


def test_gradient_counts_of_the_tiny_runs_samplers_are_the_documented_ones(tiny_run):
    wd, _ = tiny_run  # SGLD, HMC and MCLMC
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    assert set(table["sampler"]) == {"sgld", "hmc", "mclmc"}
    for _, row in table.iterrows():
        check_cost(row, documented_cost(row, trace_of(wd, row)), row.experiment)


def test_adjusted_mclmc_sghmc_and_sgnht_run_through_the_workflow(flags_run):
    wd, table, _, planned = flags_run
    rows = table.loc[["samplers"]].set_index("sampler")
    assert set(rows.index) == {"adjusted_mclmc", "sghmc", "sgnht"}
    declared = {"adjusted_mclmc": {"acceptance_rate", "is_divergent", "step_size"}, "sghmc": set(), "sgnht": {"thermostat"}}
    for sampler, row in rows.iterrows():
        assert np.isfinite(row.llc) and row.llc_se > 0, sampler
        trace = trace_of(wd, row)
        assert trace["posterior"]["L_n"].shape == (2, row.draws)
        assert set(trace["sample_stats"].data_vars) == declared[sampler]
        run = wd / "results/runs" / row.run_id
        assert (run / "summary.md").read_text().count(sampler) >= 1
        # its figure job is planned with every per-run figure (drawn by the code tiny_run checks) and its statistics' figures
        stat_figures = ["acceptance"] if sampler == "adjusted_mclmc" else []
        outputs = job_outputs(planned, f"plot_run_{sampler}")
        assert sorted(outputs) == sorted(f"results/runs/{row.run_id}/{sampler}_{f}.png" for f in (*RUN_FIGURES, *stat_figures)), sampler
    # adjusted MCLMC's Metropolis step: most proposals accepted at target_accept 0.9
    assert 0.5 < rows.loc["adjusted_mclmc", "acceptance_rate_mean"] <= 1


def test_step_size_sweep_draws_its_calibration_figure(flags_run):
    wd, table, res, _ = flags_run
    from llcbench import plots

    assert job_counts(res.stdout + res.stderr)["plot_step_size_calibration"] == 1
    swept = table[table["sweep_axis"].notna()]
    assert sorted(swept["samplers.sgld.step_size"]) == [1e-9, 1e-4]
    # The rule's figure is the one the function draws from the whole CSV: λ̂, MALA acceptance
    # and divergence at the two swept step sizes only (not the SGLD run of experiment blowup).
    fig = plots.step_size_calibration(table.reset_index(), "sgld", {"mala_accept_mean": "MALA acceptance"}, wd / "redrawn.png")
    assert [list(ax.lines[0].get_xdata()) for ax in fig.axes] == [[1e-9, 1e-4]] * 3
    drawn, redrawn = (matplotlib.image.imread(p) for p in (wd / "results/plots/sgld_step_size.png", wd / "redrawn.png"))
    assert drawn.shape == redrawn.shape and drawn.std() > 0
