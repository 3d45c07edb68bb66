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

``step_size: auto`` (plain and rmsprop; docs/samplers.md): a pilot in ``tune`` picks h for a
predicted relative bias of λ̂, B(h) = h·E[g_LᵀGĝ]/(4λ), of ``AUTO_BIAS``, where g_L = −nβ∇L_b(w)
is the loss's part of ĝ = ∇log π̂ and λ is estimated by nβ(L_b(w) − L_b(w*)). The run then tracks
both statistics at the chains' positions (``BiasTracker``, free: they come from the step's own
gradient and a table of each row's loss at w*) and lowers h where B(h) has grown, never above the
pilot's h; the h of each step is the statistic ``step_size``.

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

from llcbench.samplers import CHAIN_AXIS, Algorithm, Tuned, minibatch
from llcbench.samplers.driver import LOSS_PASS_FDE
from llcbench.samplers.spec import SamplerSpec, Stat

SPEC = SamplerSpec(
    stats=(
        Stat(
            "step_size",
            "h of each step: the setting, or with step_size auto the pilot's h, lowered while the chains run wherever the "
            "predicted relative bias of λ̂ at their positions exceeds the pilot's target (docs/samplers.md)",
        ),
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
AUTO = "auto"  # step_size: auto: picked by the pilot in ``tune``
AUTO_PRECONDITIONERS = ("none", "rmsprop")  # adam's lagged drift is not Langevin: no first-order bias formula
# The pilot (module doc; docs/samplers.md): the predicted relative bias of λ̂ it aims at, its
# segments (each PILOT_STEPS steps at the current h, continuing the chains; h is rescaled after
# each from the second half's measurements), the largest rescaling per segment, the power
# iterations that give the first h (START_EPS / the largest curvature at w*, G at its bound).
AUTO_BIAS = 0.02
PILOT_SEGMENTS = 6
PILOT_STEPS = 200
PILOT_MAX_FACTOR = 10.0
# After the pilot, the run keeps aiming at AUTO_BIAS: its step tracks exponential moving averages
# (time constant TRACK_STEPS steps, pooled over chains) of the pilot's two statistics at the chains'
# current positions, and h = min(the pilot's h, the h that puts the predicted bias at AUTO_BIAS).
TRACK_STEPS = 1000
POWER_ITERATIONS = 20
START_EPS = 0.2
HVP_GRADS = 2  # a Hessian-vector product (forward-over-reverse) counted as two gradients


class PrecondState(NamedTuple):
    m: jax.Array  # (d,) first moment of the loss gradient (adam)
    v: jax.Array  # (d,) second moment
    t: jax.Array  # steps taken


class BiasTracker(NamedTuple):
    """What ``step_size: auto`` carries through the run (unused, NaN and empty, with a fixed h)."""

    cross: jax.Array  # moving average of g_LᵀGĝ (module doc), pooled over chains
    excess: jax.Array  # moving average of nβ(L_b(w) − L_b(w*)), pooled over chains: the running λ estimate
    max_step: jax.Array  # the pilot's h: the run's h never exceeds it
    row_loss_star: jax.Array  # (n,) each data row's loss at w*, so L_b(w*) costs no forward pass


class SGLDState(NamedTuple):
    position: jax.Array  # (d,)
    precond: PrecondState
    step_size: jax.Array  # h of the next step: the setting, or with step_size auto the pilot's, then the tracker's
    tracker: BiasTracker


class SGLDInfo(NamedTuple):
    step_size: jax.Array  # h of this step
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


def pooled_mean(x):
    """The mean of ``x`` over the chains when called under the driver's chain vmap (axis
    ``CHAIN_AXIS``), so every chain takes the same decision; ``x`` itself outside it."""
    try:
        return jax.lax.pmean(x, CHAIN_AXIS)
    except NameError:  # not vmapped over chains (a single chain)
        return x


def pooled_finite_mean(x, ok):
    """(mean of ``x`` over the chains where ``ok``, whether any chain is ``ok``), pooled as ``pooled_mean``."""
    share = pooled_mean(ok.astype(x.dtype))
    return pooled_mean(jnp.where(ok, x, 0.0)) / jnp.where(share > 0, share, 1.0), share > 0


def bias_step(cross, excess, max_step, h):
    """The h whose predicted relative bias of λ̂, h·cross/(4·excess) (module doc), is AUTO_BIAS,
    at most ``max_step``; ``h`` where the statistics give none (excess or cross not positive)."""
    target = 4 * AUTO_BIAS * excess / cross
    usable = (excess > 0) & (cross > 0) & jnp.isfinite(target)
    return jnp.where(usable, jnp.minimum(target, max_step), h)


def build(
    *, step_size: float | str, batch_size: int, precond: str, beta1: float, beta2: float, eps: float, bias_correction: bool
) -> Algorithm:
    """SGLD from w* with step h = ``step_size`` (or ``"auto"``: chosen by the pilot in
    ``tune``) on minibatches of ``batch_size`` rows."""
    auto = step_size == AUTO
    if auto and precond not in AUTO_PRECONDITIONERS:
        raise ValueError(f"step_size: auto needs precond in {AUTO_PRECONDITIONERS}, not {precond!r}")
    b = batch_size
    update_preconditioner = preconditioner(precond, beta1, beta2, eps, bias_correction)

    def init(key, posterior) -> SGLDState:
        del key
        w_star = posterior.w_star
        zeros, nan = jnp.zeros_like(w_star), jnp.asarray(jnp.nan, w_star.dtype)
        h = nan if auto else jnp.asarray(step_size, w_star.dtype)
        rows = posterior.row_losses(w_star) if auto else jnp.zeros((0,), w_star.dtype)
        return SGLDState(w_star, PrecondState(zeros, zeros, jnp.zeros((), jnp.int32)), h, BiasTracker(nan, nan, nan, rows))

    def scaled_loss(w, batch, posterior):
        """nβ·L_b(w), the minibatch estimate of −log-likelihood."""
        return posterior.nbeta * posterior.batch_loss(w, *batch)

    def grad_log_post(posterior, w, g_loss):
        return -g_loss - posterior.gamma * (w - posterior.w_star)

    def move(key, state: SGLDState, posterior, h):
        """One update at step h: (new state, the minibatch's row indices and rows, U_b(w), the loss gradient, G, drift)."""
        w = state.position
        k_batch, k_noise = jax.random.split(key)
        idx = minibatch.indices(k_batch, posterior, b)
        batch = posterior.x[idx], posterior.y[idx]
        u_w, g = jax.value_and_grad(scaled_loss)(w, batch, posterior)
        pstate, G, drift = update_preconditioner(state.precond, g)
        new = preconditioned_step(k_noise, w, grad_log_post(posterior, w, drift), G, h)
        return state._replace(position=new, precond=pstate), idx, batch, u_w, g, G, drift

    def bias_statistics(state: SGLDState, posterior, idx, u_w, g, G):
        """The pilot's two per-step statistics at w = ``state.position``: g_LᵀGĝ, with g_L = −g the
        loss's part of ĝ (rmsprop: ĝ from the raw gradient), and nβ(L_b(w) − L_b(w*)) on the step's batch."""
        cross = -jnp.sum(G * g * grad_log_post(posterior, state.position, g))
        u_star = posterior.nbeta * jnp.mean(state.tracker.row_loss_star[idx])
        return cross, u_w - u_star

    def track(state: SGLDState, new: SGLDState, stats) -> SGLDState:
        """``new`` with the tracker's averages updated by this step's statistics (over the chains whose
        statistics and new position are finite) and the next step's h from them (``bias_step``)."""
        ok = jnp.all(jnp.isfinite(new.position)) & jnp.all(jnp.isfinite(jnp.stack(stats)))
        (cross, any_ok), (excess, _) = (pooled_finite_mean(x, ok) for x in stats)
        rate = jnp.where(any_ok, 1.0 / TRACK_STEPS, 0.0)
        old = state.tracker
        tracker = old._replace(cross=old.cross + rate * (cross - old.cross), excess=old.excess + rate * (excess - old.excess))
        h = bias_step(tracker.cross, tracker.excess, tracker.max_step, state.step_size)
        return new._replace(step_size=h.astype(state.step_size.dtype), tracker=tracker)

    def step(key, state: SGLDState, posterior, record: bool):
        h = state.step_size if auto else step_size  # a fixed h stays a compiled-in constant
        w = state.position
        new_state, idx, batch, u_w, g, G, drift = move(key, state, posterior, h)
        if auto:
            new_state = track(state, new_state, bias_statistics(state, posterior, idx, u_w, g, G))
        new = new_state.position
        accept = jnp.nan
        mala = record and precond != "adam"
        if mala:  # MALA check of this proposal; log π̂ = −nβL_b + log prior
            u_new, g_new = jax.value_and_grad(scaled_loss)(new, batch, posterior)
            lp_w, lp_new = -u_w + posterior.log_prior(w), -u_new + posterior.log_prior(new)
            log_alpha = (
                lp_new
                - lp_w
                + _log_q(w, new, grad_log_post(posterior, new, g_new), G, h)
                - _log_q(new, w, grad_log_post(posterior, w, drift), G, h)
            )
            accept = jnp.exp(jnp.minimum(0.0, jnp.nan_to_num(log_alpha, nan=-jnp.inf)))
        grads = (2 if mala else 1) * b / posterior.n
        return new_state, SGLDInfo(jnp.asarray(h, w.dtype), jnp.asarray(accept, w.dtype), jnp.asarray(grads, w.dtype))

    def largest_curvature(key, posterior):
        """The largest eigenvalue of the minibatch Hessian of −log π̂ at w* (power iteration)."""
        k_batch, k_v = jax.random.split(key)
        batch = minibatch.draw(k_batch, posterior, b)
        w0 = posterior.w_star

        def neg_log_post(w):
            return scaled_loss(w, batch, posterior) - posterior.log_prior(w)

        def hvp(v):
            return jax.jvp(jax.grad(neg_log_post), (w0,), (v,))[1]

        def power(_, v):
            hv = hvp(v)
            return hv / jnp.linalg.norm(hv)

        v = jax.random.normal(k_v, w0.shape, w0.dtype)
        v = jax.lax.fori_loop(0, POWER_ITERATIONS, power, v / jnp.linalg.norm(v))
        return jnp.vdot(v, hvp(v))  # the Rayleigh quotient at the converged direction

    def tune(key, posterior):
        """The pilot (module doc): from w*, ``PILOT_SEGMENTS`` segments of ``PILOT_STEPS``
        steps; after each, h ← h·AUTO_BIAS/(predicted relative bias), pooled over chains,
        within a factor ``PILOT_MAX_FACTOR`` (h kept where the segment's λ estimate is not
        positive). A segment whose chains leave the finite numbers restarts them at w* with
        h / PILOT_MAX_FACTOR. Returns the chains where the pilot left them (a warm start for
        burn-in) and h, which is also the run's cap; the run's moving averages start at the last
        segment's statistics."""
        dtype = posterior.w_star.dtype
        k_curv, k_pilot = jax.random.split(key)
        a_max = pooled_mean(largest_curvature(k_curv, posterior))
        g_max = 1.0 if precond == "none" else 1.0 / eps  # G ≤ 1/eps
        h0 = (START_EPS / (a_max * g_max)).astype(dtype)
        start = init(key, posterior)

        def pilot_step(state, key):
            new, idx, _, u_w, g, G, _ = move(key, state, posterior, state.step_size)
            # g_LᵀGĝ weighs each direction by what it adds to nβL (docs/samplers.md: ĝᵀGĝ would count
            # the localisation's γ in every flat direction)
            return new, bias_statistics(state, posterior, idx, u_w, g, G)

        def segment(carry, key):
            state = carry
            state, (cross, du) = jax.lax.scan(pilot_step, state, jax.random.split(key, PILOT_STEPS))
            half = PILOT_STEPS // 2
            finite = jnp.all(jnp.isfinite(state.position))
            ok = pooled_mean(finite.astype(dtype)) == 1.0
            g_cross = pooled_mean(jnp.where(finite, jnp.mean(cross[half:]), 0.0))
            llc = pooled_mean(jnp.where(finite, jnp.mean(du[half:]), 0.0))
            h = state.step_size
            bias = h * g_cross / (4 * llc)
            factor = jnp.clip(AUTO_BIAS / bias, 1 / PILOT_MAX_FACTOR, PILOT_MAX_FACTOR)
            # no usable λ or bias estimate (L_n not above L_n(w*) on average: w* is not a minimum, or the
            # chains have barely moved): keep h; blown-up chains: h / PILOT_MAX_FACTOR
            usable = (llc > 0) & (bias > 0) & jnp.isfinite(factor)
            factor = jnp.where(ok, jnp.where(usable, factor, 1.0), 1 / PILOT_MAX_FACTOR)
            state = jax.tree.map(lambda a, z: jnp.where(ok, a, z), state, start)  # restart a blown-up pilot at w*
            tracker = state.tracker._replace(cross=g_cross, excess=llc)  # where the run's moving averages start
            return state._replace(step_size=(h * factor).astype(dtype), tracker=tracker), None

        state, _ = jax.lax.scan(segment, start._replace(step_size=h0), jax.random.split(k_pilot, PILOT_SEGMENTS))
        state = state._replace(tracker=state.tracker._replace(max_step=state.step_size))
        # the row losses at w* (one full-data forward pass), the power iterations, the pilot's steps
        spent = LOSS_PASS_FDE + ((POWER_ITERATIONS + 1) * HVP_GRADS + PILOT_SEGMENTS * PILOT_STEPS) * b / posterior.n
        return state, Tuned({"step_size": state.step_size}, jnp.asarray(spent, dtype))

    return Algorithm(init, step, tune if auto else None)
