"""The empirical loss of a data set and the tempered local posterior around w*:

    log π(w) = −nβ·L_n(w) − γ/2·‖w − w*‖²

with L_n the mean per-sample loss over the full data set, β = β₀/log n unless
given, and γ given or d/r² from a prior radius r.

Both are JAX pytrees: the arrays (x, y, w*) are leaves, so a compiled function
that takes a posterior as an argument is shared by every data set and w* of the
same shapes; the model and loss functions, β and γ are static (compiled in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp

from llcbench.model import make_apply

LOSSES = ("mse", "student_t")


def row_loss_fn(settings: dict) -> Callable:
    """Per-sample loss ``(pred, y) -> scalar`` for pred, y of shape (out_dim,).

    - mse: ‖y − pred‖² (sum over outputs).
    - student_t: negative log-likelihood of a Student-t with ``df`` degrees of
      freedom and scale ``scale``, constants included, summed over outputs.
    """
    kind = settings["kind"]
    if kind == "mse":
        return lambda pred, y: jnp.sum(jnp.square(y - pred))
    if kind == "student_t":
        df, scale = settings["df"], settings["scale"]
        const = jax.scipy.special.gammaln((df + 1) / 2) - jax.scipy.special.gammaln(df / 2) - 0.5 * math.log(df * math.pi) - math.log(scale)

        def nll(pred, y):
            z2 = jnp.square((y - pred) / scale)
            return jnp.sum(0.5 * (df + 1) * jnp.log1p(z2 / df) - const)

        return nll
    raise ValueError(f"loss.kind: unknown {kind!r}; allowed: {', '.join(LOSSES)}")


def inverse_temperature(n: int, beta0: float, beta: float | None) -> float:
    """β: explicit when given, else β₀ / log n."""
    return float(beta) if beta is not None else float(beta0) / math.log(n)


def localization(d: int, gamma: float | None, prior_radius: float | None) -> float:
    """γ: explicit when given, else d / r² from the prior radius r."""
    if gamma is not None:
        return float(gamma)
    if prior_radius is None:
        raise ValueError("posterior: give gamma or prior_radius")
    return d / float(prior_radius) ** 2


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class EmpiricalLoss:
    """L_n of a model on a data set: ``x`` (n, in_dim), ``y`` (n, out_dim)."""

    x: jax.Array
    y: jax.Array
    apply: Callable = field(metadata=dict(static=True))  # (w (d,), x (m, in_dim)) -> (m, out_dim)
    row_loss: Callable = field(metadata=dict(static=True))  # (pred (out_dim,), y (out_dim,)) -> scalar

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def rows(self, w, x, y):
        """(m,) the loss of each row of (x, y)."""
        return jax.vmap(self.row_loss)(self.apply(w, x), y)

    def batch(self, w, x, y):
        """Mean per-sample loss over the rows of (x, y)."""
        return jnp.mean(self.rows(w, x, y))

    def __call__(self, w):
        """L_n(w): the mean loss over all n rows."""
        return self.batch(w, self.x, self.y)


def empirical_loss(settings: dict, x, y, dtype: str = "float32") -> EmpiricalLoss:
    """The loss of the model in ``settings`` (``layer_sizes``, ``model``, ``loss``) on (x, y), arrays in ``dtype``."""
    m = settings["model"]
    return EmpiricalLoss(
        x=jnp.asarray(x, dtype),
        y=jnp.asarray(y, dtype),
        apply=make_apply(settings["layer_sizes"], m["activation"], m["bias"]),
        row_loss=row_loss_fn(settings["loss"]),
    )


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LocalPosterior:
    """Everything a sampler needs: the data loss, the centre ``w_star`` (d,), β and γ."""

    data_loss: EmpiricalLoss
    w_star: jax.Array
    beta: float = field(metadata=dict(static=True))
    gamma: float = field(metadata=dict(static=True))

    @property
    def n(self) -> int:
        return self.data_loss.n

    @property
    def d(self) -> int:
        return int(self.w_star.shape[0])

    @property
    def nbeta(self) -> float:
        return self.n * self.beta

    @property
    def x(self):
        return self.data_loss.x

    @property
    def y(self):
        return self.data_loss.y

    def batch_loss(self, w, x, y):
        """Mean per-sample loss over the rows of (x, y)."""
        return self.data_loss.batch(w, x, y)

    def loss(self, w):
        """L_n(w): full-batch mean loss."""
        return self.data_loss(w)

    def row_losses(self, w):
        """(n,) the loss of each of the n rows at w (one full-data forward pass)."""
        return self.data_loss.rows(w, self.x, self.y)

    def log_prior(self, w):
        """−γ/2·‖w − w*‖² (the Gaussian localisation)."""
        return -0.5 * self.gamma * jnp.sum(jnp.square(w - self.w_star))

    def logdensity(self, w):
        """Full-batch log π(w) up to a constant."""
        return -self.nbeta * self.loss(w) + self.log_prior(w)

    def loss_from_logdensity(self, w, logdensity):
        """L_n(w) from ``logdensity`` = log π(w) (as ``logdensity`` computes it), without a
        forward pass: for samplers whose state carries log π at its position."""
        return (self.log_prior(w) - logdensity) / self.nbeta

    def loglikelihood_row(self, w, row):
        """−β·loss of one sample ``row = (x_i, y_i)``; BlackJAX's minibatch
        gradient estimator multiplies its batch mean by n."""
        x_i, y_i = row
        return -self.beta * self.data_loss.row_loss(self.data_loss.apply(w, x_i[None])[0], y_i)
