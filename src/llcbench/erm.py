"""Empirical risk minimisation with optax: find w*, the centre of the local posterior."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from llcbench.model import factor_product, init_params
from llcbench.posterior import EmpiricalLoss

OPTIMIZERS = ("adam", "sgd", "adamw")
LOG_POINTS = 200  # loss-trace points kept


class ERMResult(NamedTuple):
    w_star: np.ndarray  # (d,)
    loss_trace: np.ndarray  # (LOG_POINTS or fewer,) full-batch loss during training
    trace_step: np.ndarray  # training step of each trace point
    final_loss: float  # L_n(w*), full batch
    grad_norm: float  # ‖∇L_n(w*)‖₂
    snapshots: np.ndarray | None = None  # (len(snapshot_steps), d): w after each of ``snapshot_steps`` steps


SCHEDULES = ("constant", "cosine")


def make_optimizer(settings: dict) -> optax.GradientTransformation:
    """The optax optimiser named by ``settings['optimizer']``, learning rate ``lr``
    held constant or decayed to zero over ``steps`` by a cosine (``schedule``)."""
    name = settings["optimizer"]
    if settings["schedule"] == "cosine":
        lr = optax.cosine_decay_schedule(settings["lr"], settings["steps"])
    else:
        lr = settings["lr"]
    if name == "adam":
        return optax.adam(lr)
    if name == "adamw":
        return optax.adamw(lr, weight_decay=settings["weight_decay"])
    if name == "sgd":
        return optax.sgd(lr, momentum=settings["momentum"])
    raise ValueError(f"training.optimizer: unknown {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def train(loss: EmpiricalLoss, sizes, settings: dict, seed: int, bias: bool = True, snapshot_steps=None) -> ERMResult:
    """Minimise L_n = ``loss(w)`` from a fresh init for ``settings['steps']`` steps, with
    minibatches of ``settings['batch_size']`` rows (full batch when null) via
    ``loss.batch(w, x, y)``. ``snapshot_steps`` (sorted steps in 1..steps, or None): keep w
    after each of those steps (``ERMResult.snapshots``), written in place inside the compiled
    loop, so memory is one (len(snapshot_steps), d) array whatever the number of steps."""
    loss_fn, batch_loss_fn, x, y = loss, loss.batch, loss.x, loss.y
    key = jax.random.fold_in(jax.random.key(seed), 1)
    k_init, k_batches = jax.random.split(key)
    w0 = init_params(k_init, sizes, bias=bias) * settings["init_scale"]
    opt = make_optimizer(settings)
    steps, n = settings["steps"], x.shape[0]
    batch_size = settings["batch_size"] or n
    every = max(1, steps // LOG_POINTS)
    chunks, rest = divmod(steps, every)

    def update(w, opt_state, key):
        if batch_size >= n:
            grads = jax.grad(loss_fn)(w)
        else:
            idx = jax.random.randint(key, (batch_size,), 0, n)
            grads = jax.grad(batch_loss_fn)(w, x[idx], y[idx])
        updates, opt_state = opt.update(grads, opt_state, w)
        return optax.apply_updates(w, updates), opt_state

    if snapshot_steps is None:

        def step(carry, key):
            w, opt_state = carry
            return update(w, opt_state, key), None

        def start(w0):
            return (w0, opt.init(w0))

        def xs(keys, first):  # the per-step inputs: keys only
            return keys

    else:
        # slot[t - 1] = row of the snapshot taken after step t, or -1: each step writes one row,
        # its own where it is a snapshot step, else the row it would overwrite, unchanged
        slot = np.full(steps, -1, np.int32)
        slot[np.asarray(snapshot_steps) - 1] = np.arange(len(snapshot_steps))

        def step(carry, xs):
            w, opt_state, kept = carry
            key, row = xs
            w, opt_state = update(w, opt_state, key)
            at = jnp.maximum(row, 0)
            kept = kept.at[at].set(jnp.where(row >= 0, w, kept[at]))
            return (w, opt_state, kept), None

        def start(w0):
            return (w0, opt.init(w0), jnp.zeros((len(snapshot_steps), w0.shape[0]), w0.dtype))

        def xs(keys, first):  # keys and snapshot rows of the steps first + 1, first + 2, ...
            return keys, jnp.asarray(slot[first : first + keys.size].reshape(keys.shape))

    def chunk(carry, inputs):
        carry, _ = jax.lax.scan(step, carry, inputs)
        return carry, loss_fn(carry[0])

    @jax.jit
    def run(w0, key):
        keys = jax.random.split(key, (chunks, every))
        carry, trace = jax.lax.scan(chunk, start(w0), xs(keys, 0))
        if rest:  # the steps after the last whole chunk
            carry, _ = jax.lax.scan(step, carry, xs(jax.random.split(jax.random.fold_in(key, 1), rest), chunks * every))
            trace = jnp.append(trace, loss_fn(carry[0]))
        return carry, trace

    carry, trace = run(w0, k_batches)
    w = carry[0]
    final_loss, grad = jax.value_and_grad(loss_fn)(w)
    trace_step = np.arange(1, chunks + 1) * every
    return ERMResult(
        w_star=np.asarray(w),
        loss_trace=np.asarray(trace),
        trace_step=np.append(trace_step, steps) if rest else trace_step,
        final_loss=float(final_loss),
        grad_norm=float(jnp.linalg.norm(grad)),
        snapshots=None if snapshot_steps is None else np.asarray(carry[2]),
    )


def loss_and_grad_norms(loss: EmpiricalLoss, ws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L_n and ‖∇L_n‖₂ at each row of ``ws`` (k, d), one full-batch gradient at a time."""
    value_and_grad = jax.value_and_grad(loss)

    def one(w):
        value, grad = value_and_grad(w)
        return value, jnp.linalg.norm(grad)

    values, norms = jax.jit(lambda ws: jax.lax.map(one, ws))(jnp.asarray(ws))
    return np.asarray(values), np.asarray(norms)


def aligned_dln(loss: EmpiricalLoss, sizes, rank: int, seed: int) -> ERMResult:
    """w* of a bias-free deep linear network in the deepest stratum, without training:
    the reduced-rank regression solution (the least-squares map truncated to ``rank``
    in the metric of the input covariance Σ̂ = xᵀx/n: whiten, truncate the SVD,
    unwhiten) factored with every layer of rank ``rank`` (``model.factor_product``).
    It minimises L_n (MSE) over products of rank ≤ ``rank``, so ∇L_n(w*) = 0 up to
    rounding, on the data of ``loss``."""
    loss_fn = loss
    x, y = np.asarray(loss.x, np.float64), np.asarray(loss.y, np.float64)
    evals, evecs = np.linalg.eigh(x.T @ x / x.shape[0])
    evals = np.maximum(evals, evals.max() * 1e-12)
    root, inv_root = (evecs * evals**0.5) @ evecs.T, (evecs / evals**0.5) @ evecs.T
    u, s, vt = np.linalg.svd(root @ np.linalg.lstsq(x, y, rcond=None)[0], full_matrices=False)
    p_r = inv_root @ (u[:, :rank] * s[:rank]) @ vt[:rank]
    w = jnp.asarray(factor_product(p_r, sizes, rank, np.random.default_rng(seed), bias=False), jnp.float32)
    final_loss, grad = jax.value_and_grad(loss_fn)(w)
    return ERMResult(
        w_star=np.asarray(w),
        loss_trace=np.array([float(final_loss)]),
        trace_step=np.array([0]),
        final_loss=float(final_loss),
        grad_norm=float(jnp.linalg.norm(grad)),
    )
