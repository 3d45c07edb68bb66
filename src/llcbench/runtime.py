"""Per-job process setup for workflow scripts. Import and call ``setup_job``
before anything imports JAX: XLA reads its thread settings once, at start-up."""

from __future__ import annotations

import logging
import os
import sys


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


def setup_job(snakemake) -> logging.Logger:
    """Limit JAX/BLAS threads to ``snakemake.threads``, point JAX at the shared
    compilation cache (config ``compile_cache``), send logging and warnings to the
    job's first ``log:`` file, and return the job's logger."""
    threads = max(1, int(snakemake.threads))
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True)
    logging.captureWarnings(True)
    for noisy in ("jax._src.xla_bridge", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger(f"llcbench.{snakemake.rule}")

    def log_uncaught(kind, value, tb):
        log.error("job failed", exc_info=(kind, value, tb))
        sys.__excepthook__(kind, value, tb)

    sys.excepthook = log_uncaught
    log.info(
        "rule %s, threads %s, NPROC=%s, XLA_FLAGS=%s, compile cache %s",
        snakemake.rule,
        threads,
        env["NPROC"],
        env["XLA_FLAGS"],
        os.environ.get("JAX_COMPILATION_CACHE_DIR", "off"),
    )
    return log
