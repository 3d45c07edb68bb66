"""LLC along training (training.checkpoints): the checkpoint grid and plan, config
rejections, the ERM job's kept parameters, the status at non-minima, and the DAG on a
tiny deep linear network (tests/configs/trajectory_tiny.yaml): one job per checkpoint
and sampler, and a changed checkpoint list re-trains nothing."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from conftest import ROOT, copy_workflow, job_counts, job_outputs, snakemake
from conftest import parse_status
from test_workflow import assert_drawn_as
from llcbench import diagnostics, erm, files, llc, plots, trajectory
from llcbench.config import ConfigError, check_config, resolve_experiments
from llcbench.data import make_dataset
from llcbench.model import linear_product, weight_matrices
from llcbench.checkpoints import checkpoint_grid, checkpoint_steps
from llcbench.plan import build_plan
from llcbench.posterior import empirical_loss
from llcbench.truth import dln_learning_coefficient, learnt_ranks

TINY_TRAJECTORY = ROOT / "tests/configs/trajectory_tiny.yaml"
TARGETS = ("results/llc_trajectory.csv", "results/trajectories/dln/llc_trajectory.png", "results/index.csv")
HEALTH = {"rhat_max": 1.05, "ess_min": 100}


# --- the grid of kept steps and the checkpoint list -------------------------------------------


def test_grid_keeps_every_step_with_two_significant_digits_and_the_final_step():
    grid = checkpoint_grid(10_000)
    assert grid[:3] == [1, 2, 3] and grid[98:102] == [99, 100, 110, 120] and grid[-3:] == [9800, 9900, 10_000]
    assert len(grid) == 99 + 90 + 90 + 1 and 1234 not in grid and 1200 in grid
    assert checkpoint_grid(1234)[-2:] == [1200, 1234]  # a final step with more digits is kept too
    assert checkpoint_grid(5) == [1, 2, 3, 4, 5]


def test_a_count_gives_log_spaced_grid_steps_ending_at_the_final_step():
    assert checkpoint_steps(10, 10_000) == [1, 3, 8, 22, 60, 170, 460, 1300, 3600, 10_000]
    assert checkpoint_steps([300, 20], 1000) == [20, 300]
    assert checkpoint_steps(None, 1000) == []
    steps = checkpoint_steps(12, 3000)
    assert len(steps) == 12 and set(steps) <= set(checkpoint_grid(3000)) and steps[-1] == 3000


def test_checkpoints_off_leave_every_id_as_before_checkpoints_existed():
    # IDs of config/config.yaml computed before training.checkpoints was added: results on disk stay valid.
    # (MCLMC's changed with its settings in issue 13, step_size_fraction: it was mclmc-7aaea24d5e78.)
    plan = build_plan(resolve_experiments(yaml.safe_load((ROOT / "config/config.yaml").read_text())))
    assert list(plan.data) == ["d5ee02e5dbd06"] and list(plan.erm) == ["ea7d02c01cd87"]
    assert sorted(plan.runs) == ["hmc-23628c6ea174", "mclmc-936db07d5152", "sgld-75a34020910d"]
    assert plan.checkpoints == {} and "trajectory" not in plan.experiments["default"]


def plan_of(**training):
    config = yaml.safe_load(TINY_TRAJECTORY.read_text())
    config["base"]["training"].update(training)
    return build_plan(resolve_experiments(config)).experiments["dln"], build_plan(resolve_experiments(config))


def test_the_list_never_enters_the_erm_id_and_each_checkpoint_has_its_own_id_and_runs():
    (a, plan_a), (b, plan_b) = plan_of(checkpoints=[20, 60]), plan_of(checkpoints=[20, 100])
    off, _ = plan_of(checkpoints=None)
    assert a["data_id"] == off["data_id"] and a["erm_id"] != off["erm_id"]  # enabling keeps snapshots: a new ERM job
    assert a["erm_id"] == b["erm_id"] and a["runs"] == b["runs"]  # the list does not: same training, same w* runs
    assert [p["step"] for p in a["trajectory"]] == [20, 60, 200]  # the final step is always there...
    final = a["trajectory"][-1]
    assert final["checkpoint_id"] is None and final["runs"] == a["runs"]  # ...and it is w*: the end-of-training runs
    assert a["trajectory"][0] == b["trajectory"][0]  # step 20: same checkpoint and runs in both lists
    assert set(plan_a.checkpoints) ^ set(plan_b.checkpoints) == {a["trajectory"][1]["checkpoint_id"], b["trajectory"][1]["checkpoint_id"]}
    for point in a["trajectory"][:-1]:
        assert plan_a.checkpoints[point["checkpoint_id"]] == {"erm_id": a["erm_id"], "step": point["step"]}
        assert {plan_a.runs[r]["checkpoint_id"] for r in point["runs"].values()} == {point["checkpoint_id"]}
    assert len(plan_a.runs) == 2 * 3 and set(plan_a.trajectory_runs()) == set(plan_a.runs) and plan_a.end_runs() == list(a["runs"].values())


def test_each_sweep_point_gets_its_own_trajectory_sharing_training_and_checkpoints():
    config = yaml.safe_load(TINY_TRAJECTORY.read_text())
    del config["experiments"]
    config["sweep"] = {"axes": {"posterior.gamma": [30.0, 100.0]}}
    plan = build_plan(resolve_experiments(config))
    a, b = (plan.experiments[name] for name in ("posterior.gamma=30.0_s0", "base_s0"))
    assert a["erm_id"] == b["erm_id"] and len(plan.erm) == 1  # one training run
    assert [p["checkpoint_id"] for p in a["trajectory"]] == [p["checkpoint_id"] for p in b["trajectory"]] and len(plan.checkpoints) == 2
    assert not set(plan.trajectory_runs()) - set(plan.runs) and len(plan.runs) == 2 * 2 * 3  # runs differ by γ


# --- config rejections --------------------------------------------------------------------------

REJECTED = [
    ("off-grid", "checkpoints: [100, 1234]", "base.training.checkpoints.1", "1234 is not a step the ERM job keeps", "(here 1200 or 1300)"),
    ("past-the-end", "checkpoints: [20000]", "base.training.checkpoints.0", "exceeds training.steps = 10000", "allowed: steps 1..10000"),
    ("zero-step", "checkpoints: [0, 100]", "base.training.checkpoints.0", "less than the minimum", "allowed: values >= 1"),
    ("repeated-step", "checkpoints: [100, 100]", "base.training.checkpoints", "non-unique", "allowed: distinct values"),
    ("empty-list", "checkpoints: []", "base.training.checkpoints", "should be non-empty", "allowed: at least 1 entries"),
    ("count-one", "checkpoints: 1", "base.training.checkpoints", "1 is less than the minimum of 2", "allowed: values >= 2"),
    (
        "not-a-number",
        "checkpoints: many",
        "base.training.checkpoints",
        "",
        "null or a count of checkpoints >= 2, a list of distinct training steps",
    ),
    ("count-too-large", "steps: 20, checkpoints: 25", "base.training.checkpoints", "keeps only 20", "allowed: 2..20"),
    ("count-collapses", "steps: 20, checkpoints: 18", "base.training.checkpoints", "fall on only", "allowed: a smaller count"),
    (
        "aligned",
        "method: aligned, checkpoints: 5}\n  model: {activation: identity, bias: false}\n  data: {teacher: {activation: identity}",
        "base.training.checkpoints",
        "builds w* without training",
        "training.method: optax",
    ),
]


def config_error(tmp_path, training: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(f"base:\n  training: {{{training}}}\n")
    config = load_configfile(ROOT / "config/config.yaml")
    update_config(config, load_configfile(path))
    with pytest.raises(ConfigError) as err:
        check_config(config, [path])
    return str(err.value)


@pytest.mark.parametrize("training,path,what,allowed", [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_bad_checkpoints_are_rejected_in_one_line_naming_the_key(tmp_path, training, path, what, allowed):
    msg = config_error(tmp_path, training)
    assert msg.startswith(f"config error at {path}: ") and what in msg and "\n" not in msg, msg
    assert allowed in msg[msg.index("; allowed") :], msg


def test_checkpoints_of_a_huge_model_are_rejected_for_their_memory(tmp_path):
    msg = config_error(tmp_path, "steps: 100000, checkpoints: 10}\n  model: {target_params: 500000")
    assert msg.startswith("config error at base.training.checkpoints: keeping the parameters (d = ") and "MiB" in msg, msg
    assert "allowed: at most 512 MiB" in msg


def test_the_cli_prints_the_config_error_and_starts_no_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base:\n  training: {checkpoints: [100, 1234]}\n")
    res = snakemake(tmp_path / "wd", "-n", "--cores", "1", "--configfile", str(bad), snakefile=ROOT / "Snakefile")
    assert res.returncode != 0 and "config error at base.training.checkpoints.1: 1234 is not a step" in res.stderr
    assert "Job stats" not in res.stdout and not (tmp_path / "wd/results").exists()


# --- what the jobs compute --------------------------------------------------------------------


def tiny_problem(**training):
    settings = resolve_experiments(yaml.safe_load(TINY_TRAJECTORY.read_text()))["dln"]
    settings["training"].update(training)
    plan = build_plan({"dln": settings})
    erm_settings = plan.erm[plan.experiments["dln"]["erm_id"]]
    ds = make_dataset(settings["seed"], settings["data"])
    return settings, erm_settings["layer_sizes"], empirical_loss(erm_settings, ds.x, ds.y), ds


def test_kept_parameters_are_those_of_a_run_stopped_at_that_step():
    settings, sizes, loss, _ = tiny_problem(steps=403)  # 403 = 201 chunks of 2 steps + 1: the last step runs too
    grid = checkpoint_grid(403)
    long = erm.train(loss, sizes, settings["training"], 0, False, snapshot_steps=grid)
    plain = erm.train(loss, sizes, settings["training"], 0, False)
    np.testing.assert_array_equal(long.w_star, plain.w_star)  # keeping snapshots changes no number
    np.testing.assert_array_equal(long.snapshots[-1], long.w_star)
    assert long.trace_step[-1] == 403 and len(long.snapshots) == len(grid)
    for step in (7, 130):  # constant step size and full batches: a run of `step` steps is the same path
        short = erm.train(loss, sizes, {**settings["training"], "steps": step}, 0, False)
        np.testing.assert_allclose(long.snapshots[grid.index(step)], short.w_star, rtol=1e-6, atol=1e-7)
    values, norms = erm.loss_and_grad_norms(loss, long.snapshots[-1:])
    np.testing.assert_allclose([values[0], norms[0]], [long.final_loss, long.grad_norm], rtol=1e-5)


def test_learnt_rank_counts_the_modes_of_the_least_squares_map_reached():
    _, sizes, _, ds = tiny_problem()
    x, y = np.asarray(ds.x), np.asarray(ds.y)
    p = np.linalg.lstsq(x, y, rcond=None)[0]
    u, s, vt = np.linalg.svd(p, full_matrices=False)
    assert s[1] > 1e-3 * s[0] and s[2] < 1e-3 * s[0]  # the tiny config's teacher has rank 2
    truncations = [(u[:, :k] * s[:k]) @ vt[:k] for k in range(3)]
    assert learnt_ranks(np.stack(truncations), x, y).tolist() == [0, 1, 2]
    halfway = (u[:, :2] * (s[:2] * [1.0, 0.4])) @ vt[:2]  # the second mode at 40% of its value: not yet learnt
    assert learnt_ranks(halfway[None], x, y).tolist() == [1]
    assert [dln_learning_coefficient(sizes, k)[0] for k in range(3)] == [4.0, 5.0, 5.5]
    assert linear_product(weight_matrices(np.zeros(21), sizes, False)).shape == (4, 3)


def status(loss, **kw):
    est = llc.estimate(loss, 0.5, 10.0)
    args = {"ess_tail": diagnostics.tail_ess(loss), "counts": {}, "frac_below_L0": 0.75, "erm_converged": False, "thresholds": HEALTH}
    return diagnostics.health_status(est, **{**args, **kw})


def test_a_checkpoint_run_is_labelled_not_a_minimum_instead_of_the_flags_meant_for_w_star():
    rng = np.random.default_rng(0)
    below = 0.45 + 0.01 * rng.standard_normal((4, 400))  # mean L_n below L_n(w_t) = 0.5: λ̂ < 0, as at a non-minimum
    at_w_star = parse_status(status(below))
    assert list(at_w_star) == ["w_star_not_minimum", "negative_llc", "erm_not_converged"]
    assert at_w_star["w_star_not_minimum"]["below_l0"] == "75"
    at_checkpoint = status(below, checkpoint_grad_norm=0.0123)
    assert at_checkpoint == "not_a_minimum: |grad L_n| = 0.0123, 75% of draws below L_n"
    stuck = np.stack([0.45 + 0.001 * rng.standard_normal(400), 0.55 + 0.001 * rng.standard_normal(400)])  # chains disagree
    flags = parse_status(status(stuck, checkpoint_grad_norm=0.5, counts={"divergences": 3}))
    assert list(flags) == ["not_a_minimum", "rhat", "ess", "divergences"]  # the chain flags stay, in order
    assert flags["not_a_minimum"]["grad"] == "0.5" and flags["divergences"]["count"] == "3"
    assert float(flags["rhat"]["rhat"]) > 1.05 and int(flags["ess"]["ess"]) < 100
    nan = np.full((2, 50), np.nan)
    assert status(nan, checkpoint_grad_norm=0.1, failure="checkpoint_nonfinite: w") == "checkpoint_nonfinite: w"
    no_draws = status(nan, checkpoint_grad_norm=0.1, frac_below_L0=float("nan"))
    assert no_draws.split(";") == ["not_a_minimum: |grad L_n| = 0.1", "diverged: all chains non-finite"]


def test_flagged_means_a_health_flag_beyond_the_not_a_minimum_label():
    statuses = pd.Series(
        ["not_a_minimum: |grad L_n| = 0.1, 3% of draws below L_n", "not_a_minimum: x;rhat 1.2 > 1.05", "ok", "erm_not_converged"]
    )
    assert trajectory.flagged(statuses).tolist() == [False, True, False, True]


# --- the workflow ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trajectory_run(tmp_path_factory):
    """A copy of the workflow with the tiny trajectory config run to its trajectory table and figure."""
    wd = copy_workflow(tmp_path_factory.mktemp("trajectory"))
    res = snakemake(wd, *TARGETS, "--cores", "2", "--configfile", str(TINY_TRAJECTORY))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return wd, res


def variant(tmp_path, checkpoints) -> str:
    config = yaml.safe_load(TINY_TRAJECTORY.read_text())
    config["base"]["training"]["checkpoints"] = checkpoints
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def dry_run(wd, configfile) -> str:
    res = snakemake(wd, *TARGETS, "-n", "--cores", "1", "--configfile", configfile)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout + res.stderr


def test_one_job_per_checkpoint_and_per_checkpoint_and_sampler(trajectory_run):
    wd, res = trajectory_run
    # 2 checkpoints (20, 60) + the final step (w*, the end-of-training runs), 2 samplers; one training run
    assert job_counts(res.stdout + res.stderr) == {
        "data": 1,
        "erm": 1,
        "training_checkpoint": 2,
        "sample": 6,
        "llc": 6,
        "trajectory": 1,
        "plot_trajectory": 1,
        "aggregate": 1,
    }
    index = pd.read_csv(wd / "results/index.csv")
    assert (index["kind"] == "checkpoint").sum() == 2 and (index["kind"] == "run").sum() == 6


def test_a_new_checkpoint_list_schedules_its_new_jobs_only_and_no_training(trajectory_run, tmp_path):
    wd, _ = trajectory_run
    assert "Nothing to be done" in dry_run(wd, str(TINY_TRAJECTORY))
    added = dry_run(wd, variant(tmp_path, [20, 60, 100]))
    # the new checkpoint's file and runs; the table, its figure and the ID index again; no data, ERM or other runs
    assert job_counts(added) == {"training_checkpoint": 1, "sample": 2, "llc": 2, "trajectory": 1, "plot_trajectory": 1, "aggregate": 1}
    plan = build_plan(resolve_experiments(yaml.safe_load(open(variant(tmp_path, [20, 60, 100])))))
    new = next(p for p in plan.experiments["dln"]["trajectory"] if p["step"] == 100)
    assert job_outputs(added, "training_checkpoint") == [f"results/checkpoints/{new['checkpoint_id']}/checkpoint.nc"]
    assert sorted(job_outputs(added, "sample")) == sorted(f"results/runs/{r}/trace.nc" for r in new["runs"].values())
    removed = dry_run(wd, variant(tmp_path, [60]))
    assert job_counts(removed) == {"trajectory": 1, "plot_trajectory": 1, "aggregate": 1}  # a shorter list: no sampling at all


def test_trajectory_table_has_a_row_per_checkpoint_and_sampler(trajectory_run):
    wd, _ = trajectory_run
    table = pd.read_csv(wd / TARGETS[0])
    assert list(table.columns[:9]) == [
        "experiment",
        "sampler",
        "step",
        "train_loss",
        "llc",
        "llc_se",
        "status",
        "sampling_seconds",
        "grad_evals_fde",
    ]
    assert list(zip(table["sampler"], table["step"])) == [("sgld", 20), ("sgld", 60), ("sgld", 200), ("hmc", 20), ("hmc", 60), ("hmc", 200)]
    assert np.isfinite(table[["llc", "llc_se", "train_loss", "grad_norm", "sampling_seconds", "grad_evals_fde"]]).all().all()
    assert (table["llc_se"] > 0).all() and (table["grad_evals_fde"] > 0).all()
    # each row's steps, cost by phase and WNVs are its run's (llc.nc), as in the sweep table
    cost = [
        "steps_run",
        *(f"cost_{p}_{u}" for u in ("fde", "seconds") for p in ("tuning", "burn_in", "draws", "eval", "sampling", "total")),
    ]
    cost += [f"wnv_{w}_{p}" for w in ("grad", "time") for p in ("sampling", "total")]
    for r in table.itertuples():
        attrs = xr.open_dataset(wd / "results/runs" / r.run_id / "llc.nc").attrs
        assert [getattr(r, c) for c in cost] == pytest.approx([attrs[c] for c in cost]), r.run_id
        assert r.cost_total_fde >= r.cost_sampling_fde > 0 and r.steps_run > 0
    at_checkpoints, final = table[table["final"] == 0], table[table["final"] == 1]
    at_w_star_only = {"w_star_not_minimum", "negative_llc", "erm_not_converged"}
    for s in at_checkpoints["status"]:  # labelled, with |grad L_n| and the share below L_n, and none of the w*-only flags
        flags = parse_status(s)
        assert list(flags)[0] == "not_a_minimum" and flags["not_a_minimum"]["below_ln"] is not None, s
        assert not at_w_star_only & set(flags), s
    assert not any("not_a_minimum" in parse_status(s) for s in final["status"]) and (final["step"] == 200).all()
    # training loss falls along training, and the learnt rank (rank-2 teacher) rises to 2 with its reference λ
    loss = table[table["sampler"] == "hmc"]["train_loss"].to_numpy()
    assert loss[0] > loss[1] > loss[2]
    for _, rows in table.groupby("sampler"):
        assert rows["learnt_rank"].is_monotonic_increasing and rows["learnt_rank"].iloc[-1] == 2
        assert rows["reference_llc"].iloc[-1] == 5.5


def test_checkpoint_files_hold_the_parameters_of_their_step(trajectory_run):
    wd, _ = trajectory_run
    table = pd.read_csv(wd / TARGETS[0])
    row = table[(table["sampler"] == "hmc") & (table["step"] == 60)].iloc[0]
    ckpt = xr.open_dataset(wd / "results/checkpoints" / row["checkpoint_id"] / "checkpoint.nc")
    erm_nc = xr.open_dataset(wd / "results/erm" / row["erm_id"] / "erm.nc")
    np.testing.assert_array_equal(ckpt["w"].values, erm_nc["snapshot_w"].sel(snapshot_step=60).values)
    assert ckpt.attrs["step"] == 60 and ckpt.attrs["L0"] == pytest.approx(row["train_loss"]) and "blackjax" in ckpt.attrs["versions_json"]
    assert ckpt.attrs["grad_norm"] == pytest.approx(row["grad_norm"]) and ckpt.attrs["erm_id"] == row["erm_id"]
    trace = xr.open_datatree(wd / "results/runs" / row["run_id"] / "trace.nc")
    assert trace.attrs["checkpoint_step"] == 60 and trace.attrs["L0"] == ckpt.attrs["L0"] and "erm_converged" not in trace.attrs
    assert "at training step 60" in (wd / "results/runs" / row["run_id"] / "summary.md").read_text()


def test_trajectory_figure_and_report(trajectory_run, tmp_path):
    wd, _ = trajectory_run
    table = pd.read_csv(wd / TARGETS[0])
    erm_nc = files.open_dataset(str(wd / "results/erm" / table["erm_id"].iloc[0] / "erm.nc"), drop_variables=["snapshot_w", "w_star"])
    fig = plots.llc_trajectory(table, erm_nc, "dln", tmp_path / "trajectory.png")
    ax, loss_ax = fig.axes
    assert "dln (d=21," in ax.get_title() and ax.get_xscale() == "log"
    # λ̂ ± SE per sampler at each checkpoint step (side by side around the step), the CSV's values
    assert [c.get_label() for c in ax.containers] == ["sgld λ̂ ± SE", "hmc λ̂ ± SE"]
    for bars, (sampler, rows) in zip(ax.containers, [(s, table[table["sampler"] == s].sort_values("step")) for s in ("sgld", "hmc")]):
        line, _, (errors,) = bars.lines
        np.testing.assert_allclose(np.asarray(line.get_xdata(), float), rows["step"], rtol=0.05)
        np.testing.assert_allclose(np.asarray(line.get_ydata(), float), rows["llc"], rtol=1e-6)
        np.testing.assert_allclose([np.ptp(seg[:, 1]) / 2 for seg in errors.get_segments()], rows["llc_se"], rtol=1e-6)
    # hollow markers: the estimates with health flags beyond not_a_minimum (README)
    hollow = sum(len(c.get_offsets()) for c in ax.collections if len(c.get_facecolors()) and np.allclose(c.get_facecolors()[0], 1))
    flagged = sum(bool(set(parse_status(s)) - {"not_a_minimum"}) for s in table["status"])
    assert hollow == flagged, f"{hollow} hollow markers for {flagged} flagged estimates"
    # the analytic λ of the rank learnt so far (a step line over every kept step), each rank change marked
    reference = next(line for line in ax.lines if line.get_label().startswith("analytic λ, rank-k"))
    np.testing.assert_array_equal(reference.get_xdata(), erm_nc["snapshot_step"].values)
    np.testing.assert_allclose(reference.get_ydata(), erm_nc["snapshot_reference_llc"].values)
    assert [t.get_text() for t in ax.texts] == [f"k = {k}" for k in dict.fromkeys(erm_nc["snapshot_learnt_rank"].values.tolist())]
    # the training loss on the right axis, log scale
    (loss,) = loss_ax.lines
    np.testing.assert_allclose(loss.get_ydata(), erm_nc["snapshot_loss"].values)
    assert loss_ax.get_yscale() == "log"
    assert_drawn_as(wd / TARGETS[1], tmp_path / "trajectory.png")  # the workflow's PNG is this figure
    res = snakemake(wd, *TARGETS, "--configfile", str(TINY_TRAJECTORY), "--report", "results/report.html")
    assert res.returncode == 0, res.stderr[-2000:]
    html = (wd / "results/report.html").read_text()
    assert "llc_trajectory.png" in html and "llc_trajectory.csv" in html and "Experiment dln (checkpoints)" in html


def test_checkpoint_and_sample_logs_say_where_the_run_is_centred(trajectory_run):
    wd, _ = trajectory_run
    log = next((wd / "results/logs/checkpoint").glob("*.log")).read_text()
    assert "|grad L_n| = " in log and "learnt rank" in log
    logs = [p.read_text() for p in (wd / "results/logs/sample").glob("*.log")]
    assert sum("(not a minimum)" in text for text in logs) == 4  # 2 checkpoints x 2 samplers; the w* runs say nothing
