"""Scaling: how a sampler's cost grows with the parameter count d and the data
size n. Seconds of compiled sampling per full-data-equivalent (FDE) gradient
and per draw (all chains advance together), for d ≈ 1k, 10k, 100k at n = 4096
and for n = 1k … 64k at d ≈ 10k (one axis at a time; ``--grid`` for every
pair), each sampler at its default settings except short chains and small
tuning budgets (HMC 10 adaptation steps, MCLMC 100 tuning steps). The default
experiment's architecture (depth 3, in_dim 32, ReLU) sets d via
``model.target_params``; w* is a short ERM run (cost does not depend on it).

Each run's length is set so its gradients cost about ``--flops`` matmul FLOPs
(at least two draws). Writes a table, JSON and a log-log plot (PNG beside the
JSON).

    uv run python benchmarks/scaling.py [--tiny] [--grid] [--samplers sgld hmc mclmc] [--out results/benchmarks/scaling.json]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import benchlib

D_VALUES, N_VALUES, D_BASE, N_BASE = (1_000, 10_000, 100_000), (1024, 4096, 16384, 65536), 10_000, 4096
TINY_D, TINY_N = (100, 300), (256, 512)
TUNING = {"hmc": {"adapt_steps": 10}, "mclmc": {"tune_steps": 100}, "adjusted_mclmc": {"tune_steps": 100}}


def points(d_values, n_values, d_base, n_base, grid: bool) -> list[tuple[int, int]]:
    """(target d, n) pairs: every pair with ``grid``, else each axis through the base point."""
    if grid:
        return [(d, n) for d in d_values for n in n_values]
    return list(dict.fromkeys([(d, n_base) for d in d_values] + [(d_base, n) for n in n_values]))


def steps_for(s: dict, flops_per_step: float, budget: float, max_steps: int) -> int:
    """Chain length whose gradients cost about ``budget`` FLOPs, a multiple of
    ``eval_every``, at least two draws and at most ``max_steps``."""
    e = s["eval_every"]
    return int(min(max_steps, max(2 * e, budget / flops_per_step)) // e * e)


def plot(rows: list[dict], path: str, d_base: int, n_base: int) -> None:
    """Log-log panels: s per FDE gradient and s per draw, against d and against n."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    for col, (axis, fixed, fixed_value, label) in enumerate((("d", "n", n_base, "parameters d"), ("n", "d_target", d_base, "data size n"))):
        for row, (metric, ylabel) in enumerate(
            (("seconds_per_grad_fde", "s per FDE gradient"), ("seconds_per_draw", "s per draw (all chains)"))
        ):
            ax = axes[row, col]
            for sampler in dict.fromkeys(r["sampler"] for r in rows):
                pts = sorted((r[axis], r[metric]) for r in rows if r["sampler"] == sampler and r[fixed] == fixed_value and r.get(metric))
                if pts:
                    ax.plot(*zip(*pts), "o-", label=sampler)
            ax.set(
                xscale="log",
                yscale="log",
                xlabel=label,
                ylabel=ylabel,
                title=f"{fixed.split('_')[0]} = {fixed_value}" + (" (target)" if fixed == "d_target" else ""),
            )
            ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    def add(ap):
        ap.add_argument("--samplers", nargs="+", help="default: sgld hmc mclmc (sgld with --tiny)")
        ap.add_argument("--grid", action="store_true", help="every (d, n) pair instead of one axis at a time")
        ap.add_argument("--flops", type=float, default=2e11, help="matmul FLOPs of sampling per run")

    args = benchlib.parse_args("scaling", __doc__, add)
    from llcbench.samplers.driver import DegenerateTuning

    samplers = args.samplers or (["sgld"] if args.tiny else ["sgld", "hmc", "mclmc"])
    d_values, n_values = (TINY_D, TINY_N) if args.tiny else (D_VALUES, N_VALUES)
    d_base, n_base = (d_values[0], n_values[0]) if args.tiny else (D_BASE, N_BASE)
    budget, max_steps = (2e7, 200) if args.tiny else (args.flops, 20_000)
    rows = []
    for d_target, n in points(d_values, n_values, d_base, n_base, args.grid):
        settings = benchlib.experiment(
            {
                "data": {"n": n},
                "model": {"target_params": d_target},
                "training": {"steps": 50 if args.tiny else 200},
                "run_samplers": samplers,
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            problem = benchlib.Problem(settings, Path(tmp))
        row_flops = benchlib.flops_per_row_grad(problem.layer_sizes)
        for name in samplers:
            s = {**settings["samplers"][name], **TUNING.get(name, {}), "burn_in": 0}
            if args.tiny:
                s.update({k: 20 for k in ("adapt_steps", "tune_steps") if k in s})
            fde_flops = s["chains"] * n * row_flops  # FLOPs of one FDE gradient in every chain

            def fit(grads_per_step, s=s, f=fde_flops):
                return steps_for(s, f * grads_per_step, budget, max_steps)

            posterior = problem.posterior({**problem.runs[name], "sampler_settings": s})
            base = {"d_target": d_target, "d": posterior.d, "n": n, "layer_sizes": problem.layer_sizes}
            try:
                r = benchlib.time_sampler(name, s, posterior, loss_star=problem.L0, repeats=1, steps_for=fit)
            except DegenerateTuning as err:  # a point the short tuning could not handle: recorded, not fatal
                rows.append({**base, "sampler": name, "error": str(err).splitlines()[0]})
                continue
            r["gflops"] = r["grads_fde_per_s"] * n * row_flops / 1e9
            rows.append({**base, **r})
            print(f"d={posterior.d} n={n} {name}: {r['seconds_per_grad_fde'] * 1e3:.3f} ms/FDE grad", flush=True)
    png = str(Path(args.out).with_suffix(".png"))
    plot([r for r in rows if "error" not in r], png, d_base, n_base)
    print(
        benchlib.table(
            rows,
            [
                ("sampler", "sampler", "s"),
                ("dtype", "dtype", "s"),
                ("d", "d", "d"),
                ("n", "n", "d"),
                ("steps", "steps", "d"),
                ("seconds", "sampling s", ".2f"),
                ("seconds_per_grad_fde", "s / FDE grad", ".2e"),
                ("seconds_per_draw", "s / draw", ".2e"),
                ("gflops", "GFLOP/s", ".1f"),
                ("compile_seconds", "compile s", ".1f"),
                ("tuning_seconds", "tuning s", ".1f"),
            ],
        )
    )
    benchlib.write_json(
        {
            "benchmark": "scaling",
            "tiny": args.tiny,
            "grid": args.grid,
            "machine": benchlib.machine(),
            "flops_budget": budget,
            "plot": png,
            "rows": rows,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
