"""Only invalidated steps run again: dry runs in the tiny workflow copy after a
complete run (see conftest.tiny_run), asserting on the jobs Snakemake schedules."""

import os
import time

import yaml

from conftest import TINY, job_counts, job_outputs, snakemake
from llcbench.config import resolve_experiments
from llcbench.plan import build_plan

DOWNSTREAM = {
    "llc": 1,
    "aggregate": 1,
    "scoreboard": 1,
    "plot_scoreboard": 1,
    "plot_sweep": 1,
    "all": 1,
}  # of one sampler run, less its plotting job


def variant(tmp_path, edit) -> tuple[str, dict]:
    """The tiny config changed by ``edit(config)``, written to a file."""
    config = yaml.safe_load(TINY.read_text())
    edit(config)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path), config


def dry_run(wd, configfile):
    res = snakemake(wd, "-n", "--cores", "1", "--configfile", configfile)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout + res.stderr


def test_experiments_differing_in_a_sampler_setting_share_data_and_erm(tiny_run):
    _, res = tiny_run
    counts = job_counts(res.stdout + res.stderr)
    # a and b: one data job, one ERM job, 2 SGLD runs + 1 HMC + 1 MCLMC shared
    assert counts["data"] == 1 and counts["erm"] == 1 and counts["sample"] == 4


def test_noop_run_schedules_nothing(tiny_run):
    wd, _ = tiny_run
    out = dry_run(wd, str(TINY))
    assert "Nothing to be done" in out and job_counts(out) == {}


def test_changing_one_sgld_setting_reruns_only_that_sgld_job(tiny_run, tmp_path):
    wd, _ = tiny_run
    path, config = variant(tmp_path, lambda c: c["experiments"]["b"]["samplers"]["sgld"].update(step_size=3e-4))
    out = dry_run(wd, path)
    assert job_counts(out) == {"sample": 1, "plot_run_sgld": 1, **DOWNSTREAM}
    new_id = build_plan(resolve_experiments(config)).experiments["b"]["runs"]["sgld"]
    assert job_outputs(out, "sample") == [f"results/runs/{new_id}/trace.nc"]


def test_changing_the_seed_of_one_experiment_reruns_its_chain_only(tiny_run, tmp_path):
    wd, _ = tiny_run
    path, config = variant(tmp_path, lambda c: c["experiments"]["b"].update(seed=1))
    out = dry_run(wd, path)
    # b's whole chain (data, ERM, its three samplers and their plots); nothing of a
    assert job_counts(out) == {
        "data": 1,
        "erm": 1,
        "sample": 3,
        "llc": 3,
        "plot_run_sgld": 1,
        "plot_run_hmc": 1,
        "plot_run_mclmc": 1,
        "aggregate": 1,
        "scoreboard": 1,
        "plot_scoreboard": 1,
        "plot_sweep": 1,
        "all": 1,
    }
    b = build_plan(resolve_experiments(config)).experiments["b"]
    assert sorted(job_outputs(out, "sample")) == sorted(f"results/runs/{r}/trace.nc" for r in b["runs"].values())


def test_editing_one_sampler_module_reruns_only_that_samplers_jobs(tiny_run):
    # Snakemake skips inputs that are newer but have the checksum it recorded, so a bare
    # `touch` changes nothing; an edit of the HMC module must re-run exactly the HMC run.
    wd, _ = tiny_run
    source = wd / "src/llcbench/samplers/hmc.py"
    text, before = source.read_text(), source.stat()
    source.write_text(text + "\n# an edit\n")
    os.utime(source, (before.st_atime, time.time() + 60))
    try:
        out = dry_run(wd, str(TINY))
    finally:
        source.write_text(text)
        os.utime(source, (before.st_atime, before.st_mtime))
    assert job_counts(out) == {"sample": 1, "plot_run_hmc": 1, **DOWNSTREAM}
    assert all("/hmc-" in p for p in job_outputs(out, "sample"))
    assert "Nothing to be done" in dry_run(wd, str(TINY))  # restored: back to a no-op
