"""Per-job setup: XLA limited to the job's threads, the compilation cache found by
JAX, logging into the job's log. Run in a fresh interpreter, as a job is, since
XLA and JAX read these settings once, at import."""

import json
import subprocess
import sys

JOB = """
import json, sys
from types import SimpleNamespace
from llcbench.runtime import setup_job
job = SimpleNamespace(threads={threads}, rule="sample", log=[sys.argv[1]], config={{"compile_cache": {cache!r}}})
setup_job(job)
import jax, os
print(json.dumps({{"xla": os.environ["XLA_FLAGS"], "omp": os.environ["OMP_NUM_THREADS"], "nproc": os.environ["NPROC"],
                  "cache": jax.config.jax_compilation_cache_dir, "prealloc": os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"]}}))
"""


def _job(tmp_path, threads, cache):
    env = {"PATH": "/usr/bin:/bin"}  # no XLA_FLAGS or JAX_* from the test process
    out = subprocess.run(
        [sys.executable, "-c", JOB.format(threads=threads, cache=cache), str(tmp_path / "job.log")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_threads_and_cache_reach_xla_and_jax(tmp_path):
    job = _job(tmp_path, 3, "results/jax_cache")
    assert job["nproc"] == "3" and "--xla_cpu_multi_thread_eigen=true" in job["xla"]
    assert job["omp"] == "3" and job["prealloc"] == "false"
    assert job["cache"] == str(tmp_path / "results/jax_cache")  # absolute, under the working directory
    log = (tmp_path / "job.log").read_text()
    assert "threads 3" in log and "compile cache" in log


def test_one_thread_turns_eigen_threading_off_and_null_cache_is_off(tmp_path):
    job = _job(tmp_path, 1, None)
    assert "--xla_cpu_multi_thread_eigen=false" in job["xla"] and job["nproc"] == "1"
    assert job["cache"] is None


BUSY = """
import time
from types import SimpleNamespace
from llcbench.runtime import setup_job
setup_job(SimpleNamespace(threads=1, rule="sample", log=[], config={}))
import jax, jax.numpy as jnp
x, v = jnp.ones((8192, 256)), jnp.full((256, 256), 0.01)
f = jax.jit(lambda x: jax.lax.fori_loop(0, 30, lambda i, h: jnp.tanh(h @ v), x))
f(x).block_until_ready()
c, t = time.process_time(), time.perf_counter()
f(x).block_until_ready()
print((time.process_time() - c) / (time.perf_counter() - t))
"""


def test_one_thread_job_uses_one_core(tmp_path):
    """XLA's CPU client ignores the old `intra_op_parallelism_threads` flag and, unlimited,
    runs this loop on every core (CPU/wall ≈ 1.9 on 2 cores, measured). A one-thread job
    must not exceed one core; 1.3 leaves room for interpreter and compiler threads."""
    out = subprocess.run(
        [sys.executable, "-c", BUSY], capture_output=True, text=True, check=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}
    )
    assert float(out.stdout.strip().splitlines()[-1]) < 1.3
