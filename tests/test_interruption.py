"""A run stopped while a sampler job is in its compiled loop, then resumed as the README says,
gives exactly the files of an uninterrupted run (the session's `tiny_run`, made with --cores 2):
SIGKILL of snakemake and its jobs (then `--unlock` and the same command), Ctrl-C (SIGINT to the
process group; the same command) and SIGTERM to snakemake alone (the same command). A sampler
job logs "sampling started" as it enters its compiled loop; the test polls the job logs for that
line and signals at once, and the job log then shows that the loop was cut short (no "progress
100.0%" line). The runs ask for the sweep table (not the figures). To keep the runs short, each
test starts from a copy of the finished tiny run without the results of one or two sampler runs:
what is left to do is those sampler jobs and what depends on them, and the final files are all
of the tiny run's. Two unit tests, without a workflow run, pin what the tiny run is too small to
show: the SIGTERM handler (llcbench.runtime.stop_on_signal) and the jobs' SIGINT setting."""

import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import TINY, assert_same_results, job_outputs, snakemake, snakemake_command

SAMPLING = "sampling started"  # llcbench.samplers.driver, just before the compiled loop
LOOP_DONE = "progress 100.0%"  # the loop's last progress line
JOB_DONE = " draws in "  # the sampling stage's last line, after trace.nc is written
STOP_GUARD = 120  # s: hang guard for snakemake to exit once signalled


# SIGINT at its default action, as an interactive shell starts a command, even where this
# process ignores it (a background job of a non-interactive shell inherits it ignored).
WITH_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


# The command the tests interrupt and resume: the tiny run up to its table (figures are made from
# finished files only, so stopping a run can leave nothing of them to check).
COMMAND = ("results/llc_sweep_results.csv", "--cores", "2", "--configfile", str(TINY))


def start_run(wd, out):
    """The tiny run, started as a terminal starts a command: in a process group of its own
    (snakemake and its jobs), output to the file ``out``."""
    cmd, env = snakemake_command(wd, *COMMAND)
    cmd = [sys.executable, "-c", WITH_SIGINT, *cmd]
    with open(out, "w") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def signal_in_compiled_loop(proc, wd, send, timeout=300) -> str:
    """Wait until a sampler job of ``proc`` logs that its compiled loop started (a log of an
    earlier run counts once rewritten), then call ``send(proc)`` at once. Returns the job's run ID."""
    logs = wd / "results/logs/sample"
    earlier = {p: p.stat().st_mtime_ns for p in logs.glob("*.log")}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for log in logs.glob("*.log"):
                try:
                    started = earlier.get(log) != log.stat().st_mtime_ns and SAMPLING in log.read_text()
                except FileNotFoundError:  # snakemake removes a job's old log as the job starts
                    continue
                if started:
                    send(proc)
                    return log.stem
            assert proc.poll() is None, "the run ended before a sampler job started sampling"
            time.sleep(0.005)
        raise AssertionError("no sampler job started sampling in time")
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def wait_stopped(proc, out) -> int:
    """Snakemake's exit status once it has stopped by itself (hang guard: STOP_GUARD seconds)."""
    try:
        return proc.wait(timeout=STOP_GUARD)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"snakemake still running {STOP_GUARD} s after the signal:\n{out.read_text()[-3000:]}") from None


def assert_cut_in_loop(wd, run_id):
    """The job of ``run_id`` entered its compiled loop and ended inside it: no trace.nc."""
    log = (wd / "results/logs/sample" / f"{run_id}.log").read_text()
    assert SAMPLING in log and LOOP_DONE not in log and JOB_DONE not in log, log
    assert not (wd / "results/runs" / run_id / "trace.nc").exists()


def temporary_files(wd) -> list:
    """Temporary files of unfinished writes (llcbench.files writes ``.<name>.<random>.tmp`` beside each output)."""
    return sorted((wd / "results").rglob("*.tmp"))


def finished_run_without(reference, dest, samplers) -> list[str]:
    """A copy of the finished tiny run ``reference`` (files, results, Snakemake's metadata;
    modification times kept) without the results of one run of each of ``samplers``: the next
    run of the tiny config redoes those sampler jobs and what depends on them. Returns their run IDs."""
    shutil.copytree(reference, dest, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    # and without the table, as a run stopped before its end has none: Snakemake does not remake
    # an existing output for a missing input alone
    (dest / "results/llc_sweep_results.csv").unlink()
    removed = []
    for sampler in samplers:  # not HMC: the tiny run's shortest compiled loop
        run = sorted((dest / "results/runs").glob(f"{sampler}-*"))[0]
        shutil.rmtree(run)
        removed.append(run.name)
    return removed


def test_sigkill_mid_sampler_resumes_and_matches_uninterrupted_run(tiny_run, tmp_path):
    reference, _ = tiny_run
    wd = tmp_path / "workflow"
    (removed,) = finished_run_without(reference, wd, ["mclmc"])
    proc = start_run(wd, tmp_path / "killed.out")
    killed_run = signal_in_compiled_loop(proc, wd, lambda p: os.killpg(p.pid, signal.SIGKILL))
    proc.wait()
    assert killed_run == removed
    assert_cut_in_loop(wd, killed_run)
    kept = {p: p.stat().st_mtime_ns for p in (wd / "results").rglob("*") if p.is_file() and p.parts[-3:-1] != ("runs", killed_run)}
    # What a writer that is not atomic would leave: the killed job's output, truncated, under
    # its final name. Snakemake's marker says the job never finished, so rerun-incomplete
    # (profiles/default) must redo it (without it, snakemake refuses to run: IncompleteFilesException).
    partial = wd / "results/runs" / killed_run / "trace.nc"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    # The documented resume: `snakemake --unlock`, then the same command.
    assert snakemake(wd, "--unlock", "--configfile", str(TINY)).returncode == 0
    res = snakemake(wd, *COMMAND)
    assert res.returncode == 0, res.stderr[-3000:]
    assert job_outputs(res.stdout + res.stderr, "sample") == [str(partial.relative_to(wd))]  # redone, not taken as done; nothing else
    for path, mtime in kept.items():  # the other runs, data and w* were kept, not rewritten
        if path.suffix == ".nc" or "runs" in path.parts:
            assert path.stat().st_mtime_ns == mtime, path
    assert JOB_DONE in (wd / "results/logs/sample" / f"{killed_run}.log").read_text()  # the killed job was redone
    assert temporary_files(wd) == []
    assert assert_same_results(wd, reference) == 2 + 4 * 2  # data, erm, 4 runs × (trace, llc)


def test_ctrl_c_and_sigterm_stop_the_run_and_the_same_command_resumes(tiny_run, tmp_path):
    reference, _ = tiny_run
    wd = tmp_path / "workflow"
    removed = finished_run_without(reference, wd, ["mclmc", "sgld"])
    # Ctrl-C: the terminal sends SIGINT to the foreground process group, snakemake and its jobs.
    out = tmp_path / "ctrl_c.out"
    proc = start_run(wd, out)
    interrupted = signal_in_compiled_loop(proc, wd, lambda p: os.killpg(p.pid, signal.SIGINT))
    assert wait_stopped(proc, out) != 0
    assert_cut_in_loop(wd, interrupted)
    assert not any((wd / "results/runs" / run / "trace.nc").exists() for run in removed)  # and snakemake ran no other
    assert not list((wd / ".snakemake/locks").glob("*"))  # lock released: no --unlock needed

    # SIGTERM to snakemake alone (`kill PID`, `timeout --foreground`; `timeout` and batch
    # systems signal the jobs too), and again a moment later, as `timeout ... uv run snakemake`
    # delivers it two or three times (to the group, then forwarded by uv): snakemake stops its
    # jobs and exits; it neither waits for them to finish nor deadlocks in its own handler.
    def sigterm_twice(p):
        os.kill(p.pid, signal.SIGTERM)
        time.sleep(0.05)
        os.kill(p.pid, signal.SIGTERM)

    out = tmp_path / "sigterm.out"
    proc = start_run(wd, out)  # the README's resume after Ctrl-C: the same command
    terminated = signal_in_compiled_loop(proc, wd, sigterm_twice)
    assert wait_stopped(proc, out) != 0
    assert_cut_in_loop(wd, terminated)
    assert not any((wd / "results/runs" / run / "trace.nc").exists() for run in removed)
    assert not list((wd / ".snakemake/locks").glob("*"))
    assert {interrupted, terminated} <= set(removed)
    # The README's resume after SIGTERM: the same command.
    res = snakemake(wd, *COMMAND)
    assert res.returncode == 0, res.stderr[-3000:]
    for run_id in removed:  # the stopped jobs (and the one never started) were done
        assert JOB_DONE in (wd / "results/logs/sample" / f"{run_id}.log").read_text()
    assert temporary_files(wd) == []
    assert assert_same_results(wd, reference) == 2 + 4 * 2


HANDLER = """
import os, signal, subprocess, sys, threading, time
from llcbench.runtime import stop_on_signal
job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
stop_on_signal(interval=0.05)
lock = threading.Lock()
interrupts = 0
try:
    with lock:  # snakemake's main thread holds its scheduler's lock when the signal lands
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)
except KeyboardInterrupt:
    interrupts += 1
try:  # Snakemake's clean-up; the second and third SIGTERM of `timeout ... uv run` arrive
    for _ in range(2):
        os.kill(os.getpid(), signal.SIGTERM)
    status = job.wait(timeout=60)  # ended by the handler's thread
except KeyboardInterrupt:
    interrupts += 1
    status = None
finally:
    job.kill()
print(interrupts, status, lock.locked())
"""


def test_sigterm_handler_interrupts_once_even_under_a_lock_and_ends_the_jobs():
    """``stop_on_signal``, unit by unit: a SIGTERM landing while the main thread holds a lock
    raises KeyboardInterrupt there (Snakemake's own handler would wait on that lock forever),
    later ones raise nothing (they would break Snakemake's clean-up), and the process's
    children, its jobs, get SIGTERM."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    res = subprocess.run([sys.executable, "-c", HANDLER], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == ["1", str(-signal.SIGTERM), "False"]


JOB = """
import signal, sys
from types import SimpleNamespace
signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[1] == "ignored" else signal.default_int_handler)
from llcbench.runtime import setup_job
setup_job(SimpleNamespace(threads=1, rule="sample", log=[], config={}))
print(signal.getsignal(signal.SIGINT) is signal.SIG_DFL)
"""


def test_jobs_leave_ctrl_c_to_the_default_action():
    """A job's Python handles SIGINT only between bytecodes of its main thread, which sits in
    XLA for the whole of a long compiled loop (measured: a 400,000-step SGLD job went on logging
    progress for over a minute after Ctrl-C, and snakemake waited for it). The tiny run's loops
    are too short for the workflow test above to tell, so this checks the setting itself: after
    ``setup_job``, SIGINT has the system's default action (end the process at once), whether the
    job inherited it handled or ignored."""
    for inherited in ("handled", "ignored"):
        res = subprocess.run([sys.executable, "-c", JOB, inherited], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        assert res.stdout.split()[-1] == "True", inherited
