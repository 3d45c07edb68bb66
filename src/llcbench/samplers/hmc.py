"""HMC (BlackJAX ``hmc``) on the full-batch posterior, step size and diagonal
inverse mass matrix tuned per chain by ``blackjax.window_adaptation``."""

from __future__ import annotations

import time

import blackjax
import jax
import jax.numpy as jnp
import numpy as np

from llcbench.posterior import LocalPosterior
from llcbench.samplers.driver import Prepared, mass_summary, reject_degenerate_tuning


def prepare(posterior: LocalPosterior, settings: dict, key, chains: int) -> Prepared:
    """Window adaptation for ``adapt_steps`` steps from w* in each chain."""
    n_leapfrog = settings["num_integration_steps"]
    warmup = blackjax.window_adaptation(
        blackjax.hmc,
        posterior.logdensity,
        initial_step_size=settings["initial_step_size"],
        target_acceptance_rate=settings["target_accept"],
        adaptation_info_fn=blackjax.adaptation.base.get_filter_adapt_info_fn(),
        num_integration_steps=n_leapfrog,
    )
    positions = jnp.broadcast_to(posterior.w_star, (chains, posterior.d))
    t0 = time.perf_counter()
    (states, params), _ = jax.vmap(lambda k, w: warmup.run(k, w, num_steps=settings["adapt_steps"]))(
        jax.random.split(key, chains), positions
    )
    jax.block_until_ready(states)
    tuning_seconds = time.perf_counter() - t0
    step_size, inv_mass = params["step_size"], params["inverse_mass_matrix"]
    reject_degenerate_tuning("HMC window adaptation", step_size=step_size, inverse_mass_matrix=inv_mass)
    kernel = blackjax.hmc.build_kernel()

    def step(key, carry, record):
        del record  # no per-draw extras
        state, eps, imm = carry
        state, info = kernel(key, state, posterior.logdensity, eps, imm, n_leapfrog)
        stats = {
            "acceptance_rate": info.acceptance_rate,
            "is_divergent": info.is_divergent,
            "step_size": eps,
        }
        return (state, eps, imm), stats

    return Prepared(
        states=(states, step_size, inv_mass),
        step=step,
        position=lambda carry: carry[0].position,
        grads_per_step=float(n_leapfrog),
        tuning={
            "step_size": np.asarray(step_size),
            **mass_summary(inv_mass),
        },
        tuning_grads=float(chains * settings["adapt_steps"] * n_leapfrog),
        tuning_seconds=tuning_seconds,
    )

