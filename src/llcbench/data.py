"""Teacher–student regression data: inputs from five distributions, outputs from a
teacher MLP plus one of four noise models.

All draws derive from one ``jax.random`` key. Shapes: ``x`` (n, in_dim),
``y`` and ``y_clean`` (n, out_dim).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from llcbench.model import factor_product, init_params, layer_sizes, linear_product, make_apply, weight_matrices
from llcbench.truth import numerical_rank

X_DISTS = ("isotropic", "anisotropic", "mixture", "low_dim", "heavy_tailed")
NOISES = ("gaussian", "heteroscedastic", "student_t", "outliers")


@dataclass(frozen=True)
class Dataset:
    x: jax.Array  # (n, in_dim)
    y: jax.Array  # (n, out_dim)
    y_clean: jax.Array  # (n, out_dim), teacher output without noise
    teacher_w: jax.Array  # (d_teacher,)
    teacher_sizes: list[int]
    teacher_rank: int  # numerical rank of the teacher's product W_1⋯W_L (identity teachers), else −1


def sample_inputs(key, s: dict, n: int) -> jax.Array:
    """Inputs (n, in_dim) drawn from ``s["x_dist"]``:

    - isotropic: N(0, I).
    - anisotropic: N(0, diag(sd²)), sd log-spaced from 1 down to 1/anisotropy.
    - mixture: equal-weight mixture of ``mixture_components`` N(mu_k, I) with
      mu_k ~ N(0, mixture_spread² I).
    - low_dim: x = A z + manifold_noise·ε, z ~ N(0, I_k), k = manifold_dim,
      A (k, in_dim) with N(0, 1/k) entries (so E|x_j|² ≈ 1).
    - heavy_tailed: i.i.d. Student-t with ``x_df`` degrees of freedom.
    """
    dim = s["in_dim"]
    k1, k2, k3 = jax.random.split(key, 3)
    kind = s["x_dist"]
    if kind == "isotropic":
        return jax.random.normal(k1, (n, dim))
    if kind == "anisotropic":
        sd = jnp.logspace(0.0, -jnp.log10(s["anisotropy"]), dim)
        return jax.random.normal(k1, (n, dim)) * sd
    if kind == "mixture":
        centers = s["mixture_spread"] * jax.random.normal(k1, (s["mixture_components"], dim))
        labels = jax.random.randint(k2, (n,), 0, s["mixture_components"])
        return centers[labels] + jax.random.normal(k3, (n, dim))
    if kind == "low_dim":
        k = s["manifold_dim"]
        basis = jax.random.normal(k1, (k, dim)) / jnp.sqrt(k)
        return jax.random.normal(k2, (n, k)) @ basis + s["manifold_noise"] * jax.random.normal(k3, (n, dim))
    if kind == "heavy_tailed":
        return jax.random.t(k1, s["x_df"], (n, dim))
    raise ValueError(f"data.x_dist: unknown {kind!r}; allowed: {', '.join(X_DISTS)}")


def sample_noise(key, s: dict, x: jax.Array, shape) -> jax.Array:
    """Additive output noise of ``shape`` (n, out_dim) from ``s["noise"]``:

    - gaussian: noise_sd·ε.
    - heteroscedastic: noise_sd·(1 + |x[:, 0]|)·ε (sd grows with the first input).
    - student_t: noise_sd·t(noise_df).
    - outliers: noise_sd·ε, except a fraction ``outlier_fraction`` of rows drawn
      with sd ``outlier_sd``.
    """
    k1, k2 = jax.random.split(key)
    sd = s["noise_sd"]
    kind = s["noise"]
    if kind == "gaussian":
        return sd * jax.random.normal(k1, shape)
    if kind == "heteroscedastic":
        return sd * (1.0 + jnp.abs(x[:, :1])) * jax.random.normal(k1, shape)
    if kind == "student_t":
        return sd * jax.random.t(k1, s["noise_df"], shape)
    if kind == "outliers":
        is_outlier = jax.random.bernoulli(k2, s["outlier_fraction"], (shape[0], 1))
        return jnp.where(is_outlier, s["outlier_sd"], sd) * jax.random.normal(k1, shape)
    raise ValueError(f"data.noise: unknown {kind!r}; allowed: {', '.join(NOISES)}")


def make_dataset(seed: int, s: dict) -> Dataset:
    """Draw the teacher, the inputs and the noisy outputs for data settings ``s``
    (the ``data`` block of an experiment) from ``seed``. float32 throughout.
    A teacher ``rank`` r (identity teachers only) replaces the random teacher by the
    rank-r truncation of its product, re-factored with every layer of rank r."""
    key = jax.random.fold_in(jax.random.key(seed), 0)
    k_teacher, k_x, k_noise = jax.random.split(key, 3)
    t = s["teacher"]
    sizes = layer_sizes(s["in_dim"], s["out_dim"], t["depth"], t["widths"])
    teacher_w = init_params(k_teacher, sizes)
    product = linear_product(weight_matrices(teacher_w, sizes))
    if t["rank"] is not None:
        teacher_w = jnp.asarray(factor_product(product, sizes, t["rank"], np.random.default_rng(seed)), jnp.float32)
        product = linear_product(weight_matrices(teacher_w, sizes))
    x = sample_inputs(k_x, s, s["n"])
    y_clean = make_apply(sizes, t["activation"])(teacher_w, x)
    y = y_clean + sample_noise(k_noise, s, x, y_clean.shape)
    rank = numerical_rank(product) if t["activation"] == "identity" else -1
    return Dataset(x=x, y=y, y_clean=y_clean, teacher_w=teacher_w, teacher_sizes=sizes, teacher_rank=rank)


def nonfinite_rows(x: np.ndarray, y: np.ndarray) -> int:
    """Samples whose x (in_dim,) or y (out_dim,) holds a NaN or inf."""
    return int((~(np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1))).sum())


def failure(nonfinite: int, n: int) -> str:
    """``data_nonfinite: <k> of <n> rows …`` when ``nonfinite`` > 0 rows of x or y hold NaN
    or inf (nothing can be trained or sampled on them), else ''."""
    return f"data_nonfinite: {nonfinite} of {n} rows have a non-finite x or y" if nonfinite else ""
