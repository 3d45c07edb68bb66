"""A run killed with SIGKILL in the middle of a sampler job, then resumed as the
README says, gives exactly the files of an uninterrupted run (the session's
`tiny_run`, made with --cores 2)."""

import os
import signal
import subprocess
import sys
import time

import xarray as xr

from conftest import TINY, with_shared_compile_cache, assert_same_results, copy_workflow, job_counts, snakemake


def _kill_during_first_sampler(wd, timeout=300):
    """Start the tiny run; SIGKILL snakemake and its jobs once a sampler job is
    running (set up, compiling or sampling). Returns that job's run ID and the files
    present at that moment (path -> mtime)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--directory",
        str(wd),
        "-s",
        str(wd / "Snakefile"),
        "--cores",
        "2",
        *with_shared_compile_cache(["--configfile", str(TINY)]),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            # a sampler job has set itself up (its first log line) and has seconds of compiling and
            # sampling ahead: the tiny run's compiled loop alone is too short to aim at reliably
            running = [p.stem for p in (wd / "results/logs/sample").glob("*.log") if "rule sample" in p.read_text()]
            if running:
                break
            assert proc.poll() is None, "the run ended before a sampler job could be interrupted"
            time.sleep(0.1)
        else:
            raise AssertionError("no sampler job started in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    complete = {p: p.stat().st_mtime_ns for p in (wd / "results").rglob("*") if p.is_file() and "logs" not in p.parts}
    return running[0], complete


def test_sigkill_mid_sampler_resumes_and_matches_uninterrupted_run(tiny_run, tmp_path):
    reference, _ = tiny_run
    wd = copy_workflow(tmp_path)
    killed_run, before = _kill_during_first_sampler(wd)
    # Nothing half-written under a final name: the killed job left no trace.nc
    # (only its temporary file), and every NetCDF present opens whole.
    assert not (wd / "results/runs" / killed_run / "trace.nc").exists()
    finished = [p for p in before if p.suffix == ".nc"]
    for nc in finished:
        xr.open_datatree(nc).load().close()
    # The documented resume: `snakemake --unlock`, then the same command
    # (profiles/default holds rerun-incomplete).
    assert snakemake(wd, "--unlock", "--configfile", str(TINY)).returncode == 0
    plan = snakemake(wd, "-n", "--cores", "2", "--configfile", str(TINY))
    todo = job_counts(plan.stdout + plan.stderr)
    done_traces = sum(1 for p in finished if p.name == "trace.nc")
    assert todo["sample"] == 4 - done_traces  # tiny: 4 sampler runs; finished ones are not redone
    assert todo["data"] == 0 and todo["erm"] == 0  # finished before the kill, kept
    res = snakemake(wd, "--cores", "2", "--configfile", str(TINY))
    assert res.returncode == 0, res.stderr[-3000:]
    for path, mtime in before.items():  # every file complete before the kill was kept, not rewritten
        if path.exists() and path.suffix in (".nc", ".png", ".md"):
            assert path.stat().st_mtime_ns == mtime, path
    assert assert_same_results(wd, reference) == 2 + 4 * 2  # data, erm, 4 runs × (trace, llc)
