"""Per-job process setup for workflow scripts. Import and call ``setup_job``
before anything imports JAX: XLA reads its thread flags once, at start-up."""

from __future__ import annotations

import logging
import os
import sys


def xla_thread_flags(threads: int) -> str:
    """XLA CPU flags restricting one process to ``threads`` compute threads."""
    threads = max(1, int(threads))
    return f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} intra_op_parallelism_threads={threads}"


def setup_job(snakemake) -> logging.Logger:
    """Limit JAX/BLAS threads to ``snakemake.threads``, point JAX at the shared
    compilation cache (config ``compile_cache``), send logging and warnings to the
    job's first ``log:`` file, and return the job's logger."""
    threads = str(max(1, int(snakemake.threads)))
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + xla_thread_flags(int(threads))).strip()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # jobs share a GPU
    cache = snakemake.config.get("compile_cache")
    if cache:  # JAX reads it at import: compiled programs are reused across jobs and runs
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.abspath(cache)
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
    log.info("rule %s, threads %s, XLA_FLAGS=%s, compile cache %s", snakemake.rule, threads, os.environ["XLA_FLAGS"],
             os.environ.get("JAX_COMPILATION_CACHE_DIR", "off"))
    return log
