"""The scaling-study preset (config/presets/scaling.yaml): what it plans (ReLU and GELU MLPs
from 10^4 to 10^6 parameters; SGLD, RMSProp-SGLD and MCLMC at every size, HMC up to 10^5),
its figure (λ̂ and cost against d, present only when the sweep varies model.target_params) and
the SLURM profile's memory for its largest jobs. No sampling: a dry run and a hand-made table."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import yaml
from matplotlib.collections import PathCollection
from snakemake.resources import Resource
from snakemake.utils import update_config

from conftest import ROOT, job_counts, snakemake
from llcbench import plots
from llcbench.config import check_config, main
from llcbench.model import count_params, layer_sizes
from llcbench.plan import build_plan

PRESET = ROOT / "config/presets/scaling.yaml"


def preset_plan():
    config: dict = {}
    for path in (ROOT / "config/config.yaml", PRESET):
        update_config(config, yaml.safe_load(path.read_text()))
    return build_plan(check_config(config, [PRESET]).experiments)


def test_preset_plans_every_sampler_from_1e4_to_1e6_parameters_and_hmc_up_to_1e5(capsys):
    assert main([str(PRESET)]) == 0  # the offline checker accepts it
    assert capsys.readouterr().out.startswith("config ok: ")
    plan = preset_plan()
    d_of = {}  # (sampler label, activation) -> parameter counts of its runs
    for run in plan.runs.values():
        m, data = run["model"], {"in_dim": 32, "out_dim": 1}
        d = count_params(layer_sizes(data["in_dim"], data["out_dim"], m["depth"], m["widths"], m["target_params"]), m["bias"])
        assert d == count_params(run["layer_sizes"], m["bias"])  # the plan's own sizes: in_dim 32, out_dim 1
        label = run["sampler"] + (" (rmsprop)" if run["sampler_settings"].get("precond") == "rmsprop" else "")
        d_of.setdefault((label, m["activation"]), []).append(d)
    for label in ("sgld", "sgld (rmsprop)", "mclmc"):
        for act in ("relu", "gelu"):
            ds = sorted(d_of[(label, act)])
            # target_params picks the closest equal-width MLP: within 1% of 10^4 and 10^6
            assert abs(ds[0] - 1e4) < 100 and abs(ds[-1] - 1e6) < 1e4 and len(ds) >= 3, (label, act, ds)
    assert set(d_of) == {(s, a) for s in ("sgld", "sgld (rmsprop)", "mclmc", "hmc") for a in ("relu", "gelu")}
    # MCLMC long enough to mix at every size: 200 tuning + 200 sampling steps left every run flagged
    # (R-hat up to 2.6 at 10^5, config/presets/scaling.yaml)
    for run in plan.runs.values():
        if run["sampler"] == "mclmc":
            assert run["sampler_settings"]["tune_steps"] >= 1000 and run["sampler_settings"]["steps"] >= 2000, run["sampler_settings"]
    # SGLD and RMSProp-SGLD pick their step per size: the one hand-picked h at every size left 11 of 12
    # runs flagged and up to +9.6 % above HMC at 10^4 to 10^5 (config/presets/scaling.yaml)
    for run in plan.runs.values():
        if run["sampler"] == "sgld":
            assert run["sampler_settings"]["step_size"] == "auto", run["sampler_settings"]
    for act in ("relu", "gelu"):  # HMC, the reference, at every size but 10^6
        assert sorted(d_of[("hmc", act)]) == sorted(d for d in d_of[("sgld", act)] if d < 2e5), (act, d_of[("hmc", act)])
    # every sampler of one size and activation shares the data and w* (one ERM job per point)
    assert len(plan.erm) == len({(a, d) for (_, a), ds in d_of.items() for d in ds})


def test_dry_run_plans_the_scaling_figure_only_when_the_sweep_varies_the_parameter_count(tmp_path):
    res = snakemake(tmp_path / "scaling", "-n", "--cores", "2", "--configfile", str(PRESET), snakefile=ROOT / "Snakefile")
    counts = job_counts(res.stdout)
    assert res.returncode == 0, res.stderr[-2000:]
    assert counts["plot_scaling"] == 1 and counts["sample"] == len(preset_plan().runs) and counts["erm"] == len(preset_plan().erm), counts
    assert "results/plots/scaling.png" in res.stdout
    quick = snakemake(
        tmp_path / "quick", "-n", "--cores", "2", "--configfile", str(ROOT / "config/presets/quick.yaml"), snakefile=ROOT / "Snakefile"
    )
    assert quick.returncode == 0 and job_counts(quick.stdout)["sample"] >= 1 and "plot_scaling" not in job_counts(quick.stdout)


def scaling_table() -> pd.DataFrame:
    rows = []
    for act, shift in (("relu", 0.0), ("gelu", 5.0)):
        for d in (10_000, 100_000, 1_000_000):
            for sampler, run, factor in (("sgld", "plain", 1.0), ("sgld", "psgld", 1.1), ("mclmc", "m", 1.3)):
                rows.append(
                    {
                        "experiment": f"{act}_{d}_{run}",
                        "run_id": f"{sampler}-{act}{d}{run}",
                        "sampler": sampler,
                        "activation": act,
                        "d": d,
                        "n": 1024,
                        "nbeta": 147.7,
                        "gamma": 1000.0,
                        "llc": factor * np.log10(d) * 10 + shift,
                        "llc_se": 0.1 * np.log10(d),
                        "cost_total_seconds": factor * d / 1000 * (1 + shift),
                        "cost_total_fde": factor * 500.0 * (1 + shift),
                        "status": "ok" if d < 1_000_000 else "ess 50 < 100",
                    }
                )
    table = pd.DataFrame(rows)
    # a run shared by two experiments (as HMC and MCLMC runs are in a sweep) appears twice in the CSV
    return pd.concat([table, table.iloc[[0]].assign(experiment="other")], ignore_index=True)


def test_scaling_figure_draws_each_samplers_llc_and_cost_against_d(tmp_path):
    table = scaling_table()
    labels = {r: "sgld (rmsprop)" for r in table["run_id"] if r.endswith("psgld")}
    fig = plots.scaling(table, tmp_path / "scaling.png", labels)
    assert (tmp_path / "scaling.png").stat().st_size > 0
    llc_ax, sec_ax, fde_ax = fig.axes[:3]
    assert [ax.get_xscale() for ax in (llc_ax, sec_ax, fde_ax)] == ["log"] * 3
    legend = [t.get_text() for t in llc_ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(f"{s} · {a}" for s in ("sgld", "sgld (rmsprop)", "mclmc") for a in ("relu", "gelu"))
    # one errorbar container per (sampler, activation), its line through the runs in order of d
    by_label = {c.get_label(): c for c in llc_ax.containers}
    for (label, act), rows in (
        table.drop_duplicates("run_id")
        .assign(label=lambda t: [labels.get(r, s) for r, s in zip(t["run_id"], t["sampler"])])
        .groupby(["label", "activation"])
    ):
        rows = rows.sort_values("d")
        line, _, (bars,) = by_label[f"{label} · {act}"]
        assert np.array_equal(line.get_xdata(), rows["d"]) and np.allclose(line.get_ydata(), rows["llc"])
        half = np.array([abs(seg[1, 1] - seg[0, 1]) / 2 for seg in bars.get_segments()])
        assert np.allclose(half, rows["llc_se"])
    # the cost panels: one line per (sampler, activation) with the CSV's total seconds and FDE gradients
    for ax, col in ((sec_ax, "cost_total_seconds"), (fde_ax, "cost_total_fde")):
        lines = {(tuple(ln.get_xdata()), tuple(np.round(ln.get_ydata(), 9))) for ln in ax.get_lines()}
        want = {
            (tuple(g["d"]), tuple(np.round(g[col].to_numpy(float), 9)))
            for _, g in table.drop_duplicates("run_id")
            .assign(label=lambda t: [labels.get(r, s) for r, s in zip(t["run_id"], t["sampler"])])
            .sort_values("d")
            .groupby(["label", "activation"])
        }
        assert lines == want and len(lines) == 6
    # flagged runs (the 10^6 ones here) get a hollow marker in every panel
    for ax in (llc_ax, sec_ax, fde_ax):
        hollow = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if isinstance(c, PathCollection)])
        assert sorted(set(hollow)) == [1_000_000]


def test_slurm_profile_gives_the_largest_scaling_jobs_their_memory_and_time():
    """The profile's per-rule resources, evaluated by Snakemake's own evaluator: the sampler job's
    memory grows with its inputs (data + w*, whose size is 4 bytes per parameter) and covers the
    peak measured for the 10^6-parameter runs (README, "Scaling study") with room to spare."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    sample = profile["set-resources"]["sample"]

    def mem_mb(size_mb: float, attempt: int = 1) -> float:
        stub = SimpleNamespace(size_mb=size_mb)
        return float(
            Resource.cli_evaluator("mem_mb", str(sample["mem_mb"]), wildcards=None, input=stub, attempt=attempt, threads=2, async_run=None)
        )

    small, large = mem_mb(0.2), mem_mb(4.0 + 0.2)  # the default experiment's inputs; a 10^6-parameter w* (float32) and n = 1024 data
    # measured peaks at 10^6 parameters (README): SGLD 0.9 GB, MCLMC 8.1 GB (its tuner); a quarter more for another machine's allocator
    assert small >= 4000 and large >= 1.25 * 8147
    assert mem_mb(4.2, attempt=2) > large  # a retry (profile: retries 1) asks for more
    assert sample["runtime"].endswith(("m", "h"))
