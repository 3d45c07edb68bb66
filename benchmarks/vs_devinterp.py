"""SGLD against devinterp 2.0.1: minibatch gradients/s, LLCs and WNV of this project's
SGLD and of devinterp's ``llc`` (``sample`` + ``compute_llc``, PyTorch, chains one after
another) on the same problem: config/config.yaml's default experiment (data, model and
w* made in-process by the workflow's own stage functions), the same batch size, step
(our h ⇔ devinterp lr = 2h; ../shared/devinterp.md), γ, nβ = n·β, chain count and chain
length (default 4 chains × 2,000 steps, no burn-in), and the same number of threads.

devinterp is never a dependency of this project: the script makes its own virtual
environment (``--venv``, default ~/.cache/llcbench/devinterp-venv, about 1.3 GB with the
CPU torch wheel), installs torch (``--torch``) and then devinterp 2.0.1 into it with pip
from the package index when it lacks them, and runs devinterp there in a subprocess
(benchmarks/devinterp_worker.py), handing it the float32 data and w* in an .npz file. The
worker rebuilds the MLP in PyTorch from the flat w*; both sides' predictions f(x; w*) must agree.
``--venv-python`` is the interpreter the environment is made from (default this one). On
Linux, PyPI's torch wheel is the CUDA build, which pulls several GB of NVIDIA libraries;
the benchmark runs devinterp on the CPU either way.

Runs alternate (ours, devinterp, ours, ...), ``--repeats`` of each, every run from its own
seed. Timed the same way on both sides: ours is the compiled chain loop after
``block_until_ready`` (compilation reported apart; the per-draw full-data L_n and the
MALA record step included); devinterp's is the sum of its per-chain wall times
(``sample_single_chain``; its init loss, zarr set-up and ``compute_llc`` are reported
apart as ``total_seconds``); one untimed warm-up run on each side first. Gradients are
minibatch gradients of b rows: devinterp one per step, ours one per step plus one at each
draw's MALA check (``grads_sampling``, as throughput.py counts them); chain steps/s is
reported too. Each run's λ̂ ± SE uses the project's estimator (``llcbench.llc.estimate``:
nβ × ArviZ's MCSE of the mean) on that tool's own trace: ours the full-data L_n at each
draw, devinterp's the minibatch loss at every step (its ``loss_trace``; its λ̂ is
devinterp's ``llc_mean``). WNV = variance × seconds, from the runs' MCSE² and, with 2 or
more runs, from the variance of λ̂ across the independent runs. The two LLCs agree when
they differ by at most 2 combined SEs (each tool's SE of its mean over runs: the larger
of the pooled MCSE and the spread across runs).

    uv run python benchmarks/vs_devinterp.py [--repeats 3] [--steps 2000] [--venv DIR] [--venv-python python3.11]
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib

DEVINTERP = "2.0.1"
TORCH = "2.13.0"
STEPS = 2000
SEED_STRIDE = 1000  # devinterp seeds chain c of a run with init_seed + c: runs' seeds far apart share no chain seed
TINY = {"data": {"n": 512}, "model": {"depth": 2, "target_params": 300}, "training": {"steps": 200}}
OURS, THEIRS = "llcbench SGLD", f"baseline: devinterp {DEVINTERP}"
GOAL_RATIO = 10.0  # issue 14: our minibatch gradients/s >= 10x devinterp's
AGREE_Z = 2.0
# the torch model's predictions at w* against ours, relative to their largest: float32 matmuls
# (widths ~60) in two libraries differ by ~1e-6; other weights would differ by O(1). L_n(w*)
# itself is no test: at an interpolating w* (L_n ~ 1e-10) it is rounding noise in both.
PRED_RTOL = 1e-4
MIN_FREE_BYTES = 4e9  # torch (CPU) + devinterp's dependencies ~1.3 GB, PyPI's CUDA torch several GB


def default_venv() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llcbench" / "devinterp-venv"


def venv_versions(venv: Path) -> dict | None:
    """torch's and devinterp's versions in ``venv``, or None when it cannot import both."""
    py = venv / "bin" / "python"
    if not py.exists():
        return None
    code = "import json, importlib.metadata as m, torch, devinterp.slt.llc; print(json.dumps({'torch': torch.__version__, 'devinterp': m.version('devinterp'), 'python': __import__('platform').python_version()}))"
    res = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else None


def ensure_venv(venv: Path, python: str, torch_version: str) -> dict:
    """devinterp's environment: ``venv`` as it is when it holds devinterp DEVINTERP, else
    (re)made from ``python`` with pip: torch first, then devinterp. Its versions."""
    found = venv_versions(venv)
    if found and found["devinterp"] == DEVINTERP:
        return found
    venv.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(venv.parent).free
    if free < MIN_FREE_BYTES:
        raise SystemExit(
            f"vs_devinterp: {free / 1e9:.1f} GB free under {venv.parent}; torch + devinterp need about {MIN_FREE_BYTES / 1e9:.0f} GB"
        )
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install"]
    for cmd in ([python, "-m", "venv", "--clear", str(venv)], [*pip, f"torch=={torch_version}"], [*pip, f"devinterp=={DEVINTERP}"]):
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    found = venv_versions(venv)
    if not found or found["devinterp"] != DEVINTERP:
        raise SystemExit(f"vs_devinterp: {venv} still does not import devinterp {DEVINTERP}: {found}")
    return found


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


class Worker:
    """devinterp_worker.py in devinterp's environment: started on the problem in ``npz``;
    ``run(seed)`` is one ``llc`` call's result."""

    def __init__(self, venv: Path, npz: Path, threads: int, log: Path):
        env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
        env.pop("PYTHONPATH", None)
        self.log = log
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "python"), str(Path(__file__).with_name("devinterp_worker.py")), str(npz)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),  # devinterp's progress bars
            text=True,
            env=env,
        )
        self.ready = self._reply()

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"devinterp worker exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
        return json.loads(line)

    def run(self, seed: int) -> dict:
        self.proc.stdin.write(f"run {seed}\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def ours(problem, settings: dict, steps: int):
    """``(run, posterior, s)``: ``run(seed)`` runs our SGLD chains once (``run_chains``,
    no burn-in) and returns the run's figures; ``s`` the SGLD settings."""
    import jax

    from llcbench.llc import estimate
    from llcbench.samplers import instantiate
    from llcbench.samplers.driver import run_chains

    s = {**settings["samplers"]["sgld"], "steps": steps, "burn_in": 0}
    posterior = problem.posterior({**problem.runs["sgld"], "sampler_settings": s})
    spec, algorithm = instantiate("sgld", s)

    def run(seed: int) -> dict:
        trace = run_chains(
            "sgld",
            algorithm,
            spec,
            posterior,
            jax.random.key(seed),
            chains=s["chains"],
            steps=s["steps"],
            burn_in=0,
            eval_every=s["eval_every"],
            loss_star=problem.L0,
            projection_seed=seed,
        )
        est = estimate(trace.loss, problem.L0, posterior.nbeta)
        per_chain = [estimate(trace.loss[c : c + 1], problem.L0, posterior.nbeta).llc for c in range(s["chains"])]
        return {
            "seed": seed,
            "seconds": trace.sampling_seconds,
            "compile_seconds": trace.compile_seconds,
            "grads": trace.grads_sampling * posterior.n / s["batch_size"],
            "chain_steps": s["chains"] * trace.steps_run,
            "llc": est.llc,
            "llc_se": est.llc_se,
            "llc_per_chain": per_chain,
            "ess": est.ess,
            "rhat": est.rhat,
            "chains_diverged": est.chains_diverged,
        }

    return run, posterior, s


def theirs(reply: dict, nbeta: float) -> dict:
    """The figures of one devinterp worker ``reply``, λ̂'s SE by the project's estimator on
    its minibatch-loss trace. Raises when a chain failed (its trace would be cut short)."""
    import numpy as np

    from llcbench.llc import estimate

    if reply["failed_chains"]:
        raise RuntimeError(f"devinterp: {reply['failed_chains']}")
    est = estimate(np.asarray(reply["loss_trace"]), reply["init_loss"], nbeta)
    steps = reply["chains"] * reply["steps"]
    return {
        "seed": reply["seed"],
        "seconds": sum(reply["chain_seconds"]),
        "total_seconds": reply["seconds"],
        "chain_seconds": reply["chain_seconds"],
        "grads": steps,  # one minibatch gradient per step
        "chain_steps": steps,
        "llc": reply["llc_mean"],
        "llc_se": est.llc_se,
        "llc_estimator_check": est.llc,  # the project's estimator on devinterp's trace: = llc_mean
        "llc_per_chain": reply["llc_per_chain"],
        "ess": est.ess,
        "rhat": est.rhat,
        "init_loss": reply["init_loss"],
    }


def spread(values: list[float]) -> dict:
    """median, min, max of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def tool_summary(runs: list[dict]) -> dict:
    """One tool's figures over its runs: rates, λ̂ (mean over runs) with its SEs, WNVs."""
    k = len(runs)
    llcs = [r["llc"] for r in runs]
    seconds = [r["seconds"] for r in runs]
    out = {
        "runs": k,
        "grads_per_s": [r["grads"] / r["seconds"] for r in runs],
        "chain_steps_per_s": [r["chain_steps"] / r["seconds"] for r in runs],
        "seconds": spread(seconds),
        "llc": statistics.fmean(llcs),
        "llc_se_mcse": math.sqrt(sum(r["llc_se"] ** 2 for r in runs)) / k,  # of the mean over runs
        "llc_sd_between_runs": statistics.stdev(llcs) if k > 1 else math.nan,
        "wnv_mcse": statistics.median(r["llc_se"] ** 2 * r["seconds"] for r in runs),  # one run's variance x its seconds
    }
    out["grads_per_s_spread"] = spread(out["grads_per_s"])
    out["llc_se_spread"] = out["llc_sd_between_runs"] / math.sqrt(k)
    out["llc_se"] = max(out["llc_se_mcse"], out["llc_se_spread"]) if k > 1 else out["llc_se_mcse"]
    out["wnv_spread"] = out["llc_sd_between_runs"] ** 2 * statistics.median(seconds) if k > 1 else math.nan
    return out


def summarise(ours_runs: list[dict], their_runs: list[dict]) -> dict:
    """Both tools' ``tool_summary`` and the comparison: our rate over devinterp's in each
    alternating pair (run i of each), the LLCs' agreement, WNV ratios (devinterp's over
    ours: above 1, ours reaches a given accuracy that many times sooner)."""
    if len(ours_runs) != len(their_runs) or not ours_runs:
        raise ValueError("summarise: one devinterp run per run of ours, at least one")
    a, b = tool_summary(ours_runs), tool_summary(their_runs)
    grad_ratios = [x / y for x, y in zip(a["grads_per_s"], b["grads_per_s"])]
    step_ratios = [x / y for x, y in zip(a["chain_steps_per_s"], b["chain_steps_per_s"])]
    z = (a["llc"] - b["llc"]) / math.hypot(a["llc_se"], b["llc_se"])
    ratio = statistics.median(grad_ratios)
    return {
        "ours": a,
        "devinterp": b,
        "grads_per_s_ratio": grad_ratios,
        "grads_per_s_ratio_spread": spread(grad_ratios),
        "chain_steps_per_s_ratio": step_ratios,
        "chain_steps_per_s_ratio_spread": spread(step_ratios),
        "llc_difference": a["llc"] - b["llc"],
        "llc_z": z,
        "llcs_agree": bool(abs(z) <= AGREE_Z),
        "wnv_mcse_ratio": b["wnv_mcse"] / a["wnv_mcse"],
        "wnv_spread_ratio": b["wnv_spread"] / a["wnv_spread"] if len(ours_runs) > 1 else math.nan,
        "goal": {"grads_per_s_ratio": GOAL_RATIO, "measured": ratio, "met": bool(ratio >= GOAL_RATIO)},
    }


def rows(summary: dict) -> list[dict]:
    """The printed table's rows: devinterp is the baseline (ratio 1)."""
    out = []
    for label, key in ((OURS, "ours"), (THEIRS, "devinterp")):
        t = summary[key]
        ratio = summary["grads_per_s_ratio_spread"] if key == "ours" else {"median": 1.0, "min": 1.0, "max": 1.0}
        out.append(
            {
                "label": label,
                "grads_per_s": ", ".join(f"{v:.0f}" for v in t["grads_per_s"]),
                "ratio": f"{ratio['median']:.2f} [{ratio['min']:.2f}-{ratio['max']:.2f}]",
                "seconds": t["seconds"]["median"],
                "llc": f"{t['llc']:.2f} ± {t['llc_se']:.2f}",
                "wnv_mcse": t["wnv_mcse"],
                "wnv_spread": t["wnv_spread"],
            }
        )
    return out


def main() -> None:
    def add(ap):
        ap.add_argument("--repeats", type=int, default=3, help="runs of each tool, alternating (default 3)")
        ap.add_argument("--steps", type=int, default=STEPS, help=f"steps per chain (default {STEPS})")
        ap.add_argument("--venv", type=Path, default=default_venv(), help="devinterp's virtual environment (made if missing)")
        ap.add_argument("--venv-python", default=sys.executable, help="interpreter to make it from (default: this one)")
        ap.add_argument("--torch", default=TORCH, help=f"torch version pip installs there (default {TORCH})")

    args = benchlib.parse_args("vs_devinterp", __doc__, add)
    versions = ensure_venv(args.venv.expanduser(), args.venv_python, args.torch)
    import jax
    import numpy as np

    steps = max(40, args.steps // 10) if args.tiny else args.steps
    repeats = min(args.repeats, 2) if args.tiny else args.repeats
    settings = benchlib.experiment({**(TINY if args.tiny else {}), "run_samplers": ["sgld"]})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        problem = benchlib.Problem(settings, tmp)
        run_ours, posterior, s = ours(problem, settings, steps)
        loss_star = float(jax.jit(posterior.loss)(posterior.w_star))
        np.savez(
            tmp / "problem.npz",
            x=np.asarray(posterior.x, np.float32),
            y=np.asarray(posterior.y, np.float32),
            w_star=np.asarray(posterior.w_star, np.float32),
            layer_sizes=np.asarray(problem.layer_sizes),
            settings=json.dumps(
                {
                    "activation": settings["model"]["activation"],
                    "bias": settings["model"]["bias"],
                    "loss": settings["loss"]["kind"],
                    "n_beta": posterior.nbeta,
                    "lr": 2 * s["step_size"],  # devinterp's lr = 2h (../shared/devinterp.md)
                    "gamma": posterior.gamma,
                    "chains": s["chains"],
                    "steps": steps,
                    "batch_size": s["batch_size"],
                    "threads": args.threads,
                }
            ),
        )
        worker = Worker(args.venv.expanduser(), tmp / "problem.npz", args.threads, tmp / "worker.log")
        try:
            pred = np.asarray(posterior.data_loss.apply(posterior.w_star, posterior.x), np.float64).ravel()
            pred_rel = float(np.max(np.abs(np.asarray(worker.ready.pop("pred")) - pred)) / np.max(np.abs(pred)))
            print(
                f"L_n(w*): JAX {loss_star:.7g}, torch {worker.ready['loss_star']:.7g}; "
                f"f(x; w*): largest difference {pred_rel:.1e} of the largest |f|",
                flush=True,
            )
            if not pred_rel <= PRED_RTOL:
                raise SystemExit(
                    f"vs_devinterp: the torch model's predictions at w* are off by {pred_rel:.1e} (> {PRED_RTOL}): not the same weights"
                )
            run_ours(10**6)  # warm-up, as the worker's
            ours_runs, their_runs = [], []
            for i in range(repeats):
                seed = 100 + SEED_STRIDE * i
                load = os.getloadavg()[0]  # other processes' load bends both tools' times: recorded with each run
                ours_runs.append({**run_ours(seed), "load_before": load})
                print(f"run {i + 1}/{repeats}: ours {ours_runs[-1]['seconds']:.1f} s, λ̂ {ours_runs[-1]['llc']:.2f}", flush=True)
                load = os.getloadavg()[0]
                their_runs.append({**theirs(worker.run(seed), posterior.nbeta), "load_before": load})
                print(f"run {i + 1}/{repeats}: devinterp {their_runs[-1]['seconds']:.1f} s, λ̂ {their_runs[-1]['llc']:.2f}", flush=True)
        finally:
            worker.close()
    summary = summarise(ours_runs, their_runs)
    n, b, chains = posterior.n, s["batch_size"], s["chains"]
    print(
        f"\nlayer sizes {problem.layer_sizes}, d = {posterior.d}, n = {n}, {chains} chains x {steps} steps, b = {b}, "
        f"h = {s['step_size']:g} (devinterp lr {2 * s['step_size']:g}), gamma = {posterior.gamma:g}, nbeta = {posterior.nbeta:.4g}, "
        f"{args.threads} threads; {repeats} alternating runs each; torch {versions['torch']}, devinterp {versions['devinterp']}"
    )
    print(
        benchlib.table(
            rows(summary),
            [
                ("label", "tool", "s"),
                ("grads_per_s", "minibatch grads/s (each run)", "s"),
                ("ratio", "x devinterp [min-max]", "s"),
                ("seconds", "s per run", ".1f"),
                ("llc", "LLC ± SE", "s"),
                ("wnv_mcse", "WNV (MCSE²·s)", ".3g"),
                ("wnv_spread", "WNV (var across runs·s)", ".3g"),
            ],
        )
    )
    loads = [r["load_before"] for r in ours_runs + their_runs]
    print(
        f"1-minute load average before the runs: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores (other processes slow both tools)"
    )
    st = summary["chain_steps_per_s_ratio_spread"]
    print(f"chain steps/s: ours / devinterp {st['median']:.2f} [{st['min']:.2f}-{st['max']:.2f}]")
    print(
        f"LLCs: difference {summary['llc_difference']:+.2f} = {summary['llc_z']:+.2f} combined SEs -> {'agree' if summary['llcs_agree'] else 'DISAGREE'}"
    )
    print(f"WNV devinterp / ours: {summary['wnv_mcse_ratio']:.3g} (MCSE), {summary['wnv_spread_ratio']:.3g} (spread across runs)")
    g = summary["goal"]
    print(f"goal grads/s ratio >= {g['grads_per_s_ratio']:g}: measured {g['measured']:.3g} -> {'met' if g['met'] else 'NOT met'}")
    benchlib.write_json(
        {
            "benchmark": "vs_devinterp",
            "tiny": args.tiny,
            "repeats": repeats,
            "machine": benchlib.machine(),
            "devinterp_env": {**versions, "venv": str(args.venv), "bytes": folder_bytes(args.venv.expanduser())},
            "problem": {
                "layer_sizes": problem.layer_sizes,
                "d": posterior.d,
                "n": n,
                "chains": chains,
                "steps": steps,
                "batch_size": b,
                "step_size_h": s["step_size"],
                "devinterp_lr": 2 * s["step_size"],
                "gamma": posterior.gamma,
                "nbeta": posterior.nbeta,
                "eval_every": s["eval_every"],
                "threads": args.threads,
                "loss_star_jax": loss_star,
                "loss_star_torch": worker.ready["loss_star"],
                "pred_max_rel_difference": pred_rel,
            },
            "runs": {"ours": ours_runs, "devinterp": their_runs},
            "summary": summary,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
