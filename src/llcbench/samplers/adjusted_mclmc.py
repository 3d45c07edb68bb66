"""Adjusted (Metropolis-corrected) MCLMC: BlackJAX ``adjusted_mclmc`` with its tuner
``adjusted_mclmc_find_L_and_step_size`` aiming at ``target_accept`` (≈ 0.9). Each
step integrates ⌈L/ε⌉ isokinetic McLachlan steps (2 gradients each), then accepts
or rejects; acceptance and divergences are recorded like HMC's."""

from __future__ import annotations

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from blackjax.mcmc.hmc import HMCState

from llcbench.samplers import Algorithm, Tuned, loss_from_state
from llcbench.samplers.spec import SamplerSpec, Stat

SPEC = SamplerSpec(
    stats=(
        Stat("acceptance_rate", "Metropolis acceptance probability of each trajectory (target: target_accept)", figure="acceptance"),
        Stat("is_divergent", "divergent trajectories (energy error above BlackJAX's threshold)", counts="divergences"),
        Stat("step_size", "integrator step size (tuned)"),
    ),
    title_settings=("tune_steps", "target_accept"),
)

GRADS_PER_INTEGRATOR_STEP = 2  # isokinetic McLachlan


class AdjustedMCLMCChain(NamedTuple):
    state: HMCState
    params: MCLMCAdaptationState

    @property
    def position(self):
        return self.state.position


class AdjustedMCLMCStepInfo(NamedTuple):
    acceptance_rate: jax.Array
    is_divergent: jax.Array
    step_size: jax.Array
    grads: jax.Array


def build(*, tune_steps: int, initial_step_size: float, target_accept: float, diagonal_preconditioning: bool) -> Algorithm:
    """Adjusted MCLMC tuned from w*, starting from ``initial_step_size`` (the tuner pins
    L = 2ε while it adapts the step to the target acceptance)."""
    base = blackjax.mcmc.adjusted_mclmc.build_kernel()

    def kernel(rng_key, state, logdensity_fn, step_size, integration_steps_params, inverse_mass_matrix):
        """BlackJAX's kernel, reporting the integrator steps it ran: for a trajectory of
        L/ε steps its loop (a ``fori_loop`` with a float bound) runs ⌈L/ε⌉, while its info
        reports L/ε, and its tuner sums that info into its count (the tuning cost)."""
        state, info = base(rng_key, state, logdensity_fn, step_size, integration_steps_params, inverse_mass_matrix)
        (num_integration_steps,) = integration_steps_params
        return state, info._replace(num_integration_steps=jnp.ceil(num_integration_steps))

    def init(key, posterior) -> AdjustedMCLMCChain:
        """The state at w* with the tuner's starting parameters."""
        del key
        dtype = posterior.w_star.dtype
        start = MCLMCAdaptationState(
            L=jnp.asarray(2 * initial_step_size, dtype),
            step_size=jnp.asarray(initial_step_size, dtype),
            inverse_mass_matrix=jnp.ones(posterior.d, dtype),
        )
        return AdjustedMCLMCChain(blackjax.mcmc.adjusted_mclmc.init(posterior.w_star, posterior.logdensity), start)

    def tune(key, posterior):
        start = init(key, posterior)
        state, params, n_tune = blackjax.adjusted_mclmc_find_L_and_step_size(
            kernel,
            posterior.logdensity,
            tune_steps,
            start.state,
            key,
            target=target_accept,
            diagonal_preconditioning=diagonal_preconditioning,
            params=start.params,
        )
        tuned = {
            "step_size": params.step_size,
            "L": params.L,
            "integration_steps": jnp.ceil(params.L / params.step_size),
            "inv_mass": params.inverse_mass_matrix,
        }
        return AdjustedMCLMCChain(state, params), Tuned(tuned, GRADS_PER_INTEGRATOR_STEP * n_tune)

    def step(key, chain: AdjustedMCLMCChain, posterior, record: bool):
        del record
        p = chain.params
        state, info = kernel(key, chain.state, posterior.logdensity, p.step_size, (p.L / p.step_size,), p.inverse_mass_matrix)
        grads = GRADS_PER_INTEGRATOR_STEP * info.num_integration_steps  # ⌈L/ε⌉ integrator steps
        return chain._replace(state=state), AdjustedMCLMCStepInfo(info.acceptance_rate, info.is_divergent, p.step_size, grads)

    return Algorithm(init, step, tune, loss_from_state)
