"""SGHMC (BlackJAX ``sghmc``): per step, a fresh N(0, I) momentum, then
``num_integration_steps`` updates on one minibatch,

    w ← w + h·p,   p ← (1 − αh)·p + h·∇log π̂(w) + √(2αh)·ξ

(unit mass, friction α per unit time, time step h = ``step_size``)."""

from __future__ import annotations

import blackjax
import jax
import jax.numpy as jnp

from llcbench.posterior import LocalPosterior
from llcbench.samplers import minibatch
from llcbench.samplers.driver import Prepared


def prepare(posterior: LocalPosterior, settings: dict, key, chains: int) -> Prepared:
    """SGHMC from w* in every chain; no tuning."""
    del key
    s = settings
    kernel = blackjax.sghmc(minibatch.grad_estimator(posterior), num_integration_steps=s["num_integration_steps"], alpha=s["alpha"])

    def step(key, w, record):
        del record
        k_batch, k_step = jax.random.split(key)
        return kernel.step(k_step, w, minibatch.draw(k_batch, posterior, s["batch_size"]), s["step_size"]), {}

    return Prepared(
        states=jnp.broadcast_to(posterior.w_star, (chains, posterior.d)),
        step=step,
        position=lambda w: w,
        grads_per_step=s["num_integration_steps"] * s["batch_size"] / posterior.n,
        tuning={"step_size": jnp.full((chains,), s["step_size"])},
        tuning_grads=0.0,
        tuning_seconds=0.0,
    )
