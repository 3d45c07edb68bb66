"""HMC (BlackJAX ``hmc``) on the full-batch posterior, step size and diagonal
inverse mass matrix tuned per chain by ``blackjax.window_adaptation``."""

from __future__ import annotations

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.mcmc.hmc import HMCState

from llcbench.samplers import Algorithm, Tuned, loss_from_state
from llcbench.samplers.spec import SamplerSpec, Stat

SPEC = SamplerSpec(
    stats=(
        Stat("acceptance_rate", "Metropolis acceptance probability of each HMC trajectory (target: target_accept)", figure="acceptance"),
        Stat("is_divergent", "divergent trajectories (energy error above BlackJAX's threshold)", counts="divergences"),
        Stat("step_size", "leapfrog step size (tuned)"),
    ),
    title_settings=("num_integration_steps", "adapt_steps", "target_accept"),
)


class HMCChain(NamedTuple):
    state: HMCState
    step_size: jax.Array
    inverse_mass_matrix: jax.Array  # (d,)

    @property
    def position(self):
        return self.state.position


class HMCStepInfo(NamedTuple):
    acceptance_rate: jax.Array
    is_divergent: jax.Array
    step_size: jax.Array
    grads: jax.Array


def build(*, adapt_steps: int, num_integration_steps: int, initial_step_size: float, target_accept: float) -> Algorithm:
    """HMC with ``num_integration_steps`` leapfrog steps, tuned by ``adapt_steps`` steps of window adaptation from w*."""
    kernel = blackjax.hmc.build_kernel()

    def tune(key, posterior):
        warmup = blackjax.window_adaptation(
            blackjax.hmc,
            posterior.logdensity,
            initial_step_size=initial_step_size,
            target_acceptance_rate=target_accept,
            adaptation_info_fn=blackjax.adaptation.base.get_filter_adapt_info_fn(),
            num_integration_steps=num_integration_steps,
        )
        (state, params), _ = warmup.run(key, posterior.w_star, num_steps=adapt_steps)
        chain = HMCChain(state, params["step_size"], params["inverse_mass_matrix"])
        return chain, Tuned({"step_size": chain.step_size, "inv_mass": chain.inverse_mass_matrix}, adapt_steps * num_integration_steps)

    def init(key, posterior) -> HMCChain:
        """The state at w* with the untuned step size and a unit mass matrix."""
        del key
        state = blackjax.hmc.init(posterior.w_star, posterior.logdensity)
        return HMCChain(state, jnp.asarray(initial_step_size, posterior.w_star.dtype), jnp.ones_like(posterior.w_star))

    def step(key, chain: HMCChain, posterior, record: bool):
        del record
        state, info = kernel(key, chain.state, posterior.logdensity, chain.step_size, chain.inverse_mass_matrix, num_integration_steps)
        grads = jnp.asarray(num_integration_steps, chain.step_size.dtype)
        return chain._replace(state=state), HMCStepInfo(info.acceptance_rate, info.is_divergent, chain.step_size, grads)

    return Algorithm(init, step, tune, loss_from_state)
