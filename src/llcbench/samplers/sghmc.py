"""SGHMC (Chen et al. 2014, Algorithm 2, no momentum resampling), each update BlackJAX's
``sgmcmc.diffusions.sghmc``: with unit mass, friction α per unit time and time step
h = ``step_size``, each of a step's ``num_integration_steps`` updates draws a fresh
minibatch and does

    w ← w + h·p,   p ← (1 − αh)·p + h·∇log π̂(w) + √(2αh)·ξ

with the gradient taken at the moved w, as in Chen et al. (BlackJAX's own ``sghmc`` kernel
takes it before the move, an explicit Euler step that stays stable only while h·a_max < α
for the stiffest curvature a_max, and redraws p at each call; the semi-implicit order is
stable up to h·√a_max < 2). The momentum p lives in the chain state and carries over from
one step to the next: it is drawn once, N(0, I), when the chain starts; the friction α
alone renews it, over 1/α time units."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.sgmcmc import diffusions
from blackjax.util import generate_gaussian_noise

from llcbench.samplers import Algorithm, minibatch
from llcbench.samplers.spec import SamplerSpec

SPEC = SamplerSpec(minibatch=True, title_settings=("step_size", "batch_size", "num_integration_steps", "alpha"))


class SGHMCState(NamedTuple):
    position: jax.Array  # (d,)
    momentum: jax.Array  # (d,), carried from step to step


class SGHMCInfo(NamedTuple):
    grads: jax.Array


def build(*, step_size: float, batch_size: int, num_integration_steps: int, alpha: float) -> Algorithm:
    """SGHMC from w* with a momentum drawn per chain; no tuning. A step is
    ``num_integration_steps`` updates, each on its own minibatch."""
    update = diffusions.sghmc(alpha)  # beta = 0: no estimate of the minibatch noise is subtracted

    def init(key, posterior) -> SGHMCState:
        return SGHMCState(posterior.w_star, generate_gaussian_noise(key, posterior.w_star))

    def step(key, state: SGHMCState, posterior, record: bool):
        del record

        def one_update(carry, key):
            w, p = carry
            k_batch, k_noise = jax.random.split(key)
            g = minibatch.grad_where_it_lands(k_batch, posterior, w, p, step_size, batch_size)
            return update(k_noise, w, p, g, step_size), None

        keys = jax.random.split(key, num_integration_steps)
        (w, p), _ = jax.lax.scan(one_update, (state.position, state.momentum), keys)
        return SGHMCState(w, p), SGHMCInfo(jnp.asarray(num_integration_steps * batch_size / posterior.n, w.dtype))

    return Algorithm(init, step)
