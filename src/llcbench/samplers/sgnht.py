"""SGNHT (BlackJAX ``sgnht``): stochastic-gradient Nosé–Hoover thermostat. The
thermostat ξ adapts the friction so that the kinetic energy per dimension matches
the temperature, absorbing the unknown minibatch-gradient noise."""

from __future__ import annotations

import blackjax
import jax
import jax.numpy as jnp

from llcbench.posterior import LocalPosterior
from llcbench.samplers import minibatch
from llcbench.samplers.driver import Prepared


def prepare(posterior: LocalPosterior, settings: dict, key, chains: int) -> Prepared:
    """SGNHT from w* with a momentum drawn per chain and ξ = ``alpha``; no tuning."""
    s = settings
    kernel = blackjax.sgnht(minibatch.grad_estimator(posterior), alpha=s["alpha"])

    def step(key, state, record):
        del record
        k_batch, k_step = jax.random.split(key)
        state = kernel.step(k_step, state, minibatch.draw(k_batch, posterior, s["batch_size"]), s["step_size"])
        return state, {"thermostat": state.xi}

    states = jax.vmap(lambda k: kernel.init(posterior.w_star, k))(jax.random.split(key, chains))
    return Prepared(
        states=states,
        step=step,
        position=lambda state: state.position,
        grads_per_step=s["batch_size"] / posterior.n,
        tuning={"step_size": jnp.full((chains,), s["step_size"])},
        tuning_grads=0.0,
        tuning_seconds=0.0,
    )
