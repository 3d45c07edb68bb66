import fcntl
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llcbench.aggregate import TIMING  # wall-clock columns and attributes: they differ run to run
from llcbench.model import make_apply
from llcbench.posterior import EmpiricalLoss, LocalPosterior, row_loss_fn

# Tests run on 2 cores: keep XLA to one thread per test process.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("NPROC", "1")  # XLA sizes its CPU thread pools from NPROC

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests/configs/tiny.yaml"
WORKFLOW_FILES = ("Snakefile", "rules", "workflow", "config", "profiles", "slurm", "envs", "src", "examples", "pyproject.toml")


# One JAX compilation cache for every workflow run of the suite (and of later runs of it): a
# compiled program depends on the shapes, code and XLA flags only, never on the workflow copy.
SHARED_COMPILE_CACHE = Path(tempfile.gettempdir()) / f"llcbench-test-jax-cache-{os.getuid()}"
# The tests' own processes use it too (before their first compilation), as every job does (runtime.setup_job).
jax.config.update("jax_compilation_cache_dir", str(SHARED_COMPILE_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def with_shared_compile_cache(args) -> list[str]:
    """``args`` with ``compile_cache`` set to the suite's shared cache (added to the
    ``--config`` values when there are any: a second ``--config`` would replace them).
    Dry runs compile nothing, and a test that sets its own ``compile_cache`` keeps it."""
    args = list(args)
    if "-n" in args or any(str(a).startswith("compile_cache=") for a in args):
        return args
    setting = f"compile_cache={SHARED_COMPILE_CACHE}"
    if "--config" in args:
        args.insert(args.index("--config") + 1, setting)
    else:
        args += ["--config", setting]
    return args


def snakemake_command(workdir, *args, snakefile=None) -> tuple[list[str], dict]:
    """(command line, environment) of the snakemake CLI in ``workdir`` with the suite's shared
    compilation cache; jobs set their own XLA flags, so the tests' are left out."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    args = with_shared_compile_cache(args)
    return [sys.executable, "-m", "snakemake", "-s", str(snakefile or Path(workdir) / "Snakefile"), "--directory", str(workdir), *args], env


def snakemake(workdir, *args, snakefile=None, timeout=1800):
    """Run the snakemake CLI (as users type it) in ``workdir``, with the suite's shared compilation cache."""
    cmd, env = snakemake_command(workdir, *args, snakefile=snakefile)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


NUMBER = r"\d+(?:\.\d+)?"
# README: `divergences: k` (HMC, adjusted MCLMC), `nan_reverts: k` and `energy_spikes: k` (MCLMC)
COUNTED = ("divergences", "nan_reverts", "energy_spikes")
# README ("Diagnostics, health flags and the report"): `ok`, or every flag that fired, `;`-separated,
# in this order (a sampler's counted flags in any order); a run that could not sample has its
# failure instead of the chain flags.
STATUS_FLAGS = (
    ("not_a_minimum", r"not_a_minimum: \|grad L_n\| = (?P<grad>[0-9.e+-]+)(?:, (?P<below_ln>\d+)% of draws below L_n)?"),
    ("failure", r"(?P<kind>tuning_failed|data_nonfinite|erm_nonfinite|checkpoint_nonfinite): (?P<why>[^;]+)"),
    ("diverged", r"diverged: (?:all chains non-finite|(?P<chains>[1-9]\d*) chain\(s\) non-finite, excluded)"),
    ("rhat", rf"rhat (?P<rhat>\d+\.\d{{3}}) > (?P<rhat_max>{NUMBER})"),
    ("ess", rf"ess (?P<ess>\d+) < (?P<ess_min>{NUMBER})"),
    ("counted", rf"(?P<counter>{'|'.join(COUNTED)}): (?P<count>[1-9]\d*)"),  # keyed by the counter's name
    ("w_star_not_minimum", r"w_star_not_minimum: (?P<below_l0>\d+)% of draws below L0"),
    ("negative_llc", r"negative_llc"),
    ("erm_not_converged", r"erm_not_converged"),
)


def parse_status(status: str) -> dict[str, re.Match]:
    """Flag name (a counted flag: its counter's) -> its match, for a status of the documented grammar
    (``{}`` for ``ok``); fails on anything else: an unknown or malformed flag, flags out of order or
    repeated, a failure beside chain flags."""
    if status == "ok":
        return {}
    found, start = {}, 0
    for piece in status.split(";"):
        for i, (name, pattern) in enumerate(STATUS_FLAGS[start:], start):
            if match := re.fullmatch(pattern, piece):
                key = match["counter"] if name == "counted" else name
                assert key not in found, f"{key} twice in status {status!r}"
                found[key], start = match, i + (name != "counted")
                break
        else:
            raise AssertionError(f"{piece!r} in status {status!r}: not a documented flag, or out of order")
    assert "failure" not in found or set(found) <= {"failure", "not_a_minimum", "erm_not_converged"}, status
    return found


def expected_flags(row, health: dict, grad_tol: float) -> set[str]:
    """The flags a sweep-CSV row's own numbers call for (README's thresholds)."""
    flags = {
        "diverged": row["chains_diverged"] > 0,
        "rhat": row["rhat"] > health["rhat_max"],
        "ess": min(row["ess"], row["ess_tail"]) < health["ess_min"],
        **{counter: row.get(counter, 0) > 0 for counter in COUNTED},  # NaN: not this sampler's
        "w_star_not_minimum": row["frac_below_L0"] > 0.5,
        "negative_llc": row["llc"] < 0,
        "erm_not_converged": row["erm_grad_norm"] > grad_tol,
    }
    return {name for name, fired in flags.items() if fired}


def job_counts(output: str) -> Counter:
    """Rule -> job count from Snakemake's 'Job stats' table (empty when nothing is to be done)."""
    counts, inside = Counter(), False
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Job stats"):
            inside, counts = True, Counter()
        elif inside and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                inside = False
            else:
                counts[parts[0]] = int(parts[1])
    return counts


def job_outputs(output: str, rule: str) -> list[str]:
    """Outputs of every scheduled job of ``rule`` in a dry-run listing."""
    out, current = [], None
    for line in output.splitlines():
        if line.startswith(("rule ", "localrule ")):
            current = line.split()[1].rstrip(":")
        elif current == rule and line.strip().startswith("output:"):
            out += [p.strip() for p in line.split(":", 1)[1].split(",")]
    return out


def _shared_root(tmp_path_factory) -> Path:
    """A folder of this test session that every pytest-xdist worker sees (the workers'
    base folders sit in it), or the session's own base folder without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


BUILDS: list[subprocess.Popen] = []  # this process's tiny-run builds (snakemake, in a process group with its jobs)


def built_tiny_run(tmp_path_factory) -> Path:
    """The folder of the session's finished tiny run (never edited: tests copy it), built by
    the first caller of any worker under a lock; later callers wait for it. The snakemake
    run's arguments, output and exit status are in its ``run.json``."""
    root = _shared_root(tmp_path_factory)
    built = root / "tiny_run"
    with open(root / "tiny_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (built / "run.json").exists():
            wd = copy_workflow(root / "tiny_run_building")
            cmd, env = snakemake_command(wd, "--cores", "2", "--configfile", str(TINY))
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
            BUILDS.append(proc)
            stdout, stderr = proc.communicate(timeout=1800)
            record = {"args": cmd, "returncode": proc.returncode, "stdout": stdout, "stderr": stderr}
            (wd / "run.json").write_text(json.dumps(record))
            wd.rename(built)
    return built


def copy_of_tiny_run(tmp_path_factory, dest: Path) -> Path:
    """``dest``: a copy of the finished tiny run (files, results, Snakemake's metadata,
    modification times kept; no lock), to run more of the workflow in: what the tiny run made
    is not made again."""
    built = built_tiny_run(tmp_path_factory)
    run = json.loads((built / "run.json").read_text())
    assert run["returncode"] == 0, run["stdout"][-3000:] + run["stderr"][-3000:]
    shutil.copytree(built, dest, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("locks", "run.json"))
    return dest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A copy of the workflow with the tiny config run to completion in it:
    experiments ``a`` and ``b`` differ only in the SGLD step size. Built once per test
    session (started in the background as soon as a worker has collected a test that needs it,
    see ``pytest_collection_finish``); each worker gets its own copy, since tests edit
    files in it. Returns (folder, the run's CompletedProcess)."""
    wd = copy_of_tiny_run(tmp_path_factory, tmp_path_factory.mktemp("workflow"))
    run = json.loads((built_tiny_run(tmp_path_factory) / "run.json").read_text())
    return wd, subprocess.CompletedProcess(run["args"], run["returncode"], run["stdout"], run["stderr"])


# Test files that run workflows of their own, longest first: they are handed out first, while
# the tiny run builds (xdist is told to keep this order: --no-loadscope-reorder in pyproject).
LONG_FIRST = (
    "test_quick_preset.py",
    "test_trajectory.py",
    "test_sampler_health.py",
    "test_samplers_quadratic.py",
    "test_truth_workflow.py",
)


def needs_tiny_run(item) -> bool:
    return "tiny_run" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    """Order the test files: those in LONG_FIRST, then those that do not need the tiny run,
    then the rest (each group in collection order)."""
    files = {}
    for item in items:
        files.setdefault(item.path.name, []).append(item)
    heavy = {name: i for i, name in enumerate(LONG_FIRST)}
    order = sorted(files, key=lambda f: (heavy.get(f, len(heavy)), any(map(needs_tiny_run, files[f]))))
    items[:] = [item for name in order for item in files[name]]


def pytest_unconfigure(config):
    """Stop a tiny-run build still going when the session ends early (-x, Ctrl-C, no test left needing it)."""
    for proc in BUILDS:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def pytest_collection_finish(session):
    """Start building the tiny run in a background thread when a selected test needs it, so
    that it is ready, or nearly, when first asked for (the other worker's thread waits on the
    first one's lock, then finds it built)."""
    if any(map(needs_tiny_run, session.items)) and not session.config.option.collectonly:
        threading.Thread(target=built_tiny_run, args=(session.config._tmp_path_factory,), daemon=True).start()


IN_DIM, N, BETA, GAMMA = 9, 2000, 1.0, 1.0  # quadratic target: d = 10, nβ = 2000


def quadratic_posterior(on_forward=None) -> LocalPosterior:
    """The posterior of the ``quadratic`` fixture. With ``on_forward``, its model calls
    ``on_forward(rows, w)`` on the host at every forward pass: ``rows`` the pass's rows, ``w``
    its parameters ((d,), or (chains, d) under the driver's vmap)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, IN_DIM)).astype(np.float32)
    w0 = rng.normal(size=IN_DIM + 1).astype(np.float32)
    plain = make_apply([IN_DIM, 1], "identity")

    def reported(w, x):
        jax.debug.callback(functools.partial(on_forward, x.shape[0]), w)
        return plain(w, x)

    apply = plain if on_forward is None else reported
    y = np.asarray(plain(jnp.asarray(w0), x))
    return LocalPosterior(EmpiricalLoss(jnp.asarray(x), jnp.asarray(y), apply, row_loss_fn({"kind": "mse"})), jnp.asarray(w0), BETA, GAMMA)


@pytest.fixture(scope="session")
def quadratic():
    """Linear regression with exact targets: L_n(w) = (w − w0)ᵀC(w − w0), a Gaussian
    tempered posterior whose E[nβ L_n] = nβ tr(CΣ) ≈ d/2 is known exactly."""
    post = quadratic_posterior()
    xt = np.hstack([np.asarray(post.x), np.ones((N, 1))]).astype(np.float64)
    c = xt.T @ xt / N
    sigma = np.linalg.inv(2 * post.nbeta * c + GAMMA * np.eye(IN_DIM + 1))
    exact = post.nbeta * np.trace(c @ sigma)
    return post, exact


def copy_workflow(dest: Path) -> Path:
    """A runnable copy of the workflow (code, configs, profiles) in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if not src.exists():  # e.g. examples/ on a branch made before it existed
            continue
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


VOLATILE = (*TIMING, "created_at")  # ArviZ stamps each group with the time it was written


def assert_same_results(a: Path, b: Path, subset: bool = False, csv: bool = True) -> int:
    """Every NetCDF under ``a/results`` is identical (values, coordinates, attributes
    except wall-clock timings and time stamps) to its twin under ``b/results``, and so is the sweep
    CSV (unless ``csv`` is false: ``a`` stopped before it). ``b`` has the same files, or with ``subset``, may have more (``a`` ran some of
    ``b``'s runs: content-addressed IDs make their files the same; the CSV is compared
    with ``b``'s rows of those experiments and runs). Returns the number of NetCDF files compared."""
    import pandas as pd
    import xarray as xr

    files = sorted(p.relative_to(a) for p in (a / "results").rglob("*.nc") if "jax_cache" not in p.parts)
    theirs = sorted(p.relative_to(b) for p in (b / "results").rglob("*.nc") if "jax_cache" not in p.parts)
    assert set(files) <= set(theirs) if subset else files == theirs

    def untimed(dt):
        for node in dt.subtree:
            for key in VOLATILE:
                node.attrs.pop(key, None)
        return dt

    for rel in files:
        with xr.open_datatree(a / rel) as da, xr.open_datatree(b / rel) as db:
            xr.testing.assert_identical(untimed(da.load()), untimed(db.load()))
    if not csv:
        return len(files)
    csv_a, csv_b = (pd.read_csv(p / "results/llc_sweep_results.csv").drop(columns=list(TIMING), errors="ignore") for p in (a, b))
    if subset:
        ran = csv_a.set_index(["experiment", "run_id"]).index
        csv_b = csv_b[csv_b.set_index(["experiment", "run_id"]).index.isin(ran)].reset_index(drop=True)
    pd.testing.assert_frame_equal(csv_a, csv_b)
    return len(files)
