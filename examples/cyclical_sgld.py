"""Cyclical SGLD (cSGLD: Zhang et al. 2020, "Cyclical Stochastic Gradient MCMC for
Bayesian Deep Learning") as an llcbench sampler plug-in; see docs/samplers.md.

Step k is BlackJAX's SGLD update on a fresh minibatch (``minibatch.draw``: rows
with replacement) with a cosine step size that restarts every K = ``cycle_length``
steps: h_k = h/2 · (cos(π·(k mod K)/K) + 1), from h = ``step_size`` down to about 0.
Large steps explore, small ones sample; the trace records h_k as ``step_size``.

Run it next to the built-ins (the path is relative to the working directory):

    base:
      run_samplers: [sgld, cyclic]
      samplers:
        cyclic: {module: examples/cyclical_sgld.py, step_size: 2.0e-5, cycle_length: 1000}
"""

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp

from llcbench.samplers import Algorithm, minibatch
from llcbench.samplers.spec import SamplerSpec, Stat

SPEC = SamplerSpec(
    stats=(Stat("step_size", "SGLD step size h_k of the cosine schedule (mean over each draw's window)", at="step", figure="step_size"),),
    minibatch=True,
    title_settings=("step_size", "cycle_length", "batch_size"),
    settings_schema={
        "chains": {"default": 4},
        "steps": {"default": 20000},
        "burn_in": {"default": 5000},
        "eval_every": {"default": 20},
        "dtype": {"default": "float32"},
        "step_size": {"description": "Peak step size h (BlackJAX convention).", "type": "number", "exclusiveMinimum": 0, "default": 2.0e-5},
        "cycle_length": {"description": "Steps per cosine cycle K.", "type": "integer", "minimum": 1, "default": 1000},
        "batch_size": {"type": "integer", "minimum": 1, "default": 256},
    },
)


class State(NamedTuple):
    position: jax.Array  # (d,)
    t: jax.Array  # steps taken: the schedule's clock


class Info(NamedTuple):
    step_size: jax.Array  # h_k of this step (the declared Stat)
    grads: jax.Array  # full-data-equivalent gradients: one minibatch gradient = batch_size / n


def build(*, step_size: float, cycle_length: int, batch_size: int) -> Algorithm:
    kernel = blackjax.sgld.build_kernel()

    def init(key, posterior) -> State:
        return State(posterior.w_star, jnp.zeros((), jnp.int32))

    def step(key, state: State, posterior, record: bool):
        dtype = state.position.dtype
        h = (step_size / 2 * (jnp.cos(jnp.pi * (state.t % cycle_length) / cycle_length) + 1)).astype(dtype)
        k_batch, k_noise = jax.random.split(key)
        batch = minibatch.draw(k_batch, posterior, batch_size)
        w = kernel(k_noise, state.position, minibatch.grad_estimator(posterior), batch, h)
        return State(w, state.t + 1), Info(h, jnp.asarray(batch_size / posterior.n, dtype))

    return Algorithm(init, step)
