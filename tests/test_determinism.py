"""Reproducible at any --cores: a run on one core gives exactly the files of the
session's `tiny_run`, made with --cores 2 (its own file, so pytest-xdist can run it
beside the interruption test)."""

from conftest import TINY, assert_same_results, copy_workflow, snakemake


def test_one_core_gives_identical_results_to_two(tiny_run, tmp_path):
    """Same config and seeds, --cores 1 instead of 2 (other job order, one XLA
    thread per job): identical NetCDF values and CSV."""
    reference, _ = tiny_run
    wd = copy_workflow(tmp_path)
    res = snakemake(wd, "--cores", "1", "--configfile", str(TINY))
    assert res.returncode == 0, res.stderr[-3000:]
    assert assert_same_results(wd, reference) == 10
