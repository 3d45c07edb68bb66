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
stationary for the target; they are the heuristics the literature uses. pSGLD's
correction term Γ(w) = Σ_j ∂G_ij/∂w_j (Li et al. 2016) is omitted, as in their
experiments: it needs second derivatives, and is of order 1 − β₂ per step.

At each draw's record step the sampler also computes the MALA acceptance
probability of the proposal it just made (same minibatch, same G): near 0.9 for a
well-chosen step, near 0 when the step is too large, near 1 when it is tiny. The
step's own loss value and gradient at w are reused, so a record step costs one
extra minibatch gradient (at the proposal). Not for adam: its forward drift is the
lagged first moment m̂, which has no reverse counterpart at the proposal, so no
acceptance probability of a proposal exists; its ``mala_accept`` is NaN and its
record steps cost nothing extra.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.util import generate_gaussian_noise

from llcbench.samplers import Algorithm, minibatch
from llcbench.samplers.spec import SamplerSpec, Stat

SPEC = SamplerSpec(
    stats=(
        Stat(
            "mala_accept",
            "MALA acceptance probability of the SGLD proposal made at each draw (same minibatch and preconditioner); "
            "healthy near 0.9, near 0 when the step is too large; NaN for precond adam (its lagged drift has no reverse move)",
            at="draw",
            figure="mala_accept",
        ),
    ),
    minibatch=True,
    title_settings=("step_size", "batch_size", "precond"),
)

PRECONDITIONERS = ("none", "rmsprop", "adam")


class PrecondState(NamedTuple):
    m: jax.Array  # (d,) first moment of the loss gradient (adam)
    v: jax.Array  # (d,) second moment
    t: jax.Array  # steps taken


class SGLDState(NamedTuple):
    position: jax.Array  # (d,)
    precond: PrecondState


class SGLDInfo(NamedTuple):
    mala_accept: jax.Array  # NaN except at record steps
    grads: jax.Array  # full-data-equivalent gradients of this step


def preconditioned_step(key, w, grad_logpi, G, step_size):
    """w + h·G·∇log π + √(2hG)·ξ with ξ drawn exactly as BlackJAX's SGLD draws it,
    so G = 1 reproduces ``blackjax.sgld`` for the same key."""
    noise = generate_gaussian_noise(key, w)
    return w + step_size * G * grad_logpi + jnp.sqrt(2 * step_size * G) * noise


def preconditioner(precond: str, beta1: float, beta2: float, eps: float, bias_correction: bool):
    """``update(state, g) -> (state, G, drift)``: new statistics, the diagonal G and the
    loss-gradient term of the drift, for the loss gradient g (d,)."""

    def update(state: PrecondState, g):
        t = state.t + 1
        if precond == "none":
            return state._replace(t=t), 1.0, g
        v = beta2 * state.v + (1 - beta2) * g**2
        m = beta1 * state.m + (1 - beta1) * g if precond == "adam" else state.m
        v_hat, m_hat = v, m
        if bias_correction:
            v_hat = v / (1 - beta2**t)
            m_hat = m / (1 - beta1**t)
        G = 1.0 / (jnp.sqrt(v_hat) + eps)
        return PrecondState(m, v, t), G, (m_hat if precond == "adam" else g)

    return update


def _log_q(to, frm, grad_frm, G, h):
    """log N(to; frm + hG∇, 2hG) up to a constant shared by both directions."""
    return -jnp.sum((to - frm - h * G * grad_frm) ** 2 / (4 * h * G))


def build(*, step_size: float, batch_size: int, precond: str, beta1: float, beta2: float, eps: float, bias_correction: bool) -> Algorithm:
    """SGLD from w* with step h = ``step_size`` on minibatches of ``batch_size`` rows."""
    h, b = step_size, batch_size
    update_preconditioner = preconditioner(precond, beta1, beta2, eps, bias_correction)

    def init(key, posterior) -> SGLDState:
        del key
        zeros = jnp.zeros_like(posterior.w_star)
        return SGLDState(posterior.w_star, PrecondState(zeros, zeros, jnp.zeros((), jnp.int32)))

    def step(key, state: SGLDState, posterior, record: bool):
        def scaled_loss(w, batch):
            """nβ·L_b(w), the minibatch estimate of −log-likelihood."""
            return posterior.nbeta * posterior.batch_loss(w, *batch)

        def grad_log_post(w, g_loss):
            return -g_loss - posterior.gamma * (w - posterior.w_star)

        w = state.position
        k_batch, k_noise = jax.random.split(key)
        batch = minibatch.draw(k_batch, posterior, b)
        u_w, g = jax.value_and_grad(scaled_loss)(w, batch)
        pstate, G, drift = update_preconditioner(state.precond, g)
        new = preconditioned_step(k_noise, w, grad_log_post(w, drift), G, h)
        accept = jnp.nan
        mala = record and precond != "adam"
        if mala:  # MALA check of this proposal; log π̂ = −nβL_b + log prior
            u_new, g_new = jax.value_and_grad(scaled_loss)(new, batch)
            lp_w, lp_new = -u_w + posterior.log_prior(w), -u_new + posterior.log_prior(new)
            log_alpha = lp_new - lp_w + _log_q(w, new, grad_log_post(new, g_new), G, h) - _log_q(new, w, grad_log_post(w, drift), G, h)
            accept = jnp.exp(jnp.minimum(0.0, jnp.nan_to_num(log_alpha, nan=-jnp.inf)))
        grads = (2 if mala else 1) * b / posterior.n
        return SGLDState(new, pstate), SGLDInfo(jnp.asarray(accept, w.dtype), jnp.asarray(grads, w.dtype))

    return Algorithm(init, step)
