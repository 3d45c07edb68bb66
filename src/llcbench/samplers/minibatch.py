"""Minibatches for the stochastic-gradient samplers, and the gradient estimate
they feed.

Scheme: every step, each chain draws ``batch_size`` row indices uniformly *with
replacement* from the n rows (independently across steps and chains) and gathers
those rows, so each row enters with weight b/n in expectation and
``grad_estimator`` is an unbiased estimate of ∇log π. (Measurements of this choice
against slices of a shuffled copy: docs/measurements.md.)
"""

from __future__ import annotations

import jax


def indices(key, posterior, batch_size: int):
    """(batch_size,) row indices drawn uniformly with replacement: the rows ``draw`` gathers for the same key."""
    return jax.random.randint(key, (batch_size,), 0, posterior.n)


def draw(key, posterior, batch_size: int):
    """``(x_b, y_b)`` of shapes (batch_size, in_dim), (batch_size, out_dim): rows
    drawn uniformly with replacement."""
    idx = indices(key, posterior, batch_size)
    return posterior.x[idx], posterior.y[idx]


def grad_estimator(posterior):
    """``(w (d,), batch) -> (d,)``: the unbiased minibatch estimate of ∇log π,
    −nβ∇L_b(w) − γ(w − w*) with L_b the batch's mean loss. The same quantity as
    BlackJAX's ``sgmcmc.gradients.grad_estimator`` (which vmaps a per-row
    log-likelihood), computed as one batched forward/backward pass; it plugs into
    BlackJAX's SG kernels."""

    def estimate(w, batch):
        return -posterior.nbeta * jax.grad(posterior.batch_loss)(w, *batch) + jax.grad(posterior.log_prior)(w)

    return estimate


def grad_where_it_lands(key, posterior, w, p, step_size: float, batch_size: int):
    """ĝ (d,) on a fresh minibatch at w + h·p, the position a momentum update w ← w + h·p moves
    to: the semi-implicit order of SGHMC and SGNHT (stable up to h·√a_max < 2 for the stiffest
    curvature a_max; BlackJAX's kernels take ĝ at w, stable only while h·a_max < the friction)."""
    return grad_estimator(posterior)(w + step_size * p, draw(key, posterior, batch_size))
