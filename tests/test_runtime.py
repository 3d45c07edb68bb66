"""Per-job setup: XLA limited to the job's threads, the compilation cache found by
JAX, logging into the job's log. Run in a fresh interpreter, as a job is, since
XLA and JAX read these settings once, at import."""

import json
import re
import subprocess
import sys

from conftest import ROOT, copy_workflow, snakemake

JOB = """
import json, sys
from types import SimpleNamespace
from llcbench.runtime import setup_job
job = SimpleNamespace(threads={threads}, rule="sample", log=[sys.argv[1]], config={{"compile_cache": {cache!r}}})
setup_job(job)
import jax, os
print(json.dumps({{"xla": os.environ["XLA_FLAGS"], "omp": os.environ["OMP_NUM_THREADS"], "nproc": os.environ["NPROC"],
                  "cache": jax.config.jax_compilation_cache_dir, "prealloc": os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"],
                  "min_compile_seconds": jax.config.jax_persistent_cache_min_compile_time_secs}}))
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
    assert job["min_compile_seconds"] == 0  # every program is kept, not only those over JAX's default 1 s
    log = (tmp_path / "job.log").read_text()
    assert "threads 3" in log and "compile cache" in log


def test_one_thread_turns_eigen_threading_off_and_null_cache_is_off(tmp_path):
    job = _job(tmp_path, 1, None)
    assert "--xla_cpu_multi_thread_eigen=false" in job["xla"] and job["nproc"] == "1"
    assert job["cache"] is None


THREADS = """
import os
from types import SimpleNamespace
from llcbench.runtime import setup_job
setup_job(SimpleNamespace(threads={threads}, rule="sample", log=[], config={{}}))
import jax, jax.numpy as jnp
x = jnp.ones((512, 256))
jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(x).block_until_ready()
print(len(os.listdir("/proc/self/task")))
"""


def _os_threads(tmp_path, threads):
    """OS threads of a job process given ``threads`` after it has run a compiled program."""
    out = subprocess.run(
        [sys.executable, "-c", THREADS.format(threads=threads)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_xla_thread_pools_follow_the_jobs_threads(tmp_path):
    """XLA's CPU client ignores the old `intra_op_parallelism_threads` flag; it sizes its
    pools from NPROC, which setup_job sets. The control is the same job with 4 threads:
    if the limit did not reach XLA, both would get the machine's default pools (measured:
    8 OS threads at 1, 13 at 2, 37 at 8). Counting threads is exact, unlike a CPU/wall
    ratio, which load from other processes can push either way."""
    one, four = _os_threads(tmp_path, 1), _os_threads(tmp_path, 4)
    assert one + 6 <= four, (one, four)  # XLA adds at least two pool threads per extra core


PLANNING_MODULES = ("llcbench.config", "llcbench.plan", "llcbench.sources", "llcbench.aggregate", "llcbench.files", "llcbench.runtime")


def test_planning_a_run_imports_no_numerics_or_table_libraries():
    """What rules/common.smk imports to plan a run stays light: every snakemake command
    (a dry run, each SLURM job) pays for it. pandas and xarray are imported where tables
    and files are built, JAX only by jobs."""
    code = f"import sys; import {', '.join(PLANNING_MODULES)}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy = [m for m in ("jax", "pandas", "xarray", "scipy", "arviz_stats", "matplotlib", "blackjax") if f"'{m}'" in loaded]
    assert heavy == [], heavy


ROUNDING = """
import hashlib, sys
from types import SimpleNamespace
import numpy as np
from llcbench.runtime import setup_job
params = SimpleNamespace(compute_threads={declared}) if {declared} else SimpleNamespace()
setup_job(SimpleNamespace(threads={scheduled}, params=params, rule="sample", log=[], config={{}}))
import jax, jax.numpy as jnp
rng = np.random.default_rng(0)  # the default experiment's layer shapes: n = 4096, in_dim 32, width 62
x, a, b = (jnp.asarray(rng.standard_normal(s) / np.sqrt(s[0]), jnp.float32) for s in ((4096, 32), (32, 62), (62, 62)))
loss = lambda a, b: jnp.mean(jax.nn.relu(jax.nn.relu(x @ a) @ b) ** 2)
grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(a, b)
print(hashlib.sha256(b"".join(np.asarray(g).tobytes() for g in grads)).hexdigest())
"""


def _gradient_bits(scheduled, declared=None):
    """A hash of the bits of one MLP gradient computed in a job process."""
    code = ROUNDING.format(scheduled=scheduled, declared=declared)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    return out.stdout.strip().splitlines()[-1]


def test_a_numerical_job_computes_with_its_declared_threads_so_cores_never_change_its_bits():
    """A 2-thread rule run under `--cores 1` is scheduled with 1 thread; it must still compute
    with 2, or its numbers differ from a `--cores 2` run. The control (a job that follows the
    scheduled count, as every job did before) shows this gradient's bits do depend on XLA's
    thread count, so the first assertion is not true by accident."""
    under_cores_1, under_cores_2 = _gradient_bits(1, declared=2), _gradient_bits(2, declared=2)
    assert under_cores_1 == under_cores_2
    assert _gradient_bits(1) != under_cores_2, "XLA's rounding no longer depends on its thread count here"


def planned_sample_threads(wd, *args) -> dict[str, int]:
    """Run ID -> threads of each sample job a dry run schedules (Snakemake lists `threads:` when above 1)."""
    res = snakemake(wd, "results/llc_sweep_results.csv", "-n", "--cores", "2", *args)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    jobs = {}
    for block in res.stdout.split("rule sample:")[1:]:
        lines = block.split("\n\n")[0].split("[")[0]
        run_id = re.search(r"wildcards: run_id=(\S+)", lines)[1]
        threads = re.search(r"threads: (\d+)", lines)
        jobs[run_id] = int(threads[1]) if threads else 1
    return jobs


def test_a_sampler_job_takes_a_second_thread_only_where_its_full_data_pass_is_large(tmp_path):
    """README, "Threads": the default experiment (chains·n·weights ≈ 1.6·10⁸) samples with 2 threads,
    the quick preset (≈ 4·10⁶), where a second XLA thread gains nothing, with 1; `--set-threads`
    still decides when given."""
    wd = copy_workflow(tmp_path)
    quick = str(ROOT / "config/presets/quick.yaml")
    assert set(planned_sample_threads(wd).values()) == {2}
    assert list(planned_sample_threads(wd, "--configfile", quick).values()) == [1, 1, 1]
    assert list(planned_sample_threads(wd, "--set-threads", "sample=1").values()) == [1, 1, 1]
    assert list(planned_sample_threads(wd, "--set-threads", "sample=2", "--configfile", quick).values()) == [2, 2, 2]
