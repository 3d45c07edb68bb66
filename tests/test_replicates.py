"""`replicates: R` plans R runs of a sampler on the same data and w*, each with its own ID and
sampler seed; R = 1 (the default) leaves every run ID as it was. `reference` names a sampler."""

import copy

import jax
import numpy as np
import pytest
import yaml

from conftest import ROOT, TINY, job_outputs, snakemake
from llcbench.config import ConfigError, resolve_experiments
from llcbench.plan import build_plan
from llcbench.stages.sample import sampler_key

CONFIG = yaml.safe_load(TINY.read_text())


def plan_of(edit=None):
    config = copy.deepcopy(CONFIG)
    if edit:
        edit(config)
    return build_plan(resolve_experiments(config))


def with_replicates(r, **per_sampler):
    def edit(config):
        config["base"]["replicates"] = r
        for name, n in per_sampler.items():
            config["base"]["samplers"][name]["replicates"] = n

    return edit


def test_replicates_plan_distinct_runs_and_seeds_beside_the_run_without_replicates():
    single, triple = plan_of(), plan_of(with_replicates(3))
    for name, e in triple.experiments.items():
        assert e["runs"] == single.experiments[name]["runs"]  # replicate 0 is the run without replicates
        for sampler, ids in e["replicates"].items():
            assert len(ids) == len(set(ids)) == 3 and ids[0] == single.experiments[name]["runs"][sampler]
            settings = [triple.runs[i] for i in ids]
            assert [s.get("replicate", 0) for s in settings] == [0, 1, 2]
            # the same data, w*, posterior and sampler settings; only the replicate differs
            assert all({k: v for k, v in s.items() if k != "replicate"} == settings[0] for s in settings)
            assert "replicates" not in settings[0]["sampler_settings"]
            keys = [tuple(np.asarray(jax.random.key_data(sampler_key(s))).tolist()) for s in settings]
            assert len(set(keys)) == 3  # independent sampler seeds
            assert keys[0] == tuple(np.asarray(jax.random.key_data(jax.random.fold_in(jax.random.key(settings[0]["seed"]), 2))).tolist())
    # a and b share HMC and MCLMC: 3 × (2 SGLD + HMC + MCLMC) runs, every one in the sweep
    assert len(triple.end_runs()) == 12 and set(single.end_runs()) < set(triple.end_runs())


def test_a_samplers_replicates_win_over_the_experiments():
    plan = plan_of(with_replicates(3, hmc=1, mclmc=2))
    counts = {s: len(ids) for s, ids in plan.experiments["a"]["replicates"].items()}
    assert counts == {"sgld": 3, "hmc": 1, "mclmc": 2}


def test_replicates_one_keeps_every_run_id():
    assert plan_of(with_replicates(1)).runs == plan_of().runs
    assert plan_of(with_replicates(1, sgld=1)).runs == plan_of().runs


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda c: c["base"].update(replicates=0), "config error at base.replicates"),
        (lambda c: c["base"]["samplers"]["hmc"].update(replicates=1.5), "config error at base.samplers.hmc.replicates"),
        (lambda c: c["base"].update(reference="nuts"), "config error at experiments.a.reference: 'nuts' is not a sampler"),
    ],
)
def test_bad_replicates_or_reference_is_rejected_naming_the_key(edit, where):
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        plan_of(edit)


def test_dry_run_with_replicates_schedules_them_beside_the_existing_runs(tmp_path):
    config = tmp_path / "replicates.yaml"
    config.write_text(yaml.safe_dump({"base": {"replicates": 3}}))
    outs = {}
    for name, files in (("single", [str(TINY)]), ("triple", [str(TINY), str(config)])):
        res = snakemake(tmp_path / name, "-n", "--cores", "1", "--configfile", *files, snakefile=ROOT / "Snakefile")
        assert res.returncode == 0, res.stderr[-2000:]
        outs[name] = job_outputs(res.stdout, "sample")
    assert len(outs["triple"]) == len(set(outs["triple"])) == 12 and len(outs["single"]) == 4
    assert set(outs["single"]) < set(outs["triple"])  # R = 1's runs are replicate 0
    expected = {f"results/runs/{r}/trace.nc" for r in plan_of(with_replicates(3)).end_runs()}
    assert set(outs["triple"]) == expected
