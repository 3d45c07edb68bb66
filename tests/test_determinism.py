"""Reproducible at any --cores, with a cold or a warm compilation cache: experiment ``a`` of
the tiny config, run on one core first with an empty JAX cache (every program compiled and
written to it), then again in a fresh copy with that cache (every program read from it),
gives in both runs exactly the files of the session's `tiny_run` (made with --cores 2 and the
suite's shared cache). Both runs stop at the files compared (data, w*, each run's trace and
estimate, the sweep CSV), not at the figures. Its own file, so pytest-xdist can run it beside the
interruption test."""

import pandas as pd
import yaml

from conftest import TINY, assert_same_results, copy_workflow, snakemake


def cache_entries(cache):
    return {p.name for p in cache.rglob("*") if p.is_file()}


def test_cores_and_a_cold_or_warm_cache_never_change_a_result(tiny_run, tmp_path):
    reference, _ = tiny_run
    config = yaml.safe_load(TINY.read_text())
    config["experiments"] = {"a": config["experiments"]["a"]}  # SGLD, HMC, MCLMC: each compiled program once
    one = tmp_path / "a.yaml"
    one.write_text(yaml.safe_dump(config))
    table = pd.read_csv(reference / "results/llc_sweep_results.csv")
    targets = [f"results/runs/{run_id}/llc.nc" for run_id in table.loc[table.experiment == "a", "run_id"]]
    assert len(targets) == 3
    targets.append("results/llc_sweep_results.csv")  # compared too
    cache = tmp_path / "jax_cache"
    runs = []
    for name in ("cold", "warm"):
        wd = copy_workflow(tmp_path / name)
        res = snakemake(wd, *targets, "--cores", "1", "--configfile", str(one), "--config", f"compile_cache={cache}")
        assert res.returncode == 0, res.stderr[-3000:]
        runs.append((wd, cache_entries(cache)))
    (cold, after_cold), (warm, after_warm) = runs
    assert after_cold, "the cold run wrote no compiled program to the cache"
    assert after_warm == after_cold, "the warm run compiled programs the cold run had cached"
    assert assert_same_results(cold, warm) == 2 + 3 * 2  # data, erm, 3 runs × (trace, llc)
    assert assert_same_results(cold, reference, subset=True) == 2 + 3 * 2
