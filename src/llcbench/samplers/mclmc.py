"""Unadjusted MCLMC (BlackJAX ``mclmc``, ``isokinetic_mclachlan`` integrator: 2
gradients per step), with L, step size and a diagonal preconditioner tuned per
chain by ``blackjax.mclmc_find_L_and_step_size``.

The tuner starts from a small step (``initial_step_size``) and L = √d instead of
its default step √d/4: from the default it can return step size 0 or a negative
mass entry on a trained MLP (float32 cancellation in E[x²] − E[x]²), and the chains
then freeze. A result with a zero step, a non-positive mass entry or an L ≤ 0 fails
the job.
"""

from __future__ import annotations

import time

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState

from llcbench.posterior import LocalPosterior
from llcbench.samplers.driver import Prepared, mass_summary, reject_degenerate_tuning

GRADS_PER_STEP = 2.0  # isokinetic McLachlan integrator


def tuning_steps(num_steps: int, fracs=(0.1, 0.1, 0.1), diagonal: bool = True) -> int:
    """Integrator steps ``mclmc_find_L_and_step_size`` spends for ``num_steps``."""
    n1, n2, n3 = (round(num_steps * f) for f in fracs)
    n2 += diagonal * (n2 // 3)
    return n1 + n2 + (n3 if n3 >= 2 else 0)


def prepare(posterior: LocalPosterior, settings: dict, key, chains: int) -> Prepared:
    """Tune each chain from w* with a budget of ``tune_steps`` (the tuner spends
    about 30% of it, see ``tuning_steps``)."""
    d = posterior.d
    kernel = blackjax.mcmc.mclmc.build_kernel(integrator=blackjax.mcmc.integrators.isokinetic_mclachlan)
    start = MCLMCAdaptationState(
        L=jnp.sqrt(d).astype(posterior.w_star.dtype),
        step_size=jnp.asarray(settings["initial_step_size"], posterior.w_star.dtype),
        inverse_mass_matrix=jnp.ones(d, posterior.w_star.dtype),
    )
    diagonal = settings["diagonal_preconditioning"]

    def tune(key):
        k_init, k_tune = jax.random.split(key)
        state = blackjax.mcmc.mclmc.init(posterior.w_star, posterior.logdensity, k_init)
        state, params, _ = blackjax.mclmc_find_L_and_step_size(
            kernel,
            settings["tune_steps"],
            state,
            k_tune,
            logdensity_fn=posterior.logdensity,
            diagonal_preconditioning=diagonal,
            desired_energy_var=settings["desired_energy_var"],
            params=start,
        )
        return state, params

    t0 = time.perf_counter()
    states, params = jax.vmap(tune)(jax.random.split(key, chains))
    jax.block_until_ready(states)
    tuning_seconds = time.perf_counter() - t0
    reject_degenerate_tuning(
        "MCLMC tuner",
        step_size=params.step_size,
        L=params.L,
        inverse_mass_matrix=params.inverse_mass_matrix,
    )

    def step(key, carry, record):
        del record  # no per-draw extras
        state, p = carry
        state, info = kernel(key, state, posterior.logdensity, p.inverse_mass_matrix, p.L, p.step_size)
        stats = {"energy_change": info.energy_change, "step_size": p.step_size}
        return (state, p), stats

    return Prepared(
        states=(states, params),
        step=step,
        position=lambda carry: carry[0].position,
        grads_per_step=GRADS_PER_STEP,
        tuning={
            "step_size": np.asarray(params.step_size),
            "L": np.asarray(params.L),
            **mass_summary(params.inverse_mass_matrix),
        },
        tuning_grads=chains * GRADS_PER_STEP * tuning_steps(settings["tune_steps"], diagonal=diagonal),
        tuning_seconds=tuning_seconds,
    )
