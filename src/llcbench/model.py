"""MLP students and teachers: layer sizes, parameter counts, init and forward pass.

Parameters travel as one flat float vector ``w`` of shape ``(d,)`` (the layout of
``jax.flatten_util.ravel_pytree`` over ``[(W_1, b_1), ..., (W_L, b_L)]`` with
``W_l`` of shape ``(fan_in, fan_out)``; without biases, ``[W_1, ..., W_L]``), so
samplers see a plain vector.
"""

from __future__ import annotations

import functools
import math

import numpy as np

ACTIVATIONS = ("relu", "tanh", "gelu", "identity")


def count_params(layer_sizes: list[int], bias: bool = True) -> int:
    """Number of weights (and biases, unless ``bias`` is false) of a dense MLP with these layer sizes."""
    return sum(a * b + (b if bias else 0) for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def width_for_target(in_dim: int, out_dim: int, depth: int, target_params: int) -> int:
    """The hidden width h (same for every hidden layer) whose parameter count is
    closest to ``target_params`` for ``depth`` hidden layers."""
    # count(h) = (depth-1) h^2 + (in_dim + depth + out_dim) h + out_dim
    a, b, c = depth - 1, in_dim + depth + out_dim, out_dim - target_params
    h = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(1, math.floor(h)), max(1, math.ceil(h))}
    return min(
        sorted(candidates),
        key=lambda w: abs(count_params([in_dim] + [w] * depth + [out_dim]) - target_params),
    )


def layer_sizes(
    in_dim: int,
    out_dim: int,
    depth: int,
    widths: list[int] | None = None,
    target_params: int | None = None,
) -> list[int]:
    """``[in_dim, h_1, ..., h_depth, out_dim]``. Explicit ``widths`` win over
    ``target_params``; ``depth`` must then equal ``len(widths)``."""
    if widths:
        if len(widths) != depth:
            raise ValueError(f"widths {widths} has {len(widths)} entries but depth is {depth}")
        return [in_dim, *widths, out_dim]
    if target_params is None:
        raise ValueError("give either widths or target_params")
    return [in_dim] + [width_for_target(in_dim, out_dim, depth, target_params)] * depth + [out_dim]


def activation_fn(name: str):
    """The elementwise nonlinearity called ``name`` (one of ACTIVATIONS)."""
    import jax

    return {
        "relu": jax.nn.relu,
        "tanh": jax.numpy.tanh,
        "gelu": jax.nn.gelu,
        "identity": lambda z: z,
    }[name]


def init_params(key, sizes: list[int], dtype="float32", bias: bool = True):
    """He/LeCun-style normal init: W ~ N(0, 1/fan_in), b = 0 (no b when ``bias``
    is false). Returns a flat vector of shape ``(d,)``."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(key, len(sizes) - 1)
    parts = []
    for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:]):
        parts.append((jax.random.normal(k, (fan_in * fan_out,), dtype) / jnp.sqrt(fan_in)))
        if bias:
            parts.append(jnp.zeros((fan_out,), dtype))
    return jnp.concatenate(parts)


def make_apply(sizes: list[int], activation: str, bias: bool = True):
    """``apply(w, x)``: forward pass of flat parameters ``w`` (d,) on inputs
    ``x`` (n, in_dim) giving outputs (n, out_dim). Hidden layers use
    ``activation``; the output layer is linear; ``bias`` false drops every b."""
    act = activation_fn(activation)
    shapes = list(zip(sizes[:-1], sizes[1:]))

    def apply(w, x):
        offset = 0
        h = x
        for i, (fan_in, fan_out) in enumerate(shapes):
            W = w[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
            offset += fan_in * fan_out
            h = h @ W
            if bias:
                h = h + w[offset : offset + fan_out]
                offset += fan_out
            if i < len(shapes) - 1:
                h = act(h)
        return h

    return apply


def weight_matrices(w, sizes: list[int], bias: bool = True) -> list[np.ndarray]:
    """The weight matrices W_l (fan_in, fan_out) of flat parameters ``w`` (d,), biases skipped."""
    w, out, offset = np.asarray(w), [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        out.append(w[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out + (fan_out if bias else 0)
    return out


def linear_product(weights: list) -> np.ndarray:
    """W_1⋯W_L (in_dim, out_dim) in float64: the map of a linear network without biases."""
    return functools.reduce(np.matmul, [np.asarray(w, np.float64) for w in weights])


def factor_product(p: np.ndarray, sizes: list[int], rank: int, rng: np.random.Generator, bias: bool = True) -> np.ndarray:
    """Flat parameters (d,) of a linear network whose product W_1⋯W_L is the best
    rank-``rank`` approximation U_r S_r V_rᵀ of ``p`` (in_dim, out_dim), every layer of
    rank exactly ``rank`` and balanced: W_1 = U_r S^(1/L) Q_1ᵀ, W_l = Q_(l−1) S^(1/L) Q_lᵀ,
    W_L = Q_(L−1) S^(1/L) V_rᵀ with random orthonormal Q_l (H_l, rank). Biases are zero."""
    u, s, vt = np.linalg.svd(np.asarray(p, np.float64), full_matrices=False)
    depth = len(sizes) - 1
    root = np.diag(s[:rank] ** (1.0 / depth))
    qs = [u[:, :rank]] + [np.linalg.qr(rng.standard_normal((h, rank)))[0] for h in sizes[1:-1]] + [vt[:rank].T]
    parts = []
    for i, q_out in enumerate(qs[1:]):
        parts.append((qs[i] @ root @ q_out.T).ravel())
        if bias:
            parts.append(np.zeros(sizes[i + 1]))
    return np.concatenate(parts)
