"""SGLD (BlackJAX ``sgld``) on minibatches drawn with replacement.

BlackJAX's update is w ← w + h·∇log π̂(w) + √(2h)·ξ, with h = ``step_size``
(devinterp's ε corresponds to h = ε/2), and ∇log π̂ the minibatch estimate
−nβ·∇L_b(w) − γ(w − w*) from ``blackjax.sgmcmc.gradients.grad_estimator``.
"""

from __future__ import annotations

import blackjax
import jax
import jax.numpy as jnp

from llcbench.posterior import LocalPosterior
from llcbench.samplers.driver import Prepared


def prepare(posterior: LocalPosterior, settings: dict, key, chains: int) -> Prepared:
    """Plain SGLD from w* in every chain; no tuning (``step_size`` is given)."""
    del key
    grad_fn = blackjax.sgmcmc.gradients.grad_estimator(
        posterior.log_prior, posterior.loglikelihood_row, posterior.n
    )
    sgld = blackjax.sgld(grad_fn)
    batch_size, step_size = settings["batch_size"], settings["step_size"]
    x, y, n = posterior.x, posterior.y, posterior.n

    def step(key, w):
        k_batch, k_step = jax.random.split(key)
        idx = jax.random.randint(k_batch, (batch_size,), 0, n)
        w = sgld.step(k_step, w, (x[idx], y[idx]), step_size)
        return w, {}

    states = jnp.broadcast_to(posterior.w_star, (chains, posterior.d))
    return Prepared(
        states=states,
        step=step,
        position=lambda w: w,
        grads_per_step=batch_size / n,
        tuning={"step_size": jnp.full((chains,), step_size)},
        tuning_grads=0.0,
        tuning_seconds=0.0,
    )
