"""Cost of a full-data L_n pass (forward only) relative to a full-data gradient.

The chain loop evaluates L_n on the full data at every draw; the cost accounting
(``llcbench.samplers.driver.LOSS_PASS_FDE``) counts such a pass as a fixed fraction
of a full-data gradient. This measures that fraction: per experiment and dtype, the
seconds of ``vmap(L_n)`` over the chains against ``vmap(value_and_grad(log π))`` (what
HMC's and MCLMC's integrators call), each inside one jitted ``lax.scan`` as in the
chain loop (no dispatch per pass), best of ``--rounds`` interleaved rounds.

    uv run python benchmarks/forward_cost.py            # default experiment and the quick preset
"""

from __future__ import annotations

import time

from benchlib import experiment, machine, parse_args, table, write_json

CASES = {"default": None, "quick": "config/presets/quick.yaml", "tiny": "tests/configs/tiny.yaml"}


def posterior_of(settings: dict, dtype: str):
    """The run's posterior, centred at the model's random init (the cost of a pass does not
    depend on where it is evaluated): the workflow's own data, no training."""
    import jax

    from llcbench import model
    from llcbench.data import make_dataset
    from llcbench.posterior import LocalPosterior, empirical_loss, inverse_temperature, localization

    jax.config.update("jax_enable_x64", dtype == "float64")
    data = make_dataset(settings["seed"], settings["data"])
    m = settings["model"]
    sizes = model.layer_sizes(settings["data"]["in_dim"], settings["data"]["out_dim"], m["depth"], m["widths"], m["target_params"])
    w = model.init_params(jax.random.key(0), sizes, dtype, m["bias"])
    p = settings["posterior"]
    return LocalPosterior(
        data_loss=empirical_loss({**settings, "layer_sizes": sizes}, data.x, data.y, dtype),
        w_star=w,
        beta=inverse_temperature(data.x.shape[0], p["beta0"], p["beta"]),
        gamma=localization(w.shape[0], p["gamma"], p["prior_radius"]),
    )


def timers(post, chains: int, reps: int):
    """``(forward, gradient)``: jitted functions running ``reps`` passes over ``chains`` chains."""
    import jax
    import jax.numpy as jnp

    ws = jnp.tile(post.w_star, (chains, 1))

    def forward(ws, post):
        def body(w, _):
            loss = jax.vmap(post.loss)(w)
            return w + 1e-12 * loss[:, None], None  # a data dependence, so no pass is hoisted

        return jax.lax.scan(body, ws, None, length=reps)[0]

    def gradient(ws, post):
        def body(w, _):
            v, g = jax.vmap(jax.value_and_grad(post.logdensity))(w)
            return w + 1e-12 * (g + v[:, None]), None

        return jax.lax.scan(body, ws, None, length=reps)[0]

    return [jax.jit(f).lower(ws, post).compile() for f in (forward, gradient)], ws


def measure(name: str, preset: str | None, dtype: str, chains: int, reps: int, rounds: int) -> dict:
    import jax

    settings = experiment(preset=preset)
    post = posterior_of(settings, dtype)
    (fwd, grad), ws = timers(post, chains, reps)
    best = {"forward": float("inf"), "gradient": float("inf")}
    for _ in range(rounds):
        for label, f in (("forward", fwd), ("gradient", grad)):
            t0 = time.perf_counter()
            jax.block_until_ready(f(ws, post))
            best[label] = min(best[label], (time.perf_counter() - t0) / reps)
    return {
        "case": name,
        "dtype": dtype,
        "d": post.d,
        "n": post.n,
        "chains": chains,
        "forward_ms": 1e3 * best["forward"],
        "gradient_ms": 1e3 * best["gradient"],
        "ratio": best["forward"] / best["gradient"],
    }


def main():
    args = parse_args("forward_cost", __doc__, lambda ap: ap.add_argument("--rounds", type=int, default=5))
    cases = {"tiny": CASES["tiny"]} if args.tiny else CASES
    reps = 5 if args.tiny else 200
    rows = [measure(name, preset, dtype, 4, reps, args.rounds) for name, preset in cases.items() for dtype in ("float32", "float64")]
    print(
        table(
            rows,
            [
                ("case", "case", ""),
                ("dtype", "dtype", ""),
                ("d", "d", ""),
                ("n", "n", ""),
                ("forward_ms", "L_n pass ms", ".3f"),
                ("gradient_ms", "gradient ms", ".3f"),
                ("ratio", "ratio", ".3f"),
            ],
        )
    )
    write_json({"machine": machine(), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
