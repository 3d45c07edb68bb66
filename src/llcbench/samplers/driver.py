"""The chain loop shared by every sampler: tuning (or init), burn-in, then draws of
full-batch L_n every ``eval_every`` steps, chains vmapped inside one jitted
``lax.scan``; timing and cost bookkeeping.

The posterior is an argument of the compiled tuning and chain loop, so a compiled
program depends on shapes and settings only and JAX's persistent compilation cache
serves every job of the same shape. Progress (fraction done and running λ̂) reaches
the log through a ``jax.debug.callback`` fired about twenty times per run.

Random numbers: tuning and chains run under ``jax.threefry_partitionable(False)``, the same
threefry-2x32 generator with its counters laid out as before JAX 0.5. XLA compiles JAX's default
(partitionable) layout to code several times slower on CPU: 40k normals per step (SGLD's noise,
4 chains at d = 9,921) took 5.3 ms against 0.8 ms (docs/measurements.md). The layout changes
the streams, not their quality; every run, at any ``--cores``, uses this one.

Cost: every step's ``info.grads`` (the sampler's own count) is summed over the steps
run, burn-in and draw windows apart; the tuner reports its own; each draw's full-data
L_n pass costs ``LOSS_PASS_FDE`` gradients per chain (none for a sampler whose ``loss``
reads L_n from its state). Tuning, burn-in and the draw windows are timed apart (three
compiled programs, compilation timed apart too); ``Trace.cost`` is the breakdown every
run records (README, "Cost").
"""

from __future__ import annotations

import functools
import logging
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from llcbench.plan import draw_count
from llcbench.posterior import LocalPosterior
from llcbench.samplers import CHAIN_AXIS, Algorithm
from llcbench.samplers.spec import SamplerSpec

log = logging.getLogger(__name__)

NUM_PROJECTIONS = 4  # random directions of θ kept per draw
# A full-data L_n pass (forward only) in full-data-equivalent gradients: the ratio of a
# forward to a forward + backward pass of an MLP in matmul FLOPs, 1/3. Measured
# (benchmarks/forward_cost.py, 4 vmapped chains in a jitted scan, as in the chain loop):
# 0.33 (float32) and 0.29 (float64) on the default experiment (d = 9,921, n = 4,096),
# 0.41 / 0.35 on the quick preset (d = 1,027, n = 1,024), 0.40 / 0.38 on the tests' tiny
# one (d = 121, n = 256). A constant, not a per-run measurement, so that a run's FDE
# counts are exact and identical on every machine.
LOSS_PASS_FDE = 1 / 3


class Trace(NamedTuple):
    """Host-side result of ``run_chains``. Shapes: (chain, draw) unless noted."""

    loss: np.ndarray  # L_n at each draw; NaN once a chain has diverged
    theta_proj: np.ndarray  # (chain, draw, NUM_PROJECTIONS): P·(w − w*)
    stats: dict  # SPEC statistic name -> (chain, draw): window mean ("step") or record-step value ("draw")
    diverged_step: np.ndarray  # (chain,): first step whose position was non-finite, −1 if none
    tuned: dict  # tuned parameter -> (chain,); (d,) parameters as <name>_min/_median/_max
    grads_tuning: float  # full-data-equivalent gradients spent tuning, all chains (NaN when tuning failed)
    grads_sampling: float  # full-data-equivalent gradients of the steps run (burn-in included), all chains
    tuning_seconds: float  # tuning, compilation included
    compile_seconds: float  # chain loop compilation (burn-in and draw programs)
    sampling_seconds: float  # compiled chain loop only (burn-in and draws, L_n passes included)
    failure: str = ""  # why no draws were made ("tuning_failed: …"), else ""
    steps_run: int = 0  # steps each chain ran: burn_in + draws × eval_every (≤ the setting ``steps``)
    grads_burn_in: float = 0.0  # of grads_sampling, the burn-in steps'
    loss_passes: int = 0  # full-data L_n passes, all chains: chains × draws (0 when the sampler's ``loss`` reads L_n from its state)
    tuning_run_seconds: float = 0.0  # the compiled tuner's run, compilation excluded
    burn_in_seconds: float = 0.0  # of sampling_seconds, the compiled burn-in's

    def cost(self) -> dict[str, float]:
        """The run's cost by phase, all chains: ``cost_<part>_fde`` in full-data-equivalent
        gradients and ``cost_<part>_seconds``, part = ``tuning`` (the tuner's warm-up),
        ``burn_in``, ``draws`` (the steps of the draw windows), ``eval`` (the full-data
        L_n pass of each draw, ``LOSS_PASS_FDE`` gradients each), ``sampling`` = draws +
        eval (the cost of the draws once warmed up) and ``total`` = all four. Seconds
        exclude compilation (a one-off that JAX's compilation cache removes, reported
        as ``compile_seconds`` and within ``tuning_seconds``); the draw windows and their
        L_n passes run in one compiled loop, whose measured seconds are split between
        ``draws`` and ``eval`` in proportion to their FDE counts."""
        fde = {
            "tuning": self.grads_tuning,
            "burn_in": self.grads_burn_in,
            "draws": self.grads_sampling - self.grads_burn_in,
            "eval": self.loss_passes * LOSS_PASS_FDE,
        }
        draw_seconds = self.sampling_seconds - self.burn_in_seconds
        window = fde["draws"] + fde["eval"]
        eval_share = fde["eval"] / window if window > 0 else 0.0
        seconds = {
            "tuning": self.tuning_run_seconds,
            "burn_in": self.burn_in_seconds,
            "draws": draw_seconds * (1 - eval_share),
            "eval": draw_seconds * eval_share,
        }
        out = {}
        for unit, parts in (("fde", fde), ("seconds", seconds)):
            parts = {**parts, "sampling": parts["draws"] + parts["eval"]}
            parts["total"] = parts["tuning"] + parts["burn_in"] + parts["sampling"]
            out |= {f"cost_{part}_{unit}": float(v) for part, v in parts.items()}
        return out


def projection_matrix(seed: int, d: int, k: int = NUM_PROJECTIONS, dtype=jnp.float32) -> jax.Array:
    """(k, d) random directions with unit norm, fixed by ``seed``."""
    p = jax.random.normal(jax.random.key(seed), (k, d), dtype)
    return p / jnp.linalg.norm(p, axis=1, keepdims=True)


def _select(mask, new, old):
    """Per chain, ``new`` where ``mask`` else ``old`` (pytrees with a leading chain axis)."""
    return jax.tree.map(lambda n, o: jnp.where(mask.reshape((-1,) + (1,) * (n.ndim - 1)), n, o), new, old)


class DegenerateTuning(RuntimeError):
    """A tuner returned parameters no chain can run with. ``reason`` is the short
    form (no ``;``) that becomes the run's status ``tuning_failed: <reason>``."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason
        self.run_seconds = 0.0  # the tuner's run, compilation excluded (set by ``start_chains``)


def reject_degenerate_tuning(tuner: str, **params) -> None:
    """Raise ``DegenerateTuning`` naming ``tuner`` and the parameter unless every
    entry of every array in ``params`` is finite and strictly positive."""
    for name, value in params.items():
        value = np.asarray(value)
        bad = ~(np.isfinite(value) & (value > 0))
        if bad.any():
            reason = f"{tuner} returned a degenerate {name} ({int(bad.sum())} of {value.size} entries zero, negative or non-finite)"
            raise DegenerateTuning(
                f"{reason}, e.g. {value[bad].ravel()[:3].tolist()}. Chains would freeze or blow up; lower the initial step size or raise the tuning budget.",
                reason,
            )


def summarise_tuned(params: dict) -> dict[str, np.ndarray]:
    """Per-chain tuned parameters: scalars (chain,) as they are, vectors (chain, d) as min / median / max."""
    out = {}
    for name, value in params.items():
        value = np.asarray(value)
        if value.ndim == 1:
            out[name] = value
        else:
            out |= {f"{name}_min": value.min(axis=1), f"{name}_median": np.median(value, axis=1), f"{name}_max": value.max(axis=1)}
    return out


def start_chains(name: str, algorithm: Algorithm, posterior: LocalPosterior, key, chains: int):
    """Per-chain start states (leading axis = chain) from ``tune`` (jitted, timed, checked)
    or ``init``. Returns (states, tuned, grads_tuning, tuning_seconds, tuning_run_seconds):
    seconds with and without the tuner's compilation; raises ``DegenerateTuning``."""
    keys = jax.random.split(key, chains)
    if algorithm.tune is None:
        return jax.vmap(algorithm.init, in_axes=(0, None))(keys, posterior), {}, 0.0, 0.0, 0.0
    t0 = time.perf_counter()
    # vmapped over chains under CHAIN_AXIS: a tuner may pool across chains (jax.lax.pmean(x, CHAIN_AXIS))
    compiled = jax.jit(jax.vmap(algorithm.tune, in_axes=(0, None), axis_name=CHAIN_AXIS)).lower(keys, posterior).compile()
    t1 = time.perf_counter()
    states, tuned = jax.block_until_ready(compiled(keys, posterior))
    t2 = time.perf_counter()
    try:
        reject_degenerate_tuning(f"{name} tuning", **tuned.params)
    except DegenerateTuning as err:
        err.run_seconds = t2 - t1
        raise
    return states, summarise_tuned(tuned.params), float(np.sum(np.asarray(tuned.grads, np.float64))), t2 - t0, t2 - t1


def fast_threefry(fn):
    """``fn`` run under threefry's non-partitionable layout (module doc, "Random numbers")."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with jax.threefry_partitionable(False):
            return fn(*args, **kwargs)

    return run


@fast_threefry
def run_chains(
    name: str,
    algorithm: Algorithm,
    spec: SamplerSpec,
    posterior: LocalPosterior,
    key,
    *,
    chains: int,
    steps: int,
    burn_in: int,
    eval_every: int,
    loss_star: float,
    projection_seed: int,
) -> Trace:
    """Tune (or init) ``chains`` chains with the first half of ``key``, then run ``steps``
    steps per chain with the second; discard the first ``burn_in``; then record a draw
    every ``eval_every`` steps (the last step of each window is a record step, where
    samplers compute their per-draw statistics). A chain whose position turns non-finite
    is frozen from that step on: its draws are NaN and it never contributes to an
    estimate. ``loss_star`` = L_n(w*) only feeds the progress log's running λ̂. A
    degenerate tuning gives a trace without draws and ``failure = "tuning_failed: …"``."""
    draws = draw_count(steps, burn_in, eval_every)
    if draws < 1:
        raise ValueError(f"steps - burn_in = {steps - burn_in} leaves no draw at eval_every={eval_every}")
    k_tune, k_run = jax.random.split(key)
    t0 = time.perf_counter()
    try:
        states, tuned, grads_tuning, tuning_seconds, tuning_run_seconds = start_chains(name, algorithm, posterior, k_tune, chains)
    except DegenerateTuning as err:
        log.warning("%s: %s", name, err)
        return no_draws(
            chains,
            draws,
            failure=f"tuning_failed: {err.reason}",
            grads_tuning=float("nan"),
            tuning_seconds=time.perf_counter() - t0,
            tuning_run_seconds=err.run_seconds,
        )
    if tuned:
        log.info("%s: tuned in %.1f s: %s", name, tuning_seconds, {k: np.round(v, 6).tolist() for k, v in tuned.items()})
    dtype = posterior.w_star.dtype
    proj = projection_matrix(projection_seed, posterior.d, dtype=dtype)
    steps_run = burn_in + draws * eval_every  # a last window shorter than eval_every is not run
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
        jax.lax.cond((i + 1) % report_every == 0, lambda: jax.debug.callback(report, i + 1, loss_sum, n_draws, alive), lambda: None)

    def step_all(carry, xs, record, posterior):
        states, alive, diverged_step, grads = carry
        t, key = xs
        # vmapped under CHAIN_AXIS, as the tuner: a step may pool across chains (SGLD's step_size: auto)
        step = jax.vmap(lambda k, s: algorithm.step(k, s, posterior, record), axis_name=CHAIN_AXIS)
        new, info = step(jax.random.split(key, chains), states)
        finite = jnp.all(jnp.isfinite(new.position), axis=1)
        diverged_step = jnp.where(alive & ~finite, t, diverged_step)
        alive = alive & finite
        return (_select(alive, new, states), alive, diverged_step, grads + info.grads), info

    def burn_phase(states, key, posterior):
        """The ``burn_in`` steps from the start states: the chain carry (states, alive,
        diverged step, gradients spent) at the end of burn-in."""

        def burn(carry, xs):
            i, key = xs
            carry, _ = step_all(carry, (i, key), False, posterior)
            maybe_report(i, jnp.zeros(chains, dtype), 0, carry[1])
            return carry, None

        carry = (states, jnp.ones(chains, bool), jnp.full(chains, -1), jnp.zeros(chains, dtype))
        return jax.lax.scan(burn, carry, (jnp.arange(burn_in), jax.random.split(key, burn_in)))[0]

    def draw_phase(carry, key, posterior, proj):
        """The draw windows from the end of burn-in (gradients counted afresh)."""

        def window(carry, t0, key):
            """``eval_every`` steps from step t0; the last is a record step. Returns the
            window's statistics: means of per-step ones over the steps where they are not NaN
            (NaN when none is), the record step's value of per-draw ones."""
            keys = jax.random.split(key, eval_every)
            ts = t0 + jnp.arange(eval_every)
            carry, plain = jax.lax.scan(lambda c, xs: step_all(c, xs, False, posterior), carry, (ts[:-1], keys[:-1]))
            carry, last = step_all(carry, (ts[-1], keys[-1]), True, posterior)
            stats = {}
            for stat in spec.stats:
                value = getattr(last, stat.name).astype(dtype)
                if stat.at == "step":
                    value = jnp.nanmean(jnp.concatenate([getattr(plain, stat.name).astype(dtype), value[None]]), axis=0)
                stats[stat.name] = value
            return carry, stats

        def draw(carry, xs):
            i, key = xs
            chain_carry, loss_sum = carry
            chain_carry, stats = window(chain_carry, burn_in + i * eval_every, key)
            states, alive, _, _ = chain_carry
            w = states.position
            if algorithm.loss is None:  # a full-data pass, LOSS_PASS_FDE per chain
                loss = jax.vmap(posterior.loss)(w)
            else:  # from what the state holds: no pass
                loss = jax.vmap(lambda s: algorithm.loss(s, posterior))(states)
            loss = jnp.where(alive, loss, jnp.nan)
            loss_sum = loss_sum + jnp.where(alive, loss, 0.0)
            maybe_report(burn_in + i, loss_sum, i + 1, alive)
            return (chain_carry, loss_sum), (loss, jnp.sum((w - posterior.w_star)[:, None, :] * proj, axis=-1), stats)

        carry = carry[:3] + (jnp.zeros(chains, dtype),)
        ((_, _, diverged_step, grads), _), out = jax.lax.scan(
            draw, (carry, jnp.zeros(chains, dtype)), (jnp.arange(draws), jax.random.split(key, draws))
        )
        return out, diverged_step, grads

    k_burn, k_draw = jax.random.split(k_run)
    t1 = time.perf_counter()
    compiled_burn = jax.jit(burn_phase).lower(states, k_burn, posterior).compile()
    burnt = jax.eval_shape(burn_phase, states, k_burn, posterior)
    compiled_draws = jax.jit(draw_phase).lower(burnt, k_draw, posterior, proj).compile()
    t2 = time.perf_counter()
    # marks the start of the compiled loop in the job log (the progress lines come from inside it)
    log.info("%s: sampling started: %d chains x %d steps in the compiled loop (compiled in %.1f s)", name, chains, steps_run, t2 - t1)
    carry = jax.block_until_ready(compiled_burn(states, k_burn, posterior))
    t3 = time.perf_counter()
    (loss, theta_proj, stats), diverged_step, grads = jax.block_until_ready(compiled_draws(carry, k_draw, posterior, proj))
    t4 = time.perf_counter()

    def to_chain_first(a):  # (draw, chain, ...) -> (chain, draw, ...)
        return np.moveaxis(np.asarray(a), 0, 1)

    diverged_step = np.asarray(diverged_step)
    if (diverged_step >= 0).any():
        log.warning(
            "%d of %d chains diverged (non-finite position) at steps %s; they are excluded from every estimate",
            int((diverged_step >= 0).sum()),
            chains,
            diverged_step.tolist(),
        )
    grads_burn_in = float(np.sum(np.asarray(carry[3], np.float64)))
    return Trace(
        loss=to_chain_first(loss),
        theta_proj=to_chain_first(theta_proj),
        stats={k: to_chain_first(v) for k, v in stats.items()},
        diverged_step=diverged_step,
        tuned=tuned,
        grads_tuning=grads_tuning,
        grads_sampling=grads_burn_in + float(np.sum(np.asarray(grads, np.float64))),
        tuning_seconds=tuning_seconds,
        compile_seconds=t2 - t1,
        sampling_seconds=t4 - t2,
        steps_run=steps_run,
        grads_burn_in=grads_burn_in,
        loss_passes=chains * draws if algorithm.loss is None else 0,
        tuning_run_seconds=tuning_run_seconds,
        burn_in_seconds=t3 - t2,
    )


def no_draws(
    chains: int, draws: int, *, failure: str, grads_tuning: float = 0.0, tuning_seconds: float = 0.0, tuning_run_seconds: float = 0.0
) -> Trace:
    """The trace of a run that could not sample (failed tuning or unusable inputs):
    every L_n and projection NaN, no statistics, no steps run, no sampling time."""
    return Trace(
        loss=np.full((chains, draws), np.nan),
        theta_proj=np.full((chains, draws, NUM_PROJECTIONS), np.nan),
        stats={},
        diverged_step=np.full(chains, -1),
        tuned={},
        grads_tuning=grads_tuning,
        grads_sampling=0.0,
        tuning_seconds=tuning_seconds,
        compile_seconds=0.0,
        sampling_seconds=0.0,
        failure=failure,
        tuning_run_seconds=tuning_run_seconds,
    )
