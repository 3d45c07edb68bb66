"""The chain loop shared by every sampler: burn-in, then draws of full-batch L_n
every ``eval_every`` steps, chains vmapped inside one jitted ``lax.scan``.

Progress (fraction done and running λ̂) reaches the log through a
``jax.debug.callback`` fired about twenty times per run, not per step.
"""

from __future__ import annotations

import logging
import time
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
    step: Callable  # (key, state) -> (state, info: dict[str, scalar]) for one chain
    position: Callable  # state -> w (d,)
    grads_per_step: float  # full-data-equivalent gradients per step, one chain
    tuning: dict  # name -> np.ndarray (chain,) of tuned parameters
    tuning_grads: float  # full-data-equivalent gradients spent tuning, all chains
    tuning_seconds: float  # wall time of tuning, compilation included


class Trace(NamedTuple):
    """Host-side result of ``sample``. Shapes: (chain, draw) unless noted."""

    loss: np.ndarray  # L_n at each draw
    theta_proj: np.ndarray  # (chain, draw, NUM_PROJECTIONS): P·(w − w*)
    stats: dict  # name -> (chain, draw), per-step sampler statistics averaged between draws
    compile_seconds: float
    sampling_seconds: float  # compiled loop only


def projection_matrix(seed: int, d: int, k: int = NUM_PROJECTIONS) -> jax.Array:
    """(k, d) random directions with unit norm, fixed by ``seed``."""
    p = jax.random.normal(jax.random.key(seed), (k, d))
    return p / jnp.linalg.norm(p, axis=1, keepdims=True)


def _chunks(total: int, parts: int = 20) -> int:
    return max(1, total // parts)


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
    draw every ``eval_every`` steps. ``loss_star`` = L_n(w*) is used only for the
    progress log's running λ̂."""
    draws = (steps - burn_in) // eval_every
    if draws < 1:
        raise ValueError(f"steps - burn_in = {steps - burn_in} leaves no draw at eval_every={eval_every}")
    chains = jax.tree.leaves(prepared.states)[0].shape[0]
    proj = projection_matrix(projection_seed, posterior.d)
    vstep = jax.vmap(prepared.step)
    vloss = jax.vmap(posterior.loss)
    total_iters = burn_in + draws
    report_every = _chunks(total_iters)

    def report(done, loss_sum, n_draws):
        frac = float(done) / total_iters
        if int(n_draws) > 0:
            llc = posterior.nbeta * (float(np.mean(loss_sum)) / int(n_draws) - loss_star)
            log.info("progress %5.1f%%  draws %d  running llc %.4g", 100 * frac, int(n_draws), llc)
        else:
            log.info("progress %5.1f%%  (burn-in)", 100 * frac)

    def maybe_report(i, loss_sum, n_draws):
        jax.lax.cond(
            (i + 1) % report_every == 0,
            lambda: jax.debug.callback(report, i + 1, loss_sum, n_draws),
            lambda: None,
        )

    def one_step(states, key):
        return vstep(jax.random.split(key, chains), states)

    def burn(carry, xs):
        i, key = xs
        states, _ = one_step(carry, key)
        maybe_report(i, jnp.zeros(chains), 0)
        return states, None

    def draw(carry, xs):
        i, key = xs
        states, loss_sum = carry
        states, infos = jax.lax.scan(one_step, states, jax.random.split(key, eval_every))
        w = jax.vmap(prepared.position)(states)
        loss = vloss(w)
        loss_sum = loss_sum + loss
        maybe_report(burn_in + i, loss_sum, i + 1)
        stats = {k: jnp.mean(v.astype(loss.dtype), axis=0) for k, v in infos.items()}
        return (states, loss_sum), (loss, (w - posterior.w_star) @ proj.T, stats)

    def run(states, key):
        k_burn, k_draw = jax.random.split(key)
        states, _ = jax.lax.scan(burn, states, (jnp.arange(burn_in), jax.random.split(k_burn, burn_in)))
        init = (states, jnp.zeros(chains, posterior.w_star.dtype))
        _, out = jax.lax.scan(draw, init, (jnp.arange(draws), jax.random.split(k_draw, draws)))
        return out

    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(prepared.states, key).compile()
    t1 = time.perf_counter()
    loss, theta_proj, stats = jax.block_until_ready(compiled(prepared.states, key))
    t2 = time.perf_counter()
    to_chain_first = lambda a: np.moveaxis(np.asarray(a), 0, 1)  # (draw, chain, ...) -> (chain, draw, ...)
    return Trace(
        loss=to_chain_first(loss),
        theta_proj=to_chain_first(theta_proj),
        stats={k: to_chain_first(v) for k, v in stats.items()},
        compile_seconds=t1 - t0,
        sampling_seconds=t2 - t1,
    )


class DegenerateTuning(RuntimeError):
    """A tuner returned parameters no chain can run with."""


def reject_degenerate_tuning(tuner: str, **params) -> None:
    """Raise ``DegenerateTuning`` naming ``tuner`` and the parameter unless every
    entry of every array in ``params`` is finite and strictly positive."""
    for name, value in params.items():
        value = np.asarray(value)
        bad = ~(np.isfinite(value) & (value > 0))
        if bad.any():
            raise DegenerateTuning(
                f"{tuner} returned a degenerate {name}: {int(bad.sum())} of {value.size} entries are "
                f"zero, negative or non-finite (e.g. {value[bad].ravel()[:3].tolist()}). Chains would freeze or "
                "blow up; lower the initial step size or raise the tuning budget."
            )
