"""A test sampler plug-in whose chains blow up on purpose: plain BlackJAX SGLD, except that
each chain, chosen at ``init`` with probability ``break_probability`` from its own key, jumps
to +inf at step ``break_at``. The choice uses only JAX's counter-based generator (integer
arithmetic), so a seed breaks the same chains on every machine. tests/test_flags_workflow.py
runs it through the workflow to get a partly diverged run."""

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp

from llcbench.samplers import Algorithm, minibatch
from llcbench.samplers.spec import SamplerSpec

SPEC = SamplerSpec(
    stats=(),
    minibatch=True,
    title_settings=("step_size", "break_at"),
    settings_schema={
        "chains": {"default": 4},
        "steps": {"default": 600},
        "burn_in": {"default": 100},
        "eval_every": {"default": 5},
        "dtype": {"default": "float32"},
        "step_size": {"type": "number", "exclusiveMinimum": 0, "default": 1.0e-4},
        "batch_size": {"type": "integer", "minimum": 1, "default": 64},
        "break_at": {"description": "Step at which a doomed chain jumps to +inf.", "type": "integer", "minimum": 0, "default": 300},
        "break_probability": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
    },
)


class State(NamedTuple):
    position: jax.Array  # (d,)
    doomed: jax.Array  # () bool: this chain jumps to +inf at step break_at
    t: jax.Array  # () int32: steps taken


class Info(NamedTuple):
    grads: jax.Array  # one minibatch gradient: batch_size / n full-data equivalents


def build(*, step_size: float, batch_size: int, break_at: int, break_probability: float) -> Algorithm:
    kernel = blackjax.sgld.build_kernel()

    def init(key, posterior) -> State:
        doomed = jax.random.uniform(key) < break_probability
        return State(posterior.w_star, doomed, jnp.zeros((), jnp.int32))

    def step(key, state: State, posterior, record: bool):
        del record
        k_batch, k_step = jax.random.split(key)
        batch = minibatch.draw(k_batch, posterior, batch_size)
        w = kernel(k_step, state.position, minibatch.grad_estimator(posterior), batch, step_size)
        w = jnp.where(state.doomed & (state.t == break_at), jnp.inf, w)
        return State(w, state.doomed, state.t + 1), Info(jnp.asarray(batch_size / posterior.n, w.dtype))

    return Algorithm(init, step)
