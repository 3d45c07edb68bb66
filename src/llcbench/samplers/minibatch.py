"""Minibatches for the stochastic-gradient samplers: rows drawn with replacement."""

from __future__ import annotations

import blackjax
import jax

from llcbench.posterior import LocalPosterior


def draw(key, posterior: LocalPosterior, batch_size: int):
    """``(x_b, y_b)`` of ``batch_size`` rows drawn uniformly with replacement."""
    idx = jax.random.randint(key, (batch_size,), 0, posterior.n)
    return posterior.x[idx], posterior.y[idx]


def grad_estimator(posterior: LocalPosterior):
    """BlackJAX's unbiased minibatch estimate of ∇log π: −nβ∇L_b(w) − γ(w − w*)."""
    return blackjax.sgmcmc.gradients.grad_estimator(posterior.log_prior, posterior.loglikelihood_row, posterior.n)
