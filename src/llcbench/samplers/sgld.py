"""SGLD on minibatches (``minibatch.draw``: rows with replacement), plain or with a
diagonal preconditioner (RMSProp / Adam; BlackJAX has no such kernel). One update
serves all three: with G = 1 it is BlackJAX's ``sgld`` step, same key, same
arithmetic (tests/test_sampler_health.py).

Update, with h = ``step_size`` (BlackJAX's convention; devinterp's ε = 2h) and a
diagonal preconditioner G (G = 1 for plain SGLD):

    w ← w + h·G·∇log π̂(w) + √(2h·G)·ξ,     ξ ~ N(0, I)

(the noise scales with √(hG), not √h·G). ∇log π̂ = −nβ∇L_b(w) − γ(w − w*). The
preconditioner statistics follow the loss gradient g = nβ∇L_b(w):

- rmsprop (pSGLD): v ← β₂v + (1 − β₂)g², G = 1/(√v + ε).
- adam: m ← β₁m + (1 − β₁)g, v as above, G = 1/(√v̂ + ε), and the drift uses m̂
  in place of g (v̂, m̂ bias-corrected when ``bias_correction``).

Adaptive preconditioners change G during sampling, so the chain is not exactly
stationary for the target; they are the heuristics the literature uses.

At each draw's record step the module also computes the MALA acceptance
probability of the proposal it just made (same minibatch, same G): near 0.9 for a
well-chosen step, near 0 when the step is too large, near 1 when it is tiny. The
step's own loss value and gradient at w are reused, so a record step costs one
extra minibatch gradient (at the proposal).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.util import generate_gaussian_noise

from llcbench.posterior import LocalPosterior
from llcbench.samplers import minibatch
from llcbench.samplers.driver import Prepared

PRECONDITIONERS = ("none", "rmsprop", "adam")


class PrecondState(NamedTuple):
    m: jax.Array  # (d,) first moment of the loss gradient (adam)
    v: jax.Array  # (d,) second moment
    t: jax.Array  # steps taken


def preconditioned_step(key, w, grad_logpi, G, step_size):
    """w + h·G·∇log π + √(2hG)·ξ with ξ drawn exactly as BlackJAX's SGLD draws it,
    so G = 1 reproduces ``blackjax.sgld`` for the same key."""
    noise = generate_gaussian_noise(key, w)
    return w + step_size * G * grad_logpi + jnp.sqrt(2 * step_size * G) * noise


def update_preconditioner(s: dict, state: PrecondState, g):
    """New statistics, G and the loss-gradient term of the drift for ``s['precond']``."""
    t = state.t + 1
    if s["precond"] == "none":
        return state._replace(t=t), 1.0, g
    v = s["beta2"] * state.v + (1 - s["beta2"]) * g**2
    m = s["beta1"] * state.m + (1 - s["beta1"]) * g if s["precond"] == "adam" else state.m
    v_hat, m_hat = v, m
    if s["bias_correction"]:
        v_hat = v / (1 - s["beta2"] ** t)
        m_hat = m / (1 - s["beta1"] ** t)
    G = 1.0 / (jnp.sqrt(v_hat) + s["eps"])
    return PrecondState(m, v, t), G, (m_hat if s["precond"] == "adam" else g)


def _log_q(to, frm, grad_frm, G, h):
    """log N(to; frm + hG∇, 2hG) up to a constant shared by both directions."""
    return -jnp.sum((to - frm - h * G * grad_frm) ** 2 / (4 * h * G))


def prepare(posterior: LocalPosterior, settings: dict, key, chains: int) -> Prepared:
    """SGLD from w* in every chain; no tuning (``step_size`` is given)."""
    del key
    s, h, b = settings, settings["step_size"], settings["batch_size"]

    def scaled_loss(w, batch):
        """nβ·L_b(w), the minibatch estimate of −log-likelihood."""
        return posterior.nbeta * posterior.batch_loss(w, *batch)

    def grad_log_post(w, g_loss):
        return -g_loss - posterior.gamma * (w - posterior.w_star)

    def step(key, state, record):
        w, pstate = state
        k_batch, k_noise = jax.random.split(key)
        batch = minibatch.draw(k_batch, posterior, b)
        u_w, g = jax.value_and_grad(scaled_loss)(w, batch)
        pstate, G, drift = update_preconditioner(s, pstate, g)
        new = preconditioned_step(k_noise, w, grad_log_post(w, drift), G, h)
        info = {}
        if record:  # MALA check of this proposal; log π̂ = −nβL_b + log prior
            u_new, g_new = jax.value_and_grad(scaled_loss)(new, batch)
            lp_w, lp_new = -u_w + posterior.log_prior(w), -u_new + posterior.log_prior(new)
            log_alpha = (lp_new - lp_w + _log_q(w, new, grad_log_post(new, g_new), G, h)
                         - _log_q(new, w, grad_log_post(w, drift), G, h))
            info["mala_accept"] = jnp.exp(jnp.minimum(0.0, jnp.nan_to_num(log_alpha, nan=-jnp.inf)))
        return (new, pstate), info

    d, dtype = posterior.d, posterior.w_star.dtype
    zeros = jnp.zeros((chains, d), dtype)
    states = (jnp.broadcast_to(posterior.w_star, (chains, d)), PrecondState(zeros, zeros, jnp.zeros(chains, jnp.int32)))
    return Prepared(
        states=states,
        step=step,
        position=lambda state: state[0],
        grads_per_step=b / posterior.n,
        tuning={"step_size": jnp.full((chains,), h)},
        tuning_grads=0.0,
        tuning_seconds=0.0,
        record_grads=b / posterior.n,
    )
