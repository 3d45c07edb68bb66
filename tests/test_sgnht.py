"""SGNHT (llcbench.samplers.sgnht): each step takes its minibatch gradient at the position it
moves to (semi-implicit Euler, as SGHMC), and the momentum and thermostat carry over."""

import jax
import jax.numpy as jnp
import numpy as np

from conftest import quadratic_posterior
from llcbench.samplers import instantiate

H = 1e-3
SEEN: list[np.ndarray] = []  # positions the model was evaluated at


def recording_posterior():
    """The quadratic posterior of conftest.quadratic whose model records every w it is evaluated at."""
    return quadratic_posterior(lambda rows, w: SEEN.append(np.asarray(w)))


def test_each_step_takes_its_gradient_where_it_moves_to_and_carries_its_momentum_and_thermostat():
    post = recording_posterior()
    _, algorithm = instantiate("sgnht", {"step_size": H, "batch_size": 200, "alpha": 10.0})
    step = jax.jit(lambda k, s: algorithm.step(k, s, post, False))
    state = algorithm.init(jax.random.key(0), post)
    assert float(jnp.std(state.momentum)) > 0.5 and float(state.xi) == 10.0  # p ~ N(0, I), ξ = α at the start
    for i in range(3):
        jax.effects_barrier()
        SEEN.clear()
        new, info = step(jax.random.key(i + 1), state)
        jax.effects_barrier()
        moved = state.position + H * state.momentum
        np.testing.assert_allclose(new.position, moved, rtol=0, atol=1e-6)  # w ← w + h·p with the p the last step left
        # the one forward pass of the step (its gradient) is at the moved w; BlackJAX's kernel
        # evaluates it at the w the step starts from
        assert len(SEEN) == 1
        np.testing.assert_allclose(SEEN[0], moved, rtol=0, atol=1e-6)
        assert np.max(np.abs(SEEN[0] - state.position)) > 1e-4
        # ξ ← ξ + h·(|p|²/d − 1), with the updated p
        np.testing.assert_allclose(new.xi, state.xi + H * (np.mean(np.square(new.momentum)) - 1), rtol=1e-5)
        assert float(info.thermostat) == float(new.xi)
        state = new
