"""Job setup. For workflow scripts (a job in a fresh interpreter): import and call ``setup_job``
before anything imports JAX (XLA reads its thread settings once, at start-up). For light jobs
run inside the snakemake process (a rule's ``run:`` block): ``in_process``. For the snakemake
process itself: ``stop_on_signal``, which the Snakefile's ``onstart`` hook calls."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import warnings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_IN_PROCESS = threading.Lock()  # one light job at a time in the snakemake process


# Chains × rows × weights of one full-data gradient of all chains (the product of a sampler step's
# matmuls) from which a sampler job computes with two threads. Below it a second XLA thread gains
# little or slows a gradient down on CPU, so one-thread jobs, two at a time on 2 cores, do more:
# `uv run python benchmarks/threads.py` (README, "Threads and the compilation cache").
TWO_THREAD_WORK = 3e7


def sample_work(n: int, layer_sizes: list[int], chains: int) -> int:
    """chains·n·Σ fan_in·fan_out: multiply-adds of one full-data forward pass of ``chains`` chains
    on ``n`` rows, for an MLP of ``layer_sizes`` (input, hidden..., output)."""
    from llcbench.model import count_params  # here, not at import: a job imports this module before NumPy

    return chains * n * count_params(layer_sizes, bias=False)


def sample_threads(n: int, layer_sizes: list[int], chains: int) -> int:
    """Threads of a sampler job (arguments as ``sample_work``): 2 when its work reaches
    ``TWO_THREAD_WORK``, else 1."""
    return 2 if sample_work(n, layer_sizes, chains) >= TWO_THREAD_WORK else 1


def thread_env(threads: int) -> dict[str, str]:
    """Environment limiting one process to ``threads`` compute threads, read once at
    start-up. XLA's CPU client sizes its thread pools from ``NPROC`` (else from the
    CPU affinity mask, i.e. the whole machine); ``--xla_cpu_multi_thread_eigen``
    covers Eigen's own pool; the rest is for BLAS/OpenMP libraries."""
    threads = str(max(1, int(threads)))
    return {
        "NPROC": threads,
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads != '1' else 'false'}",
        **{var: threads for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def compute_threads(snakemake) -> int:
    """The threads a job computes with: its ``params.compute_threads`` (the rule's declared
    ``threads``, after ``--set-threads``; ``rules/common.smk``) when the rule passes one, else
    ``snakemake.threads``. XLA's CPU results depend on its thread count (it splits matmuls and
    reductions by it), and ``snakemake.threads`` is the declared count lowered to ``--cores``,
    so numerical jobs take the declared count: the same config gives the same numbers at any
    ``--cores`` (a job may then use more threads than ``--cores``)."""
    declared = getattr(getattr(snakemake, "params", None), "compute_threads", None)
    return max(1, int(snakemake.threads if declared is None else declared))


def setup_job(snakemake) -> logging.Logger:
    """Limit JAX/BLAS threads to ``compute_threads(snakemake)``, point JAX at the shared
    compilation cache (config ``compile_cache``), send logging and warnings to the
    job's first ``log:`` file, and return the job's logger."""
    threads = compute_threads(snakemake)
    # Ctrl-C reaches every job of the foreground process group. Python's own SIGINT handler only
    # raises KeyboardInterrupt once the main thread runs Python again, which in a long compiled
    # sampler loop (it sits in XLA) is when the loop is over, and snakemake waits for it; the
    # default action ends the job at once, as SIGTERM and SIGKILL do (outputs are only ever
    # renamed into place whole).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    env = thread_env(threads)
    env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + env["XLA_FLAGS"]).strip()
    os.environ.update(env)
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # jobs share a GPU
    cache = snakemake.config.get("compile_cache")
    if cache:  # JAX reads these at import: compiled programs are reused across jobs and runs,
        # small ones too (JAX's default keeps only those that took over 1 s to compile)
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.abspath(cache)
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    if "jax" in sys.modules:
        raise RuntimeError("setup_job must run before jax is imported")
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers = [logging.FileHandler(log_path, mode="w")] if log_path else [logging.StreamHandler()]
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    for noisy in ("jax._src.xla_bridge", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger(f"llcbench.{snakemake.rule}")

    def log_uncaught(kind, value, tb):
        log.error("job failed", exc_info=(kind, value, tb))
        sys.__excepthook__(kind, value, tb)

    sys.excepthook = log_uncaught
    log.info(
        "rule %s, threads %s (scheduled as %s), NPROC=%s, XLA_FLAGS=%s, compile cache %s",
        snakemake.rule,
        threads,
        snakemake.threads,
        env["NPROC"],
        env["XLA_FLAGS"],
        os.environ.get("JAX_COMPILATION_CACHE_DIR", "off"),
    )
    return log


def in_process(rule: str, log_files, function, *args) -> None:
    """Run a light job, ``function(*args)``, inside the snakemake process: a rule's ``run:``
    block calls this for the estimates, tables and sweep figures, each seconds of work that
    a fresh interpreter's imports (ArviZ, SciPy, pandas, matplotlib: 3-7 s) would otherwise
    multiply; the first such job of a run pays them once. Jobs run one at a time (matplotlib's
    pyplot and logging's handlers are process-wide; snakemake runs ``run:`` jobs in threads).
    The ``llcbench`` loggers and warnings go to ``log_files[0]``, not to snakemake's output;
    an exception is logged there and re-raised, so the job fails as a script's would."""
    with _IN_PROCESS:
        handler = logging.FileHandler(log_files[0], mode="w")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        package = logging.getLogger("llcbench")
        saved = package.level, package.propagate
        package.addHandler(handler)
        package.setLevel(logging.INFO)
        package.propagate = False
        log = logging.getLogger(f"llcbench.{rule}")
        try:
            with warnings.catch_warnings():
                warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: log.warning(
                    "%s", warnings.formatwarning(message, category, filename, lineno, line).rstrip()
                )
                log.info("rule %s, in the snakemake process (pid %d)", rule, os.getpid())
                function(*args)
        except BaseException:
            log.error("job failed", exc_info=True)
            raise
        finally:
            package.removeHandler(handler)
            handler.close()
            package.setLevel(saved[0])
            package.propagate = saved[1]


def stop_on_signal(signum: int = signal.SIGTERM, *, stop_jobs: bool = True, interval: float = 0.2, kill_after: float = 20.0) -> None:
    """Make ``signum`` (SIGTERM) stop a Snakemake run as Ctrl-C does: the running jobs are
    terminated, snakemake leaves through its KeyboardInterrupt path (lock released; the next run
    of the same command redoes the stopped jobs) and exits.

    Replaces Snakemake's own SIGTERM handler (``JobScheduler.exit_gracefully``, set when the
    scheduler is built, so this must run later: the ``onstart`` hook). That handler takes the
    scheduler's non-reentrant locks (``_lock``, and the ``_open_jobs`` semaphore's), and Python
    runs it in the main thread between two bytecodes of whatever that thread is doing; when the
    thread holds one of those locks already (the scheduling loop holds ``_lock`` while it
    post-processes finished or failed jobs; an earlier call of the handler holds both, and
    ``timeout ... uv run snakemake`` delivers SIGTERM two or three times: ``timeout`` to the
    process group, ``uv`` forwarding what it gets), the handler waits for itself forever. It also means "finish the
    running jobs first", hours for a sampler job, when the signal reaches snakemake alone.

    This handler takes no lock: it writes a byte to a pipe and, the first time, raises
    KeyboardInterrupt. With ``stop_jobs`` (local execution: every process snakemake started is
    a job), a thread started here waits on that pipe and then, every ``interval`` seconds until
    the process exits, sends SIGTERM to every process snakemake started, and SIGKILL after
    ``kill_after`` seconds; a job that a worker thread was just starting when the signal came is
    caught by a later round. (A remote executor cancels its jobs itself on KeyboardInterrupt.)"""
    import psutil

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    stopping = False

    def handler(sig, frame):
        nonlocal stopping
        first, stopping = not stopping, True
        try:
            os.write(write_fd, b"x")
        except OSError:  # pipe full: the thread is awake already
            pass
        if first:
            raise KeyboardInterrupt(f"stopped by {signal.Signals(sig).name}")

    def stop_children():
        os.read(read_fd, 1)
        me, started = psutil.Process(), time.monotonic()
        while True:
            kill = time.monotonic() - started > kill_after
            for child in me.children(recursive=True):
                try:
                    child.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
                except psutil.Error:  # ended meanwhile
                    pass
            time.sleep(interval)

    if stop_jobs:
        threading.Thread(target=stop_children, name="llcbench-stop-jobs", daemon=True).start()
    signal.signal(signum, handler)
