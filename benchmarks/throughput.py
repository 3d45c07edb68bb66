"""Throughput: gradient evaluations per second of each sampler on the default
experiment (config/config.yaml: ReLU MLP 32-62-62-62-1, d = 9921, n = 4096,
4 chains, SGLD b = 256), compiled chain loop only (no compile, no tuning), with
every figure also given as a ratio against a baseline measured in the same run:

- roofline: jitted dense matmuls (n, h)·(h, h), h the widest hidden layer, in
  the sampler's dtype (FLOP/s; 200 chained in one loop, nothing else). A
  sampler's gradients reach FDE gradients/s × n × FLOPs of one row's gradient
  (forward + backward = 3 × the forward matmuls). The vmapped full-batch
  gradient can pass 1.0: its first layer, shared input x times the 4 chains'
  weights, is one (n, 32)·(32, 4h) matmul, larger than the roofline's;
- naive loop: our SGLD step, jitted and vmapped over the chains, driven by a
  Python loop with a host sync every step and each draw's L_n fetched with
  float() (what the original tool did); also one chain after the other;
- our SGLD under JAX's default (partitionable) threefry layout, which the chain loop
  replaces with the non-partitionable one (samplers/driver.py, "Random numbers");
- plain BlackJAX SGLD: ``blackjax.sgld`` with BlackJAX's per-row gradient
  estimator and gathered minibatches, chains vmapped in one ``lax.scan``, L_n
  every ``eval_every`` steps (the hot path before this benchmark existed).

Chains are shortened (tuning budgets too); the cost per gradient does not depend
on chain length. Gradients are full-data-equivalent (FDE: a minibatch gradient
of b rows counts b/n), record-step extras included.

    uv run python benchmarks/throughput.py [--tiny] [--repeats 5] [--out results/benchmarks/throughput.json]
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import benchlib

# (label, sampler, setting overrides) -- shortened chains, smaller tuning budgets
RUNS = [
    ("sgld", "sgld", {"steps": 2000}),
    ("sgld rmsprop", "sgld", {"steps": 2000, "precond": "rmsprop"}),
    ("sgnht", "sgnht", {"steps": 2000}),
    ("sghmc", "sghmc", {"steps": 50}),
    ("hmc", "hmc", {"steps": 30, "adapt_steps": 100}),
    ("mclmc", "mclmc", {"steps": 200, "tune_steps": 500}),
    ("adjusted_mclmc", "adjusted_mclmc", {"steps": 30, "tune_steps": 500}),
]
TINY = {"data": {"n": 512}, "model": {"depth": 2, "target_params": 300}, "training": {"steps": 200}}
TINY_RUNS = ("sgld", "hmc")  # what the summary needs
NAIVE, NAIVE_ONE = "baseline: naive loop, chains vmapped", "baseline: naive loop, one chain at a time"
DEFAULT_RNG = "baseline: our SGLD, JAX's default threefry layout"
PLAIN = "baseline: plain BlackJAX SGLD, lax.scan"
GOALS = {"sgld_minibatch_grads_per_s": 3000.0, "full_batch_roofline_fraction": 0.5, "speedup_vs_naive": 20.0}


def matmul_run(m: int, k: int, dtype: str, reps: int = 200):
    """``(run, flops)``: ``run()`` times ``reps`` chained jitted matmuls
    c ← c·Q, c of shape (m, k), Q a (k, k) orthogonal matrix (values stay
    bounded, nothing but the matmuls runs), compiled before."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", dtype == "float64")
    q = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (k, k), dtype))[0]
    c = jax.random.normal(jax.random.key(1), (m, k), dtype)
    f = jax.jit(lambda c, q: jax.lax.fori_loop(0, reps, lambda i, c: c @ q, c))
    f(c, q).block_until_ready()

    def run():
        jax.config.update("jax_enable_x64", dtype == "float64")
        return timed(lambda: f(c, q).block_until_ready())

    return run, 2 * m * k * k * reps


def timed(fn) -> float:
    """Wall seconds of ``fn()`` (which must block until its work is done)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def full_batch_run(posterior, chains: int, iters: int):
    """``run()`` timing ``iters`` vmapped full-batch gradients of every chain in a ``lax.scan``."""
    import jax
    import jax.numpy as jnp

    grad = jax.vmap(jax.grad(posterior.loss))
    f = jax.jit(lambda w: jax.lax.scan(lambda w, _: (w - 1e-9 * grad(w), None), w, None, length=iters)[0])
    w = jnp.broadcast_to(posterior.w_star, (chains, posterior.d))
    f(w).block_until_ready()
    return lambda: timed(lambda: f(w).block_until_ready())


def plain_blackjax_run(posterior, s: dict):
    """``run()`` timing BlackJAX's SGLD as commonly written (see module doc)."""
    import blackjax
    import jax

    chains, b, n = s["chains"], s["batch_size"], posterior.n
    kernel = blackjax.sgld(blackjax.sgmcmc.gradients.grad_estimator(posterior.log_prior, posterior.loglikelihood_row, n))

    def one(key, w):
        k_batch, k_noise = jax.random.split(key)
        idx = jax.random.randint(k_batch, (b,), 0, n)
        return kernel.step(k_noise, w, (posterior.x[idx], posterior.y[idx]), s["step_size"])

    def window(w, key):
        w, _ = jax.lax.scan(lambda w, k: (jax.vmap(one)(jax.random.split(k, chains), w), None), w, jax.random.split(key, s["eval_every"]))
        return w, jax.vmap(posterior.loss)(w)

    f = jax.jit(lambda w, key: jax.lax.scan(window, w, jax.random.split(key, s["steps"] // s["eval_every"])))
    w = jax.numpy.broadcast_to(posterior.w_star, (chains, posterior.d))
    jax.block_until_ready(f(w, jax.random.key(0)))
    return lambda: timed(lambda: jax.block_until_ready(f(w, jax.random.key(1))))


def naive_run(algorithm, states, posterior, s: dict, steps: int, vmapped: bool):
    """``(run, grads_fde)``: ``run()`` times our SGLD step driven from Python:
    one jitted call per step (all chains vmapped, or one chain after the other),
    a host sync after each, and float() of each draw's full-batch L_n. The
    posterior is an argument of each jitted call, as in the driver. ``grads_fde``:
    the FDE gradients of one ``run()``, the sum of its steps' ``info.grads``."""
    import jax
    import numpy as np

    chains = s["chains"]

    def one_step(record):
        if vmapped:
            return jax.jit(lambda k, st, p: jax.vmap(lambda k, st: algorithm.step(k, st, p, record))(k, st))
        return jax.jit(lambda k, st, p: algorithm.step(k, st, p, record))

    plain, record = one_step(False), one_step(True)
    loss = jax.jit(lambda p, w: p.loss(w))
    groups = [states] if vmapped else [jax.tree.map(lambda a, c=c: a[c], states) for c in range(chains)]

    def loop():
        key, losses, grads = jax.random.key(1), [], []
        for state in groups:
            for t in range(1, steps + 1):
                key, sub = jax.random.split(key)
                sub = jax.random.split(sub, chains) if vmapped else sub
                state, info = (record if t % s["eval_every"] == 0 else plain)(sub, state, posterior)
                jax.block_until_ready(state)
                grads.append(info.grads)
                if t % s["eval_every"] == 0:
                    w = state.position
                    losses += [float(loss(posterior, v)) for v in (w if vmapped else [w])]
        return losses, grads

    _, grads = loop()  # compile
    return (lambda: timed(loop)), float(sum(np.sum(np.asarray(g, np.float64)) for g in grads))


def main() -> None:
    args = benchlib.parse_args("throughput", __doc__, lambda ap: ap.add_argument("--repeats", type=int, default=5))
    import jax

    from llcbench.samplers import instantiate
    from llcbench.samplers.driver import start_chains

    repeats = 1 if args.tiny else args.repeats
    runs = [r for r in RUNS if not args.tiny or r[0] in TINY_RUNS]
    settings = benchlib.experiment({**(TINY if args.tiny else {}), "run_samplers": sorted({r[1] for r in runs})})
    scale = 0.05 if args.tiny else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        problem = benchlib.Problem(settings, Path(tmp))
    sizes, n, h = problem.layer_sizes, settings["data"]["n"], max(problem.layer_sizes[1:-1])
    row_flops = benchlib.flops_per_row_grad(sizes)
    # Every measurement is set up (tuned, compiled) first, then all are timed in
    # interleaved rounds, so a change in the machine's load hits all of them alike.
    bench, roofline_runs = [], {}
    for label, name, over in runs:
        s = {**settings["samplers"][name], **over, "burn_in": 0}
        s["steps"] = max(2 * s["eval_every"], int(s["steps"] * scale))
        s.update({k: max(20, int(s[k] * scale)) for k in ("adapt_steps", "tune_steps") if k in s})
        posterior = problem.posterior({**problem.runs[name], "sampler_settings": s})
        run, info = benchlib.sampler_run(name, s, posterior, loss_star=problem.L0)
        info.update(label=label, batch_size=s.get("batch_size"))  # updated in place by run(): keep the dict
        bench.append((run, info))
        roofline_runs.setdefault(info["dtype"], matmul_run(n, h, info["dtype"]))
        if label == "sgld":
            sgld_s, sgld_post = s, posterior
            run, info = benchlib.sampler_run(name, s, posterior, loss_star=problem.L0, default_threefry=True)
            info.update(label=DEFAULT_RNG, batch_size=s.get("batch_size"))
            bench.append((run, info))
    jax.config.update("jax_enable_x64", False)
    chains, b = sgld_s["chains"], sgld_s["batch_size"]
    _, algorithm = instantiate("sgld", sgld_s)
    states = start_chains("sgld", algorithm, sgld_post, jax.random.key(0), chains)[0]
    naive_steps = max(2 * sgld_s["eval_every"], sgld_s["steps"] // 4)
    fde = b / n
    naive, naive_grads = naive_run(algorithm, states, sgld_post, sgld_s, naive_steps, vmapped=True)
    naive_one, naive_one_grads = naive_run(algorithm, states, sgld_post, sgld_s, naive_steps // 2, vmapped=False)
    iters = 10 if args.tiny else 100
    common = {"dtype": "float32", "chains": chains}  # with "steps" (per chain): what each baseline's gradients count
    bench += [
        (naive, {"label": NAIVE, **common, "grads_fde": naive_grads, "batch_size": b, "steps": naive_steps}),
        (naive_one, {"label": NAIVE_ONE, **common, "grads_fde": naive_one_grads, "batch_size": b, "steps": naive_steps // 2}),
        (
            plain_blackjax_run(sgld_post, sgld_s),
            {"label": PLAIN, **common, "grads_fde": chains * sgld_s["steps"] * fde, "batch_size": b, "steps": sgld_s["steps"]},
        ),
        (
            full_batch_run(sgld_post, chains, iters),
            {"label": "reference: bare full-batch gradient, lax.scan", **common, "grads_fde": chains * iters, "steps": iters},
        ),
    ]
    best = [math.inf] * len(bench)
    roof_best = {k: math.inf for k in roofline_runs}
    for _ in range(repeats):
        for dtype, (run, _) in roofline_runs.items():
            roof_best[dtype] = min(roof_best[dtype], run())
        for i, (run, info) in enumerate(bench):
            jax.config.update("jax_enable_x64", info["dtype"] == "float64")  # as when it was compiled
            best[i] = min(best[i], run())
    roofline = {k: roofline_runs[k][1] / roof_best[k] for k in roofline_runs}
    rows = [
        benchlib.rates({k: v for k, v in info.items() if k != "runs"}, t)
        if "draws" in info
        else {**info, "seconds": t, "grads_fde_per_s": info["grads_fde"] / t}
        for (_, info), t in zip(bench, best)
    ]
    by = {r["label"]: r for r in rows}
    for r in rows:
        if r.get("batch_size"):
            r["minibatch_grads_per_s"] = r["grads_fde_per_s"] * n / r["batch_size"]
        r["gflops"] = r["grads_fde_per_s"] * n * row_flops / 1e9
        r["roofline_fraction"] = r["gflops"] * 1e9 / roofline[r["dtype"]]
        if r["label"].startswith(("sgld", "baseline")):
            r["vs_naive"] = r["grads_fde_per_s"] / by[NAIVE]["grads_fde_per_s"]
            r["vs_plain_blackjax"] = r["grads_fde_per_s"] / by[PLAIN]["grads_fde_per_s"]
    summary = {
        "sgld_minibatch_grads_per_s": by["sgld"]["minibatch_grads_per_s"],
        "full_batch_roofline_fraction": by["hmc"]["roofline_fraction"],
        "speedup_vs_naive": by["sgld"]["vs_naive"],
        "speedup_vs_naive_one_chain_at_a_time": by["sgld"]["grads_fde_per_s"] / by[NAIVE_ONE]["grads_fde_per_s"],
        "speedup_vs_plain_blackjax": by["sgld"]["vs_plain_blackjax"],
        "speedup_vs_default_threefry_layout": by["sgld"]["grads_fde_per_s"] / by[DEFAULT_RNG]["grads_fde_per_s"],
    }
    summary["goals"] = {k: {"goal": g, "measured": summary[k], "met": bool(summary[k] >= g)} for k, g in GOALS.items()}
    print(
        f"\nlayer sizes {sizes}, d = {problem.erm.attrs['d']}, n = {n}, {chains} chains, SGLD b = {b}; "
        f"best of {repeats} interleaved rounds; roofline ({n}x{h} @ {h}x{h} matmul) "
        + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in roofline.items())
    )
    print(
        benchlib.table(
            rows,
            [
                ("label", "sampler / baseline", "s"),
                ("dtype", "dtype", "s"),
                ("grads_fde_per_s", "FDE grads/s", ".1f"),
                ("minibatch_grads_per_s", "minibatch grads/s", ".0f"),
                ("gflops", "GFLOP/s", ".1f"),
                ("roofline_fraction", "of roofline", ".2f"),
                ("vs_naive", "x naive", ".2f"),
                ("vs_plain_blackjax", "x BlackJAX", ".2f"),
                ("compile_seconds", "compile s", ".1f"),
            ],
        )
    )
    for k, g in summary["goals"].items():
        print(f"goal {k} >= {g['goal']:g}: measured {g['measured']:.3g} -> {'met' if g['met'] else 'NOT met'}")
    benchlib.write_json(
        {
            "benchmark": "throughput",
            "tiny": args.tiny,
            "repeats": repeats,
            "machine": benchlib.machine(),
            "problem": {
                "layer_sizes": sizes,
                "d": int(problem.erm.attrs["d"]),
                "n": n,
                "chains": chains,
                "batch_size": b,
                "flops_per_row_grad": row_flops,
            },
            "roofline_flops": roofline,
            "rows": rows,
            "summary": summary,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
