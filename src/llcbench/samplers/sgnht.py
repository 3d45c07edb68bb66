"""SGNHT (BlackJAX ``sgnht``): stochastic-gradient Nosé–Hoover thermostat. The
thermostat ξ adapts the friction so that the kinetic energy per dimension matches
the temperature, absorbing the unknown minibatch-gradient noise."""

from __future__ import annotations

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp

from llcbench.samplers import Algorithm, minibatch
from llcbench.samplers.spec import SamplerSpec, Stat

SPEC = SamplerSpec(
    stats=(
        Stat(
            "thermostat", "thermostat ξ (friction per unit time) after each step; settles where the kinetic energy matches the temperature"
        ),
    ),
    minibatch=True,
    title_settings=("step_size", "batch_size", "alpha"),
)


class SGNHTInfo(NamedTuple):
    thermostat: jax.Array
    grads: jax.Array


def build(*, step_size: float, batch_size: int, alpha: float) -> Algorithm:
    """SGNHT from w* with a momentum drawn per chain and ξ = ``alpha``; no tuning."""

    def kernel(posterior):
        return blackjax.sgnht(minibatch.grad_estimator(posterior), alpha=alpha)

    def init(key, posterior):
        return kernel(posterior).init(posterior.w_star, key)

    def step(key, state, posterior, record: bool):
        del record
        k_batch, k_step = jax.random.split(key)
        state = kernel(posterior).step(k_step, state, minibatch.draw(k_batch, posterior, batch_size), step_size)
        return state, SGNHTInfo(state.xi, jnp.asarray(batch_size / posterior.n, state.xi.dtype))

    return Algorithm(init, step)
