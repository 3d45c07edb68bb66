"""SGHMC (BlackJAX ``sghmc``): per step, a fresh N(0, I) momentum, then
``num_integration_steps`` updates on one minibatch,

    w ← w + h·p,   p ← (1 − αh)·p + h·∇log π̂(w) + √(2αh)·ξ

(unit mass, friction α per unit time, time step h = ``step_size``)."""

from __future__ import annotations

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp

from llcbench.samplers import Algorithm, minibatch
from llcbench.samplers.spec import SamplerSpec

SPEC = SamplerSpec(minibatch=True, title_settings=("step_size", "batch_size", "num_integration_steps", "alpha"))


class SGHMCState(NamedTuple):
    position: jax.Array  # (d,)


class SGHMCInfo(NamedTuple):
    grads: jax.Array


def build(*, step_size: float, batch_size: int, num_integration_steps: int, alpha: float) -> Algorithm:
    """SGHMC from w*; no tuning."""

    def init(key, posterior) -> SGHMCState:
        del key
        return SGHMCState(posterior.w_star)

    def step(key, state: SGHMCState, posterior, record: bool):
        del record
        kernel = blackjax.sghmc(minibatch.grad_estimator(posterior), num_integration_steps=num_integration_steps, alpha=alpha)
        k_batch, k_step = jax.random.split(key)
        w = kernel.step(k_step, state.position, minibatch.draw(k_batch, posterior, batch_size), step_size)
        return SGHMCState(w), SGHMCInfo(jnp.asarray(num_integration_steps * batch_size / posterior.n, w.dtype))

    return Algorithm(init, step)
