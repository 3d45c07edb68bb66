"""The scoreboard (llcbench.scoreboard) on hand-built sweep tables: replicates pooled, bias and z
against the reference sampler or the analytic λ, the ranking, and a failed reference; then on the
tiny run (one row per experiment and sampler, its numbers from the sweep CSV) and its figure."""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from llcbench import plots, scoreboard

NAN = float("nan")


def run(experiment, sampler, llc, se, status="ok", replicate=0, wnv=1.0, true_llc=NAN, boot=None):
    return {
        "experiment": experiment,
        "sampler": sampler,
        "replicate": replicate,
        "llc": llc,
        "llc_se": se,
        "llc_se_bootstrap": se if boot is None else boot,
        "status": status,
        "true_llc": true_llc,
        "cost_total_fde": 100.0,
        "cost_total_seconds": 2.0,
        "wnv_grad_total": wnv,
        "wnv_time_total": 10 * wnv,
        "wnv_grad_sampling": wnv / 2,
        "wnv_time_sampling": 5 * wnv,
    }


def rows_of(table):
    return {(r.experiment, r.sampler): r for r in table.itertuples()}


def test_bias_z_and_relative_error_against_the_reference_sampler():
    sweep = pd.DataFrame(
        [
            run("e", "sgld", 10.3, 0.4, wnv=3.0),
            run("e", "hmc", 10.0, 0.3, wnv=5.0),
            run("e", "mclmc", 12.0, 0.2, wnv=1.0),  # 2.0 away, SE 0.36: z ≈ 5.5, not ranked
        ]
    )
    t = rows_of(scoreboard.scoreboard(sweep, {"e": "hmc"}))
    sgld, hmc, mclmc = t["e", "sgld"], t["e", "hmc"], t["e", "mclmc"]
    assert sgld.reference == "hmc" and sgld.reference_llc == 10.0 and sgld.reference_se == 0.3
    assert sgld.bias == pytest.approx(0.3) and sgld.bias_se == pytest.approx(0.5)  # √(0.4² + 0.3²)
    assert sgld.z == pytest.approx(0.6) and sgld.rel_error == pytest.approx(0.03)
    assert mclmc.z == pytest.approx(2.0 / math.hypot(0.2, 0.3))
    assert math.isnan(hmc.bias) and hmc.note == "reference"  # its own reference
    # ranked by total WNV among ok rows with |z| < 2 (the reference included): sgld (3) before hmc (5)
    assert (sgld.rank, hmc.rank) == (1, 2) and math.isnan(mclmc.rank)
    assert scoreboard.ranking(scoreboard.scoreboard(sweep, {"e": "hmc"})) == {"e": ["sgld", "hmc"]}
    # costs and WNV carried over; one row per sampler
    assert (sgld.cost_total_fde, sgld.cost_total_seconds, sgld.wnv_time_total, sgld.wnv_grad_sampling) == (100.0, 2.0, 30.0, 1.5)
    assert len(t) == 3 and sgld.replicates == 1 and math.isnan(sgld.calibration_mcse)


def test_another_reference_sampler_and_unhealthy_rows_are_not_ranked():
    sweep = pd.DataFrame(
        [run("e", "sgld", 10.3, 0.4, status="rhat 1.200 > 1.05", wnv=0.1), run("e", "hmc", 10.0, 0.3), run("e", "mclmc", 10.1, 0.2)]
    )
    t = rows_of(scoreboard.scoreboard(sweep, {"e": "mclmc"}))
    assert t["e", "hmc"].reference == "mclmc" and t["e", "hmc"].bias == pytest.approx(-0.1)
    assert t["e", "mclmc"].note == "reference" and math.isnan(t["e", "mclmc"].z)
    assert math.isnan(t["e", "sgld"].rank) and t["e", "sgld"].status == "rhat 1.200 > 1.05"  # lowest WNV, but flagged


def test_the_analytic_lambda_is_the_reference_where_it_exists():
    sweep = pd.DataFrame([run("d", "sgld", 15.6, 0.2, true_llc=16.0), run("d", "hmc", 15.9, 0.1, true_llc=16.0)])
    t = rows_of(scoreboard.scoreboard(sweep, {"d": "hmc"}))
    for s, llc, se in (("sgld", 15.6, 0.2), ("hmc", 15.9, 0.1)):
        r = t["d", s]
        assert r.reference == "analytic" and r.reference_llc == 16.0 and r.reference_se == 0
        assert r.bias == pytest.approx(llc - 16) and r.bias_se == pytest.approx(se) and r.z == pytest.approx((llc - 16) / se)
        assert r.rel_error == pytest.approx((llc - 16) / 16)
    assert math.isnan(t["d", "sgld"].rank) and t["d", "hmc"].rank == 1  # sgld is 2 SEs low


@pytest.mark.parametrize(
    "ref, references, why",
    [
        (run("e", "hmc", NAN, NAN, status="diverged: all chains non-finite"), {"e": "hmc"}, "reference hmc failed"),
        (run("e", "hmc", 10.0, 0.3, status="divergences: 12"), {"e": "hmc"}, "reference hmc failed"),
        (None, {"e": "hmc"}, "reference sampler hmc not run"),
        # no reference named for the experiment: no sampler is picked for it, a healthy HMC included
        (run("e", "hmc", 10.0, 0.3), {}, "no reference"),
    ],
)
def test_a_failed_missing_or_unnamed_reference_gives_nan_bias_with_a_note(ref, references, why):
    sweep = pd.DataFrame([run("e", "sgld", 10.3, 0.4), run("e", "mclmc", 10.1, 0.2)] + ([ref] if ref else []))
    table = scoreboard.scoreboard(sweep, references)
    others = table[table["sampler"] != "hmc"]
    assert len(others) == 2 and others[["reference_llc", "bias", "bias_se", "z", "rel_error"]].isna().all().all()
    assert all(note.startswith(why) for note in others["note"])
    assert others["rank"].isna().all()  # nothing can be checked against a reference: no ranking
    assert others["llc"].tolist() == [10.3, 10.1]  # the rest of the row is still there


def test_replicates_are_pooled_and_calibrate_the_ses():
    llcs, ses, boots = [9.0, 10.0, 11.5], [0.5, 0.7, 0.6], [0.9, 0.5, 1.1]  # the larger: 0.9, 0.7 (the MCSE), 1.1
    sweep = pd.DataFrame(
        [run("e", "sgld", v, s, replicate=i, boot=b) for i, (v, s, b) in enumerate(zip(llcs, ses, boots))]
        + [run("e", "hmc", 10.0, 0.1, replicate=i) for i in range(2)]
        + [run("e", "mclmc", 10.0, 0.1, replicate=0), run("e", "mclmc", NAN, NAN, replicate=1, status="tuning_failed: step")]
    )
    t = rows_of(scoreboard.scoreboard(sweep, {"e": "hmc"}))
    sgld = t["e", "sgld"]
    sd = np.std(llcs, ddof=1)
    assert sgld.replicates == 3 and sgld.replicates_used == 3
    assert sgld.llc == pytest.approx(np.mean(llcs)) and sgld.llc_sd_replicates == pytest.approx(sd)
    # the SE of a mean of 3 runs, each run's larger SE
    assert sgld.llc_se == pytest.approx(math.sqrt(0.9**2 + 0.7**2 + 1.1**2) / 3)
    assert sgld.llc_se_mean == pytest.approx(0.6) and sgld.llc_se_bootstrap_mean == pytest.approx(2.5 / 3)
    assert sgld.calibration_mcse == pytest.approx(sd / 0.6) and sgld.calibration_bootstrap == pytest.approx(sd / (2.5 / 3))
    assert sgld.llc_se_larger_mean == pytest.approx(2.7 / 3) and sgld.calibration == pytest.approx(sd / (2.7 / 3))
    assert sgld.bias_se == pytest.approx(math.hypot(sgld.llc_se, 0.1 / math.sqrt(2)))  # hmc's 2 replicates pooled
    # a failed replicate: left out of the numbers, counted, and named in the status
    mclmc = t["e", "mclmc"]
    assert mclmc.replicates == 2 and mclmc.replicates_used == 1 and mclmc.llc == 10.0 and math.isnan(mclmc.calibration_mcse)
    assert mclmc.status == "1/2: tuning_failed: step" and math.isnan(mclmc.rank)


def test_experiments_are_scored_apart():
    sweep = pd.DataFrame([run(e, s, v, 0.1) for e, off in (("a", 0), ("b", 5)) for s, v in (("sgld", 10.0 + off), ("hmc", 10.1 + off))])
    table = scoreboard.scoreboard(sweep, {"a": "hmc", "b": "sgld"})
    assert table[["experiment", "sampler"]].values.tolist() == [["a", "sgld"], ["a", "hmc"], ["b", "sgld"], ["b", "hmc"]]
    assert table["reference_llc"].tolist() == [10.1, 10.1, 15.0, 15.0]


def test_scoreboard_figure_shows_each_rows_relative_error_and_wnv(tmp_path):
    sweep = pd.DataFrame([run("e", "sgld", 10.3, 0.4, wnv=3.0), run("e", "hmc", 10.0, 0.3, wnv=5.0), run("e", "mclmc", 12.0, 0.2)])
    table = scoreboard.scoreboard(sweep, {"e": "hmc"})
    fig = plots.scoreboard(table, tmp_path / "scoreboard.png")
    assert (tmp_path / "scoreboard.png").stat().st_size > 0
    rel_ax, wnv_ax = fig.axes
    assert rel_ax.get_legend_handles_labels()[1] == ["sgld", "hmc", "mclmc"]
    drawn = {}
    for ax in (rel_ax, wnv_ax):
        for points in (c for c in ax.collections if isinstance(c, PathCollection)):  # the markers, not the error bars
            for x, y in np.asarray(points.get_offsets(), float):
                drawn.setdefault(ax is rel_ax, []).append(round(float(y), 6))
    assert sorted(v for v in drawn[True] if np.isfinite(v)) == sorted(round(100 * v, 6) for v in table["rel_error"].dropna())
    assert sorted(drawn[False]) == sorted(table["wnv_grad_total"])


# The tiny run (tests/configs/tiny.yaml): experiments a and b, SGLD, HMC and MCLMC, one replicate each.


def test_tiny_run_scoreboard_has_a_row_per_experiment_and_sampler_from_the_sweep_csv(tiny_run):
    wd, _ = tiny_run
    sweep = pd.read_csv(wd / "results/llc_sweep_results.csv")
    board = pd.read_csv(wd / "results/scoreboard.csv")
    assert (wd / "results/plots/scoreboard.png").stat().st_size > 0
    assert sorted(zip(board["experiment"], board["sampler"])) == sorted(zip(sweep["experiment"], sweep["sampler"]))
    assert (sweep["replicate"] == 0).all() and (board["replicates"] == 1).all()
    assert (sweep["llc_se_bootstrap"] > 0).all()
    merged = board.merge(sweep, on=["experiment", "sampler"], suffixes=("", "_run"))
    for col in ("llc", "cost_total_fde", "cost_total_seconds", "wnv_grad_total", "wnv_time_total", "status"):
        assert (merged[col] == merged[f"{col}_run"]).all(), col
    # one replicate: its SE is the run's larger SE
    np.testing.assert_allclose(merged["llc_se"], np.maximum(merged["llc_se_run"], merged["llc_se_bootstrap"]))
    np.testing.assert_allclose(merged["llc_se_bootstrap_mean"], merged["llc_se_bootstrap"])
    # the tiny config has no analytic λ (ReLU): HMC, the default `reference`, is each experiment's reference
    hmc = sweep[sweep["sampler"] == "hmc"].set_index("experiment")
    assert (board["reference"] == "hmc").all()
    for r in merged[merged["sampler"] != "hmc"].itertuples():
        ref = hmc.loc[r.experiment]
        assert r.reference_llc == pytest.approx(ref["llc"])
        assert r.bias == pytest.approx(r.llc - ref["llc"])
        assert r.z == pytest.approx((r.llc - ref["llc"]) / math.hypot(r.llc_se, max(ref["llc_se"], ref["llc_se_bootstrap"])))
        assert r.rel_error == pytest.approx((r.llc - ref["llc"]) / ref["llc"])
    # the ranking: the ok rows with |z| < 2 (HMC, the reference, when ok), by total WNV
    for _, rows in merged.groupby("experiment"):
        eligible = rows[(rows["status"] == "ok") & ((rows["z"].abs() < 2) | (rows["sampler"] == "hmc"))]
        assert rows.loc[rows["rank"].notna(), "sampler"].tolist() == eligible["sampler"].tolist()
        assert eligible.sort_values("wnv_grad_total")["sampler"].tolist() == eligible.sort_values("rank")["sampler"].tolist()
