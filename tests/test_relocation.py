"""The cache survives a move: results are keyed by content, code dependencies are content
hashes in ``params`` (llcbench/sources.py), never absolute paths or the project's location.

The session's finished tiny run is copied to tmp/a, moved to tmp/b with ``shutil.move``,
and dry-run there (`--directory b`, as every test run): nothing is
to be done. Editing one sampler module in the moved copy re-runs exactly that sampler's
jobs. The copy's jobs import the copy's own package (PYTHONPATH = <copy>/src, as the copy's
own environment would), so the code hashes are those of the files that moved.
"""

import os
import shutil
import time

import pytest

from conftest import TINY, job_counts, job_outputs, snakemake


def snakemake_in(wd, *args):
    """The snakemake CLI in the workflow copy ``wd``, importing the copy's own package. The
    time limit only guards against a hang: a loaded 2-core machine needs minutes for a run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(wd / "src"), os.environ.get("PYTHONPATH")])))
        return snakemake(wd, *args, timeout=1800)


def dry_run(wd, config):
    res = snakemake_in(wd, "-n", "--cores", "1", "--configfile", str(config))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def moved(tiny_run, tmp_path_factory):
    """(project folder after the move, config file): a copy of the session's finished tiny
    run (files, results and Snakemake's metadata, modification times kept) moved to tmp/b."""
    reference, _ = tiny_run
    tmp = tmp_path_factory.mktemp("relocation")
    a = tmp / "a"
    shutil.copytree(reference, a, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    b = tmp / "b"
    shutil.move(a, b)
    assert not a.exists() and (b / "results/llc_sweep_results.csv").is_file()
    return b, TINY


def test_moved_project_has_nothing_to_do(moved):
    b, config = moved
    out = dry_run(b, config)
    assert "Nothing to be done" in out and job_counts(out) == {}, out[-3000:]


def test_editing_a_sampler_module_after_the_move_reruns_only_its_jobs(moved):
    b, config = moved
    source = b / "src/llcbench/samplers/hmc.py"
    text, before = source.read_text(), source.stat()
    source.write_text(text + "\n# an edit\n")
    os.utime(source, (before.st_atime, time.time() + 60))  # newer and different: Snakemake skips a bare touch
    try:
        out = dry_run(b, config)
    finally:
        source.write_text(text)
        os.utime(source, (before.st_atime, before.st_mtime))
    assert job_counts(out) == {
        "sample": 1,
        "llc": 1,
        "plot_run_hmc": 1,
        "aggregate": 1,
        "scoreboard": 1,
        "plot_scoreboard": 1,
        "plot_sweep": 1,
        "all": 1,
    }
    samples = job_outputs(out, "sample")
    assert len(samples) == 1 and "/hmc-" in samples[0]
