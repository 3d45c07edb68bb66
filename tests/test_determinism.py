"""Reproducible at any --cores, with a cold or a warm compilation cache: experiment ``a`` of
the tiny config, run on one core first with an empty JAX cache (every program compiled and
written to it), then again in a fresh copy with that cache (every program read from it),
gives in both runs exactly the files of the session's `tiny_run` (made with --cores 2 and the
suite's shared cache). The cold run stops at the files compared (data, w*, each run's trace and
estimate, the sweep CSV), not at the figures; the warm run at the traces. Its own file, so pytest-xdist can run it beside the
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
    runs = table.loc[table.experiment == "a", "run_id"]
    assert len(runs) == 3
    cache = tmp_path / "jax_cache"
    targets = {  # the warm run stops at the traces: what a cached compiled program could change
        "cold": [*(f"results/runs/{run_id}/llc.nc" for run_id in runs), "results/llc_sweep_results.csv"],
        "warm": [f"results/runs/{run_id}/trace.nc" for run_id in runs],
    }
    entries = {}
    for name in ("cold", "warm"):
        wd = copy_workflow(tmp_path / name)
        res = snakemake(wd, *targets[name], "--cores", "1", "--configfile", str(one), "--config", f"compile_cache={cache}")
        assert res.returncode == 0, res.stderr[-3000:]
        entries[name] = cache_entries(cache)
        # ERM declares 2 threads: scheduled on 1 core, it computes with 2, as in the --cores 2 run (the
        # tiny config's sampler jobs declare 1 thread, llcbench.runtime.sample_threads)
        logs = list((wd / "results/logs/erm").glob("*.log"))
        assert logs, "no ERM log"
        for log in logs:
            assert "threads 2 (scheduled as 1)" in log.read_text(), log
    assert entries["cold"], "the cold run wrote no compiled program to the cache"
    assert entries["warm"] == entries["cold"], "the warm run compiled programs the cold run had cached"
    assert assert_same_results(tmp_path / "warm", tmp_path / "cold", subset=True, csv=False) == 2 + 3  # data, erm, 3 traces
    assert assert_same_results(tmp_path / "cold", reference, subset=True) == 2 + 3 * 2  # and 3 estimates (llc.nc)
