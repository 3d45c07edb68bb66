"""SGNHT (Ding et al. 2014), each step BlackJAX's ``sgmcmc.diffusions.sgnht``: a
stochastic-gradient Nosé–Hoover thermostat. With unit mass, time step h =
``step_size``, injected noise α = ``alpha`` and thermostat ξ (friction per unit
time, starting at α), each step draws a fresh minibatch and does

    w ← w + h·p,   p ← (1 − ξh)·p + h·∇log π̂(w) + √(2αh)·η,   ξ ← ξ + h·(|p|²/d − 1)

with the gradient taken at the moved w (BlackJAX's own ``sgnht`` kernel takes it before
the move: an explicit Euler step that is stable only while h·a_max < ξ for the stiffest
curvature a_max; the semi-implicit order is stable up to h·√a_max < 2, as for SGHMC).
ξ adapts the friction so that the kinetic energy per dimension matches the temperature,
absorbing the unknown minibatch-gradient noise. The momentum and ξ carry over from step
to step."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.sgmcmc import diffusions
from blackjax.sgmcmc.sgnht import SGNHTState
from blackjax.util import generate_gaussian_noise

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
    """SGNHT from w* with a momentum drawn N(0, I) per chain and ξ = ``alpha``; no tuning."""
    update = diffusions.sgnht(alpha)  # beta = 0: no estimate of the minibatch noise is subtracted

    def init(key, posterior) -> SGNHTState:
        w = posterior.w_star
        return SGNHTState(w, generate_gaussian_noise(key, w), jnp.asarray(alpha, w.dtype))

    def step(key, state: SGNHTState, posterior, record: bool):
        del record
        k_batch, k_noise = jax.random.split(key)
        w, p, xi = state
        g = minibatch.grad_where_it_lands(k_batch, posterior, w, p, step_size, batch_size)
        state = SGNHTState(*update(k_noise, w, p, xi, g, step_size))
        return state, SGNHTInfo(state.xi, jnp.asarray(batch_size / posterior.n, state.xi.dtype))

    return Algorithm(init, step)
