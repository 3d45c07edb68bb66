"""Two runs at once in the same directory: the second gets Snakemake's lock message,
exits non-zero and starts no job, while the first goes on (README, "Interrupted runs")."""

import os
import signal
import subprocess
import time

from conftest import TINY, copy_workflow, snakemake, snakemake_command


def test_second_run_in_the_same_directory_is_refused_and_starts_nothing(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    cmd, env = snakemake_command(wd, "--cores", "2", "--configfile", str(TINY))
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not (wd / "results/logs/data").is_dir() or not any((wd / ".snakemake/locks").glob("*")):
            assert first.poll() is None and time.time() < deadline, "the first run ended or took too long to start a job"
            time.sleep(0.2)
        locks = sorted(p.read_text() for p in (wd / ".snakemake/locks").glob("*"))
        second = snakemake(wd, "--cores", "2", "--configfile", str(TINY))
        out = second.stdout + second.stderr
        assert second.returncode != 0 and "Directory cannot be locked" in out, out[-2000:]
        assert "Execute" not in out and "localrule" not in out  # it scheduled nothing
        assert first.poll() is None  # the first run is untouched and still running ...
        assert sorted(p.read_text() for p in (wd / ".snakemake/locks").glob("*")) == locks  # ... and holds its locks
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
