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


def train(loss: EmpiricalLoss, sizes, settings: dict, seed: int, bias: bool = True) -> ERMResult:
    """Minimise L_n = ``loss(w)`` from a fresh init, with minibatches of
    ``settings['batch_size']`` rows (full batch when null) via ``loss.batch(w, x, y)``."""
    loss_fn, batch_loss_fn, x, y = loss, loss.batch, loss.x, loss.y
    key = jax.random.fold_in(jax.random.key(seed), 1)
    k_init, k_batches = jax.random.split(key)
    w0 = init_params(k_init, sizes, bias=bias) * settings["init_scale"]
    opt = make_optimizer(settings)
    steps, n = settings["steps"], x.shape[0]
    batch_size = settings["batch_size"] or n
    every = max(1, steps // LOG_POINTS)

    def step(carry, key):
        w, opt_state = carry
        if batch_size >= n:
            grads = jax.grad(loss_fn)(w)
        else:
            idx = jax.random.randint(key, (batch_size,), 0, n)
            grads = jax.grad(batch_loss_fn)(w, x[idx], y[idx])
        updates, opt_state = opt.update(grads, opt_state, w)
        return (optax.apply_updates(w, updates), opt_state), None

    def chunk(carry, keys):
        carry, _ = jax.lax.scan(step, carry, keys)
        return carry, loss_fn(carry[0])

    @jax.jit
    def run(w0, key):
        keys = jax.random.split(key, (steps // every, every))
        (w, _), trace = jax.lax.scan(chunk, (w0, opt.init(w0)), keys)
        return w, trace

    w, trace = run(w0, k_batches)
    final_loss, grad = jax.value_and_grad(loss_fn)(w)
    return ERMResult(
        w_star=np.asarray(w),
        loss_trace=np.asarray(trace),
        trace_step=np.arange(1, len(trace) + 1) * every,
        final_loss=float(final_loss),
        grad_norm=float(jnp.linalg.norm(grad)),
    )


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
