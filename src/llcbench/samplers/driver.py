"""The chain loop shared by every sampler: burn-in, then draws of full-batch L_n
every ``eval_every`` steps, chains vmapped inside one jitted ``lax.scan``.

Progress (fraction done and running λ̂) reaches the log through a
``jax.debug.callback`` fired about twenty times per run, not per step.
"""

from __future__ import annotations

import functools
import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from llcbench.posterior import LocalPosterior

log = logging.getLogger(__name__)

NUM_PROJECTIONS = 4  # random directions of θ kept per draw


class Prepared(NamedTuple):
    """A tuned sampler ready to run, as built by a sampler module's ``prepare``."""

    states: Any  # pytree of per-chain states, leading axis = chain
    step: Callable  # (key, state, record: bool) -> (state, info: dict[str, scalar]) for one chain
    position: Callable  # state -> w (d,)
    grads_per_step: float  # full-data-equivalent gradients per step, one chain
    tuning: dict  # name -> np.ndarray (chain,) of tuned parameters
    tuning_grads: float  # full-data-equivalent gradients spent tuning, all chains
    tuning_seconds: float  # wall time of tuning, compilation included
    record_grads: float = 0.0  # extra gradients of a record step (diagnostics computed only at draws)


class Trace(NamedTuple):
    """Host-side result of ``sample``. Shapes: (chain, draw) unless noted."""

    loss: np.ndarray  # L_n at each draw; NaN once a chain has diverged
    theta_proj: np.ndarray  # (chain, draw, NUM_PROJECTIONS): P·(w − w*)
    stats: dict  # name -> (chain, draw): step statistics averaged over each draw's window
    diverged_step: np.ndarray  # (chain,): first step whose position was non-finite, −1 if none
    compile_seconds: float
    sampling_seconds: float  # compiled loop only


def projection_matrix(seed: int, d: int, k: int = NUM_PROJECTIONS, dtype=jnp.float32) -> jax.Array:
    """(k, d) random directions with unit norm, fixed by ``seed``."""
    p = jax.random.normal(jax.random.key(seed), (k, d), dtype)
    return p / jnp.linalg.norm(p, axis=1, keepdims=True)


def _select(mask, new, old):
    """Per chain, ``new`` where ``mask`` else ``old`` (pytrees with a leading chain axis)."""
    return jax.tree.map(lambda n, o: jnp.where(mask.reshape((-1,) + (1,) * (n.ndim - 1)), n, o), new, old)


def sample(
    prepared: Prepared,
    posterior: LocalPosterior,
    key,
    *,
    steps: int,
    burn_in: int,
    eval_every: int,
    loss_star: float,
    projection_seed: int,
) -> Trace:
    """Run ``steps`` steps per chain; discard the first ``burn_in``; then record a
    draw every ``eval_every`` steps (the last step of each window is a record
    step, where samplers compute their per-draw diagnostics). A chain whose
    position turns non-finite is frozen from that step on: its draws are NaN and
    it never contributes to an estimate. ``loss_star`` = L_n(w*) only feeds the
    progress log's running λ̂."""
    draws = (steps - burn_in) // eval_every
    if draws < 1:
        raise ValueError(f"steps - burn_in = {steps - burn_in} leaves no draw at eval_every={eval_every}")
    chains = jax.tree.leaves(prepared.states)[0].shape[0]
    dtype = posterior.w_star.dtype
    proj = projection_matrix(projection_seed, posterior.d, dtype=dtype)
    vloss = jax.vmap(posterior.loss)
    vposition = jax.vmap(prepared.position)
    total_iters = burn_in + draws
    report_every = max(1, total_iters // 20)  # about twenty progress lines per run

    def report(done, loss_sum, n_draws, alive):
        frac = float(done) / total_iters
        alive = np.asarray(alive)
        dead = "" if alive.all() else f"  diverged chains {int((~alive).sum())}/{alive.size}"
        if int(n_draws) > 0 and alive.any():
            llc = posterior.nbeta * (float(np.mean(np.asarray(loss_sum)[alive])) / int(n_draws) - loss_star)
            log.info("progress %5.1f%%  draws %d  running llc %.4g%s", 100 * frac, int(n_draws), llc, dead)
        else:
            log.info("progress %5.1f%%  (burn-in)%s", 100 * frac, dead)

    def maybe_report(i, loss_sum, n_draws, alive):
        jax.lax.cond(
            (i + 1) % report_every == 0,
            lambda: jax.debug.callback(report, i + 1, loss_sum, n_draws, alive),
            lambda: None,
        )

    def step_all(carry, xs, record):
        states, alive, diverged_step = carry
        t, key = xs
        new, info = jax.vmap(lambda k, s: prepared.step(k, s, record))(jax.random.split(key, chains), states)
        finite = jnp.all(jnp.isfinite(vposition(new)), axis=1)
        diverged_step = jnp.where(alive & ~finite, t, diverged_step)
        alive = alive & finite
        return (_select(alive, new, states), alive, diverged_step), info

    def window(carry, t0, key, length):
        """``length`` steps from step t0; the last is a record step. Returns the
        window-mean statistics (record-only statistics from the last step)."""
        keys = jax.random.split(key, length)
        ts = t0 + jnp.arange(length)
        carry, plain = jax.lax.scan(lambda c, xs: step_all(c, xs, False), carry, (ts[:-1], keys[:-1]))
        carry, last = step_all(carry, (ts[-1], keys[-1]), True)
        stats = {k: jnp.mean(jnp.concatenate([plain[k], v[None]]).astype(dtype), axis=0) if k in plain else v.astype(dtype)
                 for k, v in last.items()}
        return carry, stats

    def burn(carry, xs):
        i, key = xs
        carry, _ = step_all(carry, (i, key), False)
        maybe_report(i, jnp.zeros(chains, dtype), 0, carry[1])
        return carry, None

    def draw(proj, carry, xs):
        i, key = xs
        chain_carry, loss_sum = carry
        chain_carry, stats = window(chain_carry, burn_in + i * eval_every, key, eval_every)
        states, alive, _ = chain_carry
        w = vposition(states)
        loss = jnp.where(alive, vloss(w), jnp.nan)
        loss_sum = loss_sum + jnp.where(alive, loss, 0.0)
        maybe_report(burn_in + i, loss_sum, i + 1, alive)
        return (chain_carry, loss_sum), (loss, jnp.sum((w - posterior.w_star)[:, None, :] * proj, axis=-1), stats)

    def run(states, key, proj):
        k_burn, k_draw = jax.random.split(key)
        carry = (states, jnp.ones(chains, bool), jnp.full(chains, -1))
        carry, _ = jax.lax.scan(burn, carry, (jnp.arange(burn_in), jax.random.split(k_burn, burn_in)))
        init = (carry, jnp.zeros(chains, dtype))
        ((_, _, diverged_step), _), out = jax.lax.scan(functools.partial(draw, proj), init, (jnp.arange(draws), jax.random.split(k_draw, draws)))
        return out, diverged_step

    def run_on(states, key, arrays, proj):
        with _arrays_as_arguments(posterior, arrays):
            return run(states, key, proj)

    arrays = (posterior.x, posterior.y, posterior.w_star)
    t0 = time.perf_counter()
    compiled = jax.jit(run_on).lower(prepared.states, key, arrays, proj).compile()
    t1 = time.perf_counter()
    (loss, theta_proj, stats), diverged_step = jax.block_until_ready(compiled(prepared.states, key, arrays, proj))
    t2 = time.perf_counter()
    to_chain_first = lambda a: np.moveaxis(np.asarray(a), 0, 1)  # (draw, chain, ...) -> (chain, draw, ...)
    diverged_step = np.asarray(diverged_step)
    if (diverged_step >= 0).any():
        log.warning("%d of %d chains diverged (non-finite position) at steps %s; they are excluded from every estimate",
                    int((diverged_step >= 0).sum()), chains, diverged_step.tolist())
    return Trace(
        loss=to_chain_first(loss),
        theta_proj=to_chain_first(theta_proj),
        stats={k: to_chain_first(v) for k, v in stats.items()},
        diverged_step=diverged_step,
        compile_seconds=t1 - t0,
        sampling_seconds=t2 - t1,
    )


@contextmanager
def _arrays_as_arguments(posterior: LocalPosterior, arrays):
    """While the chain loop is traced, the posterior's data and w* are the traced
    arguments ``arrays`` = (x, y, w_star) instead of constants baked into the
    program. The compiled program then depends on shapes and settings only, so
    JAX's persistent compilation cache serves every job of the same shape (other
    seeds, other data) instead of compiling again. Samplers read these attributes
    when called, never copy them, so swapping them for the trace is enough."""
    saved = (posterior.x, posterior.y, posterior.w_star)
    for name, value in zip(("x", "y", "w_star"), arrays):
        object.__setattr__(posterior, name, value)  # frozen dataclass: restored below
    try:
        yield
    finally:
        for name, value in zip(("x", "y", "w_star"), saved):
            object.__setattr__(posterior, name, value)


def mass_summary(inverse_mass_matrix) -> dict[str, np.ndarray]:
    """Per-chain min / median / max of tuned diagonal inverse mass matrices (chain, d)."""
    imm = np.asarray(inverse_mass_matrix)
    return {"inv_mass_min": imm.min(axis=1), "inv_mass_median": np.median(imm, axis=1), "inv_mass_max": imm.max(axis=1)}


class DegenerateTuning(RuntimeError):
    """A tuner returned parameters no chain can run with. ``reason`` is the short
    form (no ``;``) that becomes the run's status ``tuning_failed: <reason>``."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def reject_degenerate_tuning(tuner: str, **params) -> None:
    """Raise ``DegenerateTuning`` naming ``tuner`` and the parameter unless every
    entry of every array in ``params`` is finite and strictly positive."""
    for name, value in params.items():
        value = np.asarray(value)
        bad = ~(np.isfinite(value) & (value > 0))
        if bad.any():
            reason = f"{tuner} returned a degenerate {name} ({int(bad.sum())} of {value.size} entries zero, negative or non-finite)"
            raise DegenerateTuning(
                f"{reason}, e.g. {value[bad].ravel()[:3].tolist()}. Chains would freeze or "
                "blow up; lower the initial step size or raise the tuning budget.", reason
            )


def no_draws(chains: int, draws: int) -> Trace:
    """The trace of a run that could not sample (failed tuning or unusable
    inputs): every L_n and projection NaN, no statistics, no time spent."""
    return Trace(loss=np.full((chains, draws), np.nan), theta_proj=np.full((chains, draws, NUM_PROJECTIONS), np.nan),
                 stats={}, diverged_step=np.full(chains, -1), compile_seconds=0.0, sampling_seconds=0.0)
