"""The benchmark scripts (benchmarks/*.py) run on their tiny settings and write
their JSON with the expected keys. Not timed: speed is what they measure, not
what they are tested for."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT


def bench(name, tmp_path, *args):
    out = tmp_path / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--tiny", "--threads", "1", "--out", str(out), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return json.loads(out.read_text()), res.stdout


def test_throughput(tmp_path):
    result, stdout = bench("throughput", tmp_path)
    labels = [r["label"] for r in result["rows"]]
    assert {"sgld", "hmc"} <= set(labels) and sum(label.startswith("baseline: naive") for label in labels) == 2
    assert result["roofline_flops"]["float32"] > 0
    for r in result["rows"]:
        assert r["grads_fde_per_s"] > 0 and r["roofline_fraction"] > 0, r
    sgld = result["rows"][labels.index("sgld")]
    # minibatch gradients are FDE gradients times n / b
    p = result["problem"]
    assert sgld["minibatch_grads_per_s"] == pytest.approx(sgld["grads_fde_per_s"] * p["n"] / p["batch_size"])
    assert sgld["vs_naive"] > 0 and sgld["finite_draws"]
    assert set(result["summary"]["goals"]) == {"sgld_minibatch_grads_per_s", "full_batch_roofline_fraction", "speedup_vs_naive"}
    assert "x naive" in stdout and "of roofline" in stdout


def test_scaling(tmp_path):
    result, _ = bench("scaling", tmp_path)
    rows = result["rows"]
    assert {(r["d"], r["n"]) for r in rows} == {(81, 256), (289, 256), (81, 512)}  # each axis through the base point
    assert all(r["seconds_per_grad_fde"] > 0 and r["seconds_per_draw"] > 0 for r in rows)
    assert (tmp_path / "scaling.png").stat().st_size > 0


def test_overhead_on_an_already_run_workflow(tiny_run, tmp_path):
    wd, _ = tiny_run  # overhead.py checks with a dry run that the re-run has nothing to do
    result, _ = bench("overhead", tmp_path, "--workdir", str(wd))
    s = result["summary"]
    assert s["noop_nothing_to_be_done"] and s["noop_rerun_wall_seconds"] > 0
    samples = [j for j in result["jobs"] if j["rule"] == "sample"]
    assert len(samples) == 4 and all(j["sampling_seconds"] > 0 and j["fixed_seconds"] > 0 for j in samples)
    assert s["sample_fixed_over_sampling"] > 0 and s["startup_seconds"]["python_import_llcbench_stages"] > 0


def synthetic_sweep(path):
    """Two cases: m = 1 at nβ ≈ 1.02e4 (sgld and sgld_psgld experiments share it) and m = 2."""
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
    for exp, sampler, llc, true, m, d in [
        ("c1", "hmc", 16.3, 16.0, 1, 80),
        ("c1", "mclmc", 15.6, 16.0, 1, 80),
        ("c1", "sgld", 18.4, 16.0, 1, 80),
        ("c1_psgld", "sgld", 15.0, 16.0, 1, 80),
        ("c2", "hmc", 14.7, 15.5, 3, 105),
        ("c2", "sgld", 14.0, 15.5, 3, 105),
    ]:
        case = exp.removesuffix("_psgld")
        rows.append(
            {
                **base,
                "experiment": exp,
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


def test_accuracy_tabulates_a_sweep_csv(tmp_path):
    synthetic_sweep(tmp_path / "sweep.csv")
    result, stdout = bench("accuracy", tmp_path, "--csv", str(tmp_path / "sweep.csv"))
    rows = {(r["case"], r["run_id"]): r for r in result["rows"]}
    assert {c for c, _ in rows} == {"c1", "c2"}  # the _psgld run joins its case; the ReLU row has no truth
    assert rows[("c1", "mclmc-c1")]["rel_diff_hmc"] == pytest.approx(15.6 / 16.3 - 1)
    assert rows[("c2", "sgld-c2")]["rel_diff_hmc"] == pytest.approx(14.0 / 14.7 - 1)
    c1 = result["cases"]["c1"]
    assert c1["hmc"]["met"] and c1["mclmc"]["met"]  # +1.9 %, -2.5 % within 5 %
    assert c1["sgld (best)"]["abs_rel_error"] == pytest.approx(1 / 16) and c1["sgld (best)"]["met"]  # the RMSProp run, 6.25 %
    assert "c2" not in result["cases"]  # m = 3: reported, not judged
    assert result["all_met"]
    assert "m > 1" in stdout
