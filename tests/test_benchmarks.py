"""The benchmark scripts (benchmarks/*.py) run on their tiny settings and write
their JSON. Not timed: speed is what they measure, not what they are tested for.
What is tested is what a broken benchmark would get wrong: the work it counts
(gradients from the settings each row reports and README's counting rules), the
problem it reports (d and FLOPs from the layer shapes), which rows and baselines of
the same run its ratios and verdicts come from, and what it reads from a workflow."""

import json
import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from conftest import ROOT, job_counts

NAIVE, NAIVE_ONE = "baseline: naive loop, chains vmapped", "baseline: naive loop, one chain at a time"
DEFAULT_RNG = "baseline: our SGLD, JAX's default threefry layout"
PLAIN, FULL = "baseline: plain BlackJAX SGLD, lax.scan", "reference: bare full-batch gradient, lax.scan"
DEFAULTS = yaml.safe_load((ROOT / "config/config.yaml").read_text())["base"]["samplers"]  # what the benchmarks start from


def bench(name, tmp_path, *args):
    out = tmp_path / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--tiny", "--threads", "1", "--out", str(out), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return json.loads(out.read_text()), res.stdout


def weights(sizes) -> int:
    """Σ fan_in·fan_out of a dense network with layer sizes ``sizes``."""
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def sgld_grads(chains: int, steps: int, n: int) -> float:
    """FDE gradients of SGLD chains of ``steps`` steps from config/config.yaml's settings (README: a
    minibatch gradient of b rows counts b/n): one minibatch gradient a step, one more at each
    draw (the gradient at the proposal that its MALA acceptance check needs)."""
    s = DEFAULTS["sgld"]
    return chains * (steps + steps // s["eval_every"]) * s["batch_size"] / n


def test_throughput(tmp_path):
    result, stdout = bench("throughput", tmp_path)
    p, rows = result["problem"], {r["label"]: r for r in result["rows"]}
    assert set(rows) == {"sgld", "hmc", NAIVE, NAIVE_ONE, PLAIN, FULL, DEFAULT_RNG}  # --tiny: SGLD, HMC and every baseline
    # the problem: d counts weights and biases; FLOPs of a row's gradient = 3 × the forward matmuls (README)
    sizes, n = p["layer_sizes"], p["n"]
    assert p["d"] == weights(sizes) + sum(sizes[1:]) and p["flops_per_row_grad"] == 3 * 2 * weights(sizes)
    assert (n, p["chains"], p["batch_size"]) == (512, DEFAULTS["sgld"]["chains"], DEFAULTS["sgld"]["batch_size"])
    # the work each row counts, from the chains and steps it reports
    for label in ("sgld", DEFAULT_RNG, NAIVE, NAIVE_ONE):  # the sampler's own count, and the baselines' sums of its steps' counts
        r = rows[label]
        assert r["chains"] == p["chains"] and r["grads_fde"] == pytest.approx(sgld_grads(r["chains"], r["steps"], n)), label
    assert rows["sgld"]["draws"] == rows["sgld"]["steps"] // DEFAULTS["sgld"]["eval_every"]
    hmc = rows["hmc"]  # a step counts its leapfrog steps (README); eval_every 1: a draw a step
    assert hmc["grads_fde"] == pytest.approx(hmc["chains"] * hmc["steps"] * DEFAULTS["hmc"]["num_integration_steps"])
    assert hmc["draws"] == hmc["steps"]
    plain, full = rows[PLAIN], rows[FULL]  # BlackJAX's SGLD has no MALA check; a full-batch gradient counts 1
    assert plain["grads_fde"] == pytest.approx(plain["chains"] * plain["steps"] * p["batch_size"] / n)
    assert full["grads_fde"] == full["chains"] * full["steps"]
    assert rows["sgld"]["finite_draws"] and hmc["finite_draws"]
    # every figure is a count over a best time measured in this run; ratios are to this run's baselines
    rate = {label: r["grads_fde"] / r["seconds"] for label, r in rows.items()}
    assert all(np.isfinite(r["seconds"]) and r["seconds"] > 0 for r in rows.values())
    assert rows[NAIVE]["vs_naive"] == 1 and rows[PLAIN]["vs_plain_blackjax"] == 1
    s = result["summary"]
    assert s["speedup_vs_naive"] == pytest.approx(rate["sgld"] / rate[NAIVE])
    assert s["speedup_vs_naive_one_chain_at_a_time"] == pytest.approx(rate["sgld"] / rate[NAIVE_ONE])
    assert s["speedup_vs_plain_blackjax"] == pytest.approx(rate["sgld"] / rate[PLAIN])
    assert s["speedup_vs_default_threefry_layout"] == pytest.approx(rate["sgld"] / rate[DEFAULT_RNG])
    assert s["full_batch_roofline_fraction"] == pytest.approx(
        rate["hmc"] * n * p["flops_per_row_grad"] / result["roofline_flops"]["float32"]
    )
    assert set(result["roofline_flops"]) == {r["dtype"] for r in rows.values()} == {"float32"}
    assert set(s["goals"]) == {"sgld_minibatch_grads_per_s", "full_batch_roofline_fraction", "speedup_vs_naive"}
    for goal, g in s["goals"].items():
        assert g["measured"] == s[goal] and g["met"] == (g["measured"] >= g["goal"]), goal
    assert all(label in stdout for label in rows) and "x naive" in stdout and "of roofline" in stdout


def test_scaling(tmp_path):
    result, _ = bench("scaling", tmp_path)
    rows = result["rows"]
    assert {(r["d_target"], r["n"]) for r in rows} == {(100, 256), (300, 256), (100, 512)}  # each axis through the base point
    assert all(r["sampler"] == "sgld" and "error" not in r for r in rows)
    by = {(r["d_target"], r["n"]): r for r in rows}
    assert by[(100, 256)]["layer_sizes"] == by[(100, 512)]["layer_sizes"] and by[(300, 256)]["d"] > by[(100, 256)]["d"]
    e, budget = DEFAULTS["sgld"]["eval_every"], result["flops_budget"]
    for r in rows:
        sizes = r["layer_sizes"]
        assert r["d"] == weights(sizes) + sum(sizes[1:]) and sizes[0] == 32  # the default experiment's in_dim
        assert r["steps"] % e == 0 and r["draws"] == r["steps"] // e >= 2
        assert r["grads_fde"] == pytest.approx(sgld_grads(r["chains"], r["steps"], r["n"]))
        # chain length: the most whole draws whose gradients cost at most the FLOP budget, but at least two draws
        flops = r["grads_fde"] * r["n"] * 3 * 2 * weights(sizes)
        assert flops <= budget < flops * (r["draws"] + 1) / r["draws"] or (r["draws"] == 2 and flops > budget), r
        assert r["seconds_per_grad_fde"] == pytest.approx(r["seconds"] / r["grads_fde"])
        assert r["seconds_per_draw"] == pytest.approx(r["seconds"] / r["draws"])  # draws: all chains advance together
    # the log-log plot: 2 × 2 panels (per FDE gradient, per draw; against d, against n), each with the SGLD line
    img = mpimg.imread(tmp_path / "scaling.png")
    assert img.shape == (7 * 110, 10 * 110, 4)  # 10 × 7 inches at 110 dpi
    c0 = np.all(np.abs(img[..., :3] - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.02, axis=-1)  # the first line's colour
    h, w = c0.shape
    assert all(c0[i * h // 2 : (i + 1) * h // 2, j * w // 2 : (j + 1) * w // 2].sum() > 100 for i in (0, 1) for j in (0, 1))


def test_overhead_on_an_already_run_workflow(tiny_run, tmp_path):
    wd, res = tiny_run  # overhead.py checks with a dry run that the re-run has nothing to do
    before = {p: p.stat().st_mtime_ns for p in (wd / "results").rglob("*") if p.is_file()}
    result, _ = bench("overhead", tmp_path, "--workdir", str(wd))
    s = result["summary"]
    assert s["noop_nothing_to_be_done"] and s["workflow_wall_seconds"] is None  # --workdir: only the no-op re-run
    assert {p: p.stat().st_mtime_ns for p in (wd / "results").rglob("*") if p.is_file()} == before  # which wrote nothing
    # a row per job with a benchmark table, as many as Snakemake ran in the tiny run, with that table's figures
    counts = job_counts(res.stdout + res.stderr)
    # (every job but the `all` target; the per-sampler figure rules plot_run_<sampler> share one table folder)
    ran = {rule: counts[rule] for rule in ("data", "erm", "sample", "llc", "aggregate", "plot_sweep")}
    ran["plot_run"] = sum(n for rule, n in counts.items() if rule.startswith("plot_run_"))
    assert {rule: r["jobs"] for rule, r in result["rules"].items()} == ran
    for job in result["jobs"]:
        tsv = pd.read_csv(wd / "results/benchmarks" / job["rule"] / f"{job['job']}.tsv", sep="\t").iloc[-1]
        assert (job["seconds"], job["cpu_seconds"], job["max_rss_mb"]) == pytest.approx((tsv["s"], tsv["cpu_time"], tsv["max_rss"]))
    samples = [j for j in result["jobs"] if j["rule"] == "sample"]
    assert sorted(j["job"] for j in samples) == sorted(set(pd.read_csv(wd / "results/llc_sweep_results.csv")["run_id"]))
    timings = ("sampling_seconds", "compile_seconds", "tuning_seconds")
    for j in samples:  # each sample job's split of its wall time, from its own trace.nc
        attrs = xr.open_datatree(wd / "results/runs" / j["job"] / "trace.nc").attrs
        assert j["sampler"] == attrs["sampler"] and (j["d"], j["n"]) == (attrs["d"], attrs["n"])
        assert [j[k] for k in timings] == pytest.approx([attrs[k] for k in timings])
        # fixed = compile + other, other = wall − sampling − compile − tuning (module doc)
        assert j["fixed_seconds"] == pytest.approx(j["seconds"] - attrs["sampling_seconds"] - attrs["tuning_seconds"])
    totals = s["sample_jobs"]
    assert totals["seconds"] == pytest.approx(sum(j["seconds"] for j in samples))
    assert totals["sampling_seconds"] == pytest.approx(sum(j["sampling_seconds"] for j in samples))
    assert s["sample_fixed_over_sampling"] == pytest.approx(totals["fixed_seconds"] / totals["sampling_seconds"])
    assert set(s["startup_seconds"]) == {"python", "python_import_jax"}
    # one start-up figure per adapter script, and its ratio to the bare interpreter of the same run
    scripts = {p.stem for p in (ROOT / "workflow/scripts").glob("*.py")} - {"copy_files"}
    assert set(s["rule_startup_seconds"]) == set(s["rule_startup_over_python"]) == scripts
    for rule, seconds in s["rule_startup_seconds"].items():
        assert s["rule_startup_over_python"][rule] * s["startup_seconds"]["python"] == pytest.approx(seconds)


def synthetic_sweep(path, more=()):
    """Two cases: m = 1 at nβ ≈ 1.02e4 (sgld and sgld_psgld experiments share it) and m = 3; ``more``:
    further (experiment, sampler, λ̂, λ, m, d, nβ) runs."""
    base = {
        "nbeta": 10240.0,
        "gamma": 1.0,
        "grad_evals_fde": 1e4,
        "sampling_seconds": 2.0,
        "tuning_seconds": 1.0,
        "compile_seconds": 0.5,
        "status": "ok",
        "llc_se": 0.5,
    }
    rows = []
    for exp, sampler, llc, true, m, d, nbeta in [
        ("c1", "hmc", 16.3, 16.0, 1, 80, base["nbeta"]),
        ("c1", "mclmc", 15.6, 16.0, 1, 80, base["nbeta"]),
        ("c1", "adjusted_mclmc", 16.2, 16.0, 1, 80, base["nbeta"]),
        ("c1", "sgld", 16.8, 16.0, 1, 80, base["nbeta"]),
        ("c1_psgld", "sgld", 15.1, 16.0, 1, 80, base["nbeta"]),
        ("c2", "hmc", 14.7, 15.5, 3, 105, base["nbeta"]),
        ("c2", "sgld", 14.0, 15.5, 3, 105, base["nbeta"]),
        *more,
    ]:
        case = exp.removesuffix("_psgld")
        rows.append(
            {
                **base,
                "experiment": exp,
                "nbeta": nbeta,
                "run_id": f"{sampler}-{exp}",
                "sampler": sampler,
                "llc": llc,
                "d": d,
                "data_id": f"d{case}",
                "erm_id": f"e{case}",
                "true_llc": true,
                "true_llc_multiplicity": m,
                "rel_error": (llc - true) / true,
            }
        )
    rows.append(
        {
            **base,
            "experiment": "relu",
            "run_id": "hmc-relu",
            "sampler": "hmc",
            "llc": 50.0,
            "d": 1000,
            "data_id": "dr",
            "erm_id": "er",
            "true_llc": float("nan"),
            "true_llc_multiplicity": float("nan"),
            "rel_error": float("nan"),
        }
    )  # no ground truth: left out
    pd.DataFrame(rows).to_csv(path, index=False)
    # the workflow's index.csv beside it: SGLD runs' preconditioners (RMSProp in the _psgld experiments)
    index = [
        {
            "id": r["run_id"],
            "kind": "run",
            "settings_json": json.dumps({"sampler_settings": {"precond": "rmsprop" if "psgld" in r["experiment"] else "none"}}),
        }
        for r in rows
    ]
    pd.DataFrame(index).to_csv(path.parent / "index.csv", index=False)


def test_accuracy_tabulates_a_sweep_csv(tmp_path):
    synthetic_sweep(tmp_path / "sweep.csv")
    result, stdout = bench("accuracy", tmp_path, "--csv", str(tmp_path / "sweep.csv"))
    rows = {(r["case"], r["run_id"]): r for r in result["rows"]}
    assert {c for c, _ in rows} == {"c1", "c2"}  # the _psgld run joins its case; the ReLU row has no truth
    assert rows[("c1", "mclmc-c1")]["rel_diff_hmc"] == pytest.approx(15.6 / 16.3 - 1)
    assert rows[("c2", "sgld-c2")]["rel_diff_hmc"] == pytest.approx(14.0 / 14.7 - 1)
    c1 = result["cases"]["c1"]
    assert c1["hmc"]["met"] and c1["mclmc"]["met"] and c1["adjusted_mclmc"]["met"]  # +1.9 %, -2.5 %, +1.25 % within 3 %
    assert c1["sgld (none)"]["abs_rel_error"] == pytest.approx(0.8 / 16) and c1["sgld (none)"]["met"]  # +5 % within 6 %
    assert c1["sgld (rmsprop)"]["abs_rel_error"] == pytest.approx(0.9 / 16) and c1["sgld (rmsprop)"]["met"]  # the _psgld run, -5.6 %
    assert "c2" not in result["cases"]  # m = 3: reported, not judged
    assert result["all_met"]
    assert "m > 1" in stdout


def test_accuracy_judges_each_goal_against_its_tolerance(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import accuracy

    more = [
        ("c3", "hmc", 16.6, 16.0, 1, 60, 2e4),  # 3.75 % off: beyond HMC's 3 %
        ("c3", "mclmc", 16.4, 16.0, 1, 60, 2e4),  # 2.5 %: within
        ("c3", "sgld", 16.9, 16.0, 1, 60, 2e4),  # 5.6 %: within plain SGLD's 6 %
        ("c4", "hmc", 20.0, 16.0, 1, 40, 5e3),  # nβ < 1e4: reported, not judged
    ]
    synthetic_sweep(tmp_path / "sweep.csv", more)
    rows, verdict = accuracy.tabulate(pd.read_csv(tmp_path / "sweep.csv"), accuracy.sgld_labels(tmp_path / "index.csv"))
    assert {r["case"] for r in rows} == {"c1", "c2", "c3", "c4"} and set(verdict["cases"]) == {"c1", "c3"}
    c3 = verdict["cases"]["c3"]
    assert c3["hmc"]["abs_rel_error"] == pytest.approx(0.6 / 16) and not c3["hmc"]["met"]
    assert c3["mclmc"]["abs_rel_error"] == pytest.approx(0.4 / 16) and c3["mclmc"]["met"]
    assert c3["sgld (none)"]["abs_rel_error"] == pytest.approx(0.9 / 16) and c3["sgld (none)"]["met"]
    assert "adjusted_mclmc" not in c3 and "sgld (rmsprop)" not in c3  # not run there: not judged there
    goals = {k: (g["cases"], g["met"]) for k, g in verdict["goals"].items()}
    # one failed case fails a goal
    assert goals == {
        "hmc": (2, False),
        "mclmc": (2, True),
        "adjusted_mclmc": (1, True),
        "sgld (none)": (2, True),
        "sgld (rmsprop)": (1, True),
    }
    assert not verdict["all_met"]
    c3_rows = {r["sampler"]: r for r in rows if r["case"] == "c3"}
    assert c3_rows["mclmc"]["rel_diff_hmc"] == pytest.approx(16.4 / 16.6 - 1) and np.isnan(c3_rows["hmc"]["rel_diff_hmc"])
