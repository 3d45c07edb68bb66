"""Adjusted (Metropolis-corrected) MCLMC: BlackJAX ``adjusted_mclmc`` with its tuner
``adjusted_mclmc_find_L_and_step_size`` aiming at ``target_accept`` (≈ 0.9). Each
step integrates ⌈L/ε⌉ isokinetic McLachlan steps (2 gradients each), then accepts
or rejects; acceptance and divergences are recorded like HMC's."""

from __future__ import annotations

import time

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState

from llcbench.posterior import LocalPosterior
from llcbench.samplers.driver import Prepared, mass_summary, reject_degenerate_tuning

GRADS_PER_INTEGRATOR_STEP = 2.0  # isokinetic McLachlan


def prepare(posterior: LocalPosterior, settings: dict, key, chains: int) -> Prepared:
    """Tune each chain from w*, starting from ``initial_step_size`` (the tuner pins
    L = 2ε while it adapts the step to the target acceptance)."""
    s, d, dtype = settings, posterior.d, posterior.w_star.dtype
    base = blackjax.mcmc.adjusted_mclmc.build_kernel()

    def kernel(rng_key, state, logdensity_fn, step_size, integration_steps_params, inverse_mass_matrix):
        return base(rng_key, state, logdensity_fn, step_size, integration_steps_params, inverse_mass_matrix)

    start = MCLMCAdaptationState(L=jnp.asarray(2 * s["initial_step_size"], dtype), step_size=jnp.asarray(s["initial_step_size"], dtype),
                                 inverse_mass_matrix=jnp.ones(d, dtype))

    def tune(key):
        state = blackjax.mcmc.adjusted_mclmc.init(posterior.w_star, posterior.logdensity)
        state, params, n_steps = blackjax.adjusted_mclmc_find_L_and_step_size(
            kernel, posterior.logdensity, s["tune_steps"], state, key, target=s["target_accept"],
            diagonal_preconditioning=s["diagonal_preconditioning"], params=start)
        return state, params, n_steps

    t0 = time.perf_counter()
    states, params, n_tune = jax.vmap(tune)(jax.random.split(key, chains))
    jax.block_until_ready(states)
    tuning_seconds = time.perf_counter() - t0
    reject_degenerate_tuning("adjusted MCLMC tuner", step_size=params.step_size, L=params.L,
                             inverse_mass_matrix=params.inverse_mass_matrix)
    n_leap = np.ceil(np.asarray(params.L) / np.asarray(params.step_size))

    def step(key, carry, record):
        del record
        state, p = carry
        state, info = kernel(key, state, posterior.logdensity, p.step_size, (p.L / p.step_size,), p.inverse_mass_matrix)
        stats = {"acceptance_rate": info.acceptance_rate, "is_divergent": info.is_divergent, "step_size": p.step_size}
        return (state, p), stats

    return Prepared(
        states=(states, params),
        step=step,
        position=lambda carry: carry[0].position,
        grads_per_step=float(GRADS_PER_INTEGRATOR_STEP * n_leap.mean()),
        tuning={
            "step_size": np.asarray(params.step_size),
            "L": np.asarray(params.L),
            "integration_steps": n_leap,
            **mass_summary(params.inverse_mass_matrix),
        },
        tuning_grads=float(GRADS_PER_INTEGRATOR_STEP * np.asarray(n_tune).sum()),
        tuning_seconds=tuning_seconds,
    )
