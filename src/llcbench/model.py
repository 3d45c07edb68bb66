"""MLP students and teachers: layer sizes, parameter counts, init and forward pass.

Parameters travel as one flat float vector ``w`` of shape ``(d,)`` (the layout of
``jax.flatten_util.ravel_pytree`` over ``[(W_1, b_1), ..., (W_L, b_L)]`` with
``W_l`` of shape ``(fan_in, fan_out)``), so samplers see a plain vector.
"""

from __future__ import annotations

import math

ACTIVATIONS = ("relu", "tanh", "gelu", "identity")


def count_params(layer_sizes: list[int]) -> int:
    """Number of weights and biases of a dense MLP with these layer sizes."""
    return sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


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


def init_params(key, sizes: list[int], dtype="float32"):
    """He/LeCun-style normal init: W ~ N(0, 1/fan_in), b = 0. Returns a flat
    vector of shape ``(d,)``."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(key, len(sizes) - 1)
    parts = []
    for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:]):
        parts.append((jax.random.normal(k, (fan_in * fan_out,), dtype) / jnp.sqrt(fan_in)))
        parts.append(jnp.zeros((fan_out,), dtype))
    return jnp.concatenate(parts)


def make_apply(sizes: list[int], activation: str):
    """``apply(w, x)``: forward pass of flat parameters ``w`` (d,) on inputs
    ``x`` (n, in_dim) giving outputs (n, out_dim). Hidden layers use
    ``activation``; the output layer is linear."""
    act = activation_fn(activation)
    shapes = list(zip(sizes[:-1], sizes[1:]))

    def apply(w, x):
        offset = 0
        h = x
        for i, (fan_in, fan_out) in enumerate(shapes):
            W = w[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
            offset += fan_in * fan_out
            b = w[offset : offset + fan_out]
            offset += fan_out
            h = h @ W + b
            if i < len(shapes) - 1:
                h = act(h)
        return h

    return apply
