"""Shared by throughput.py, overhead.py, scaling.py and accuracy.py: the command
line, XLA thread flags (set before JAX is imported), the default experiment as a
ready posterior, timing of a sampler's compiled loop, tables and JSON output.

Results go to ``results/benchmarks/<name>.json`` by default (git-ignored, beside
Snakemake's per-job ``results/benchmarks/<rule>/`` tables)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the package even without an install


def parse_args(name: str, doc: str, add=None) -> argparse.Namespace:
    """``--tiny``, ``--out`` (default results/benchmarks/<name>.json), ``--threads``
    plus whatever ``add(parser)`` adds; sets XLA's thread flags from ``--threads``."""
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a seconds-long smoke run (what the tests run)")
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks" / f"{name}.json"), help="JSON result path")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="XLA compute threads (default: all cores)")
    if add:
        add(ap)
    args = ap.parse_args()
    if "jax" not in sys.modules:
        from llcbench.runtime import thread_env

        os.environ.update(thread_env(args.threads))
    return args


def snakemake(workdir: Path, configfile: Path, cores: int, *extra: str) -> tuple[float, str]:
    """Run the workflow with ``workdir`` as its working directory (results go to
    ``workdir/results``): the copy of the workflow in ``workdir`` if it holds one
    (as the tests' runs do), else this repository's. (wall seconds, output). Raises on failure."""
    import subprocess
    import time

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # jobs set their own from --cores
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(next(p for p in (workdir / "Snakefile", ROOT / "Snakefile") if p.exists())),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        "--configfile",
        str(configfile),
        *extra,
    ]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode:
        raise RuntimeError(f"snakemake failed in {workdir}:\n{res.stdout[-2000:]}{res.stderr[-3000:]}")
    return wall, res.stdout + res.stderr


def machine() -> dict:
    """What the figures were measured on."""
    import jax

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "python": platform.python_version(),
    }


def experiment(overrides: dict | None = None, preset: str | None = None) -> dict:
    """The resolved settings of config/config.yaml's base experiment, with a preset
    file and then ``overrides`` (partial ``base`` settings) merged over it."""
    import yaml

    from llcbench.config import deep_merge, resolve_experiments

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    if preset:
        cfg = deep_merge(cfg, yaml.safe_load((ROOT / preset).read_text()))
    cfg = deep_merge(cfg, {"base": overrides or {}})
    cfg.pop("experiments", None)
    cfg.pop("sweep", None)
    return resolve_experiments(cfg)["default"]


class Problem:
    """Data and w* of one experiment, made by the workflow's own stage functions
    in ``workdir``; ``posterior(run)`` builds a run's posterior."""

    def __init__(self, settings: dict, workdir: Path):
        from llcbench import files
        from llcbench.plan import build_plan
        from llcbench.stages.data import make_data
        from llcbench.stages.erm import train_erm

        plan = build_plan({"default": settings})
        self.runs = {plan.runs[r]["sampler"]: plan.runs[r] for r in plan.experiments["default"]["runs"].values()}
        data, erm = next(iter(plan.data.values())), next(iter(plan.erm.values()))
        make_data(data, str(workdir / "data.nc"))
        train_erm(erm, str(workdir / "data.nc"), str(workdir / "erm.nc"))
        self.data, self.erm = files.open_dataset(str(workdir / "data.nc")), files.open_dataset(str(workdir / "erm.nc"))
        self.layer_sizes = erm["layer_sizes"]
        self.L0 = float(self.erm.attrs["L0"])

    def posterior(self, run: dict):
        """The posterior of ``run`` (a plan run's settings, its sampler's block in
        ``sampler_settings``) in its dtype; turns JAX's float64 mode on or off to
        match, as the sample stage does."""
        import jax

        from llcbench.stages.sample import build_posterior

        dtype = run["sampler_settings"]["dtype"]
        jax.config.update("jax_enable_x64", dtype == "float64")
        return build_posterior(run, self.data, self.erm, dtype)


def flops_per_row_grad(layer_sizes: list[int]) -> float:
    """Matmul FLOPs of one row's gradient: forward 2·Σ fan_in·fan_out, backward
    twice that (biases and activations not counted)."""
    return 3 * 2 * sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def step_grads(name: str, algorithm, posterior, key, chains: int, eval_every: int) -> float:
    """FDE gradients of one chain's step, record-step extras spread over the
    ``eval_every`` steps of a draw: the mean over chains of ``info.grads`` of one
    plain and one record step from the tuned states (tuned with the key
    ``run_chains(key)`` tunes with, so a cost that depends on the tuning, as
    adjusted MCLMC's trajectory length does, is the one the timed run will have).
    Raises ``DegenerateTuning`` as ``start_chains`` does."""
    import jax
    import numpy as np

    from llcbench.samplers.driver import start_chains

    k_tune, k_step = jax.random.split(key)
    states = start_chains(name, algorithm, posterior, k_tune, chains)[0]

    def grads(record: bool) -> float:
        f = jax.jit(lambda k, s, p: jax.vmap(lambda k, s: algorithm.step(k, s, p, record))(k, s)[1].grads)
        return float(np.mean(np.asarray(f(jax.random.split(k_step, chains), states, posterior), np.float64)))

    return ((eval_every - 1) * grads(False) + grads(True)) / eval_every


def sampler_run(name: str, settings: dict, posterior, *, loss_star: float, seed: int = 0, steps_for=None, default_threefry=False):
    """``(run, info)`` for sampler ``name`` with its settings block ``settings``.
    ``run()`` runs ``driver.run_chains`` once (tuning, then the chain loop with
    burn-in 0, always from the same key, so every run does the same work) and
    returns its sampling seconds (the compiled chain loop only: no compilation, no
    tuning; JAX's x64 mode set to the posterior's dtype first). ``info``: the
    settings' chains, steps and draws, and, once ``run()`` has run, FDE gradients
    per run (the trace's ``grads_sampling``: all chains, record-step extras
    included, as the sample stage counts them), tuning seconds (the first run's,
    compilation included) and the least chain-loop compile seconds.
    ``steps_for(grads_per_step)``, when given, sets the chain length from the FDE
    gradients of one chain's step (``step_grads``). ``default_threefry``: run the
    chains under JAX's default (partitionable) threefry layout instead of the one
    ``run_chains`` sets (a baseline). Raises ``DegenerateTuning`` when tuning fails."""
    import jax

    from llcbench.plan import draw_count
    from llcbench.samplers import instantiate
    from llcbench.samplers.driver import DegenerateTuning, run_chains

    dtype = str(posterior.w_star.dtype)
    jax.config.update("jax_enable_x64", dtype == "float64")
    key = jax.random.key(seed)
    spec, algorithm = instantiate(name, settings)
    chains, eval_every = settings["chains"], settings["eval_every"]
    steps = steps_for(step_grads(name, algorithm, posterior, key, chains, eval_every)) if steps_for else settings["steps"]
    draws = draw_count(steps, 0, eval_every)
    info = {
        "sampler": name,
        "dtype": dtype,
        "chains": chains,
        "steps": steps,
        "draws": draws,
        "grads_fde": math.nan,
        "tuning_seconds": math.nan,
        "compile_seconds": math.inf,
        "runs": 0,
    }

    chain_loop = run_chains.__wrapped__ if default_threefry else run_chains

    def run() -> float:
        jax.config.update("jax_enable_x64", dtype == "float64")
        with jax.threefry_partitionable(True) if default_threefry else contextlib.nullcontext():
            trace = chain_loop(
                name,
                algorithm,
                spec,
                posterior,
                key,
                chains=chains,
                steps=steps,
                burn_in=0,
                eval_every=eval_every,
                loss_star=loss_star,
                projection_seed=seed,
            )
        if trace.failure:
            raise DegenerateTuning(f"{name}: {trace.failure}", trace.failure.removeprefix("tuning_failed: "))
        if not info["runs"]:
            info["grads_fde"], info["tuning_seconds"] = trace.grads_sampling, trace.tuning_seconds
        info["runs"] += 1
        info["compile_seconds"] = min(info["compile_seconds"], trace.compile_seconds)
        info["finite_draws"] = bool(math.isfinite(float(trace.loss.sum())))
        return trace.sampling_seconds

    return run, info


def rates(info: dict, seconds: float) -> dict:
    """``info`` plus the per-second and per-unit figures of a best time ``seconds``."""
    return {
        **info,
        "seconds": seconds,
        "grads_fde_per_s": info["grads_fde"] / seconds,
        "seconds_per_grad_fde": seconds / info["grads_fde"],
        "seconds_per_draw": seconds / info["draws"],
    }


def time_sampler(name: str, settings: dict, posterior, *, loss_star: float, repeats: int, seed: int = 0, steps_for=None) -> dict:
    """``rates`` of ``sampler_run``'s best of ``repeats`` runs."""
    run, info = sampler_run(name, settings, posterior, loss_star=loss_star, seed=seed, steps_for=steps_for)
    return rates(info, min(run() for _ in range(repeats)))


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Plain-text table; ``columns`` = (key, header, format spec); missing -> '-'."""
    cells = [[h for _, h, _ in columns]]
    for r in rows:
        cells.append(
            ["-" if r.get(k) is None or (isinstance(r.get(k), float) and math.isnan(r[k])) else format(r[k], f) for k, _, f in columns]
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    left = [f == "s" for _, _, f in columns]  # text left, numbers right
    lines = ["  ".join(c.ljust(w) if lft else c.rjust(w) for c, w, lft in zip(row, widths, left)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(result: dict, out: str) -> None:
    """Write ``result`` to ``out`` atomically (non-finite floats become null)."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    from llcbench import files

    files.write_text(json.dumps(clean(result), indent=2, default=float) + "\n", out)
    print(f"wrote {out}")
