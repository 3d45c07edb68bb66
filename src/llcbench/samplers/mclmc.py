"""Unadjusted MCLMC (BlackJAX ``mclmc``, ``isokinetic_mclachlan`` integrator: 2
gradients per step), with L, step size and a diagonal preconditioner tuned per
chain by ``blackjax.mclmc_find_L_and_step_size``; the chain then integrates with
``step_size_fraction`` of the tuned step (L and the preconditioner as tuned).

The tuner aims the typical step's energy error at ``desired_energy_var`` and
down-weights rare large errors in its average; at the step it returns, rare
integrator blow-ups (|ΔE| of tens of nats) stay in the chain and biased λ̂ by
1-3 % on the default experiment; at half of it there were none (README, "MCLMC's
bias"). Such steps are counted (``energy_spike``) whatever the fraction.

The tuner starts from a small step (``initial_step_size``) and L = √d instead of
its default step √d/4, from which it can return a zero step or a negative mass
entry on a trained MLP (docs/measurements.md); such a result fails the run as
``tuning_failed``.

The chain runs in offsets u = w − w* from the posterior's centre (``position``
adds w* back). The tuner estimates each coordinate's variance as E[u²] − E[u]²
from running averages of its positions; of raw w that difference cancels when
|w*| is large against the posterior's width (float32: relative error ≈ 6e-8 ×
w*²/variance per update), of offsets it does not, since E[u] is of the order of
the width. Nothing else in a step needs float64 (README, "MCLMC in float32").
"""

from __future__ import annotations

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from blackjax.mcmc.integrators import IntegratorState

from llcbench.samplers import Algorithm, Tuned, loss_from_state
from llcbench.samplers.spec import SamplerSpec, Stat

# An energy spike: a step whose ΔE²/d exceeds this multiple of desired_energy_var. The tuner aims the
# typical step at the target, and down-weights rare large errors in its average, so it does not see
# them; on the default experiment such steps (|ΔE| of tens of nats) were followed by ~20 draws of
# raised L_n and made λ̂ 1-3 % high, while at half the tuned step there were none (docs/samplers.md).
SPIKE_RATIO = 100  # SPEC's meaning of energy_spike says 100: keep them equal

SPEC = SamplerSpec(
    stats=(
        Stat("energy_change", "energy change per step (nats), mean over each draw's window; reverted steps left out", figure="energy_hist"),
        Stat(
            "energy_change_sq_per_dim",
            "squared energy change per step and dimension (nats²); the tuner aims its mean at desired_energy_var; reverted steps left out",
        ),
        Stat(
            "nan_revert",
            "steps BlackJAX's kernel reverted because they gave a non-finite position, momentum or energy",
            counts="nan_reverts",
        ),
        Stat(
            "energy_spike",
            "steps whose squared energy change per dimension exceeded 100 × desired_energy_var (SPIKE_RATIO; |ΔE| ten times "
            "the tuner's typical size): the integrator left its stable regime there, and each such step biases λ̂ upward",
            counts="energy_spikes",
        ),
        Stat("step_size", "integrator step size: step_size_fraction × the tuned one"),
    ),
    title_settings=("tune_steps", "desired_energy_var", "step_size_fraction"),
)

GRADS_PER_STEP = 2  # isokinetic McLachlan integrator


class MCLMCChain(NamedTuple):
    state: IntegratorState  # BlackJAX's state in offsets: its position is u = w − w*
    params: MCLMCAdaptationState
    centre: jax.Array  # w*

    @property
    def position(self):
        return self.centre + self.state.position


def offset_logdensity(posterior):
    """log π(w* + u) as a function of the offset u (what the kernel and the tuner see)."""
    return lambda u: posterior.logdensity(posterior.w_star + u)


class MCLMCStepInfo(NamedTuple):
    energy_change: jax.Array  # nats; NaN on a reverted step
    energy_change_sq_per_dim: jax.Array  # energy_change² / d; NaN on a reverted step
    nan_revert: jax.Array  # 1 where BlackJAX reverted the step (its info.nonans is False), else 0
    energy_spike: jax.Array  # 1 where energy_change² / d > SPIKE_RATIO · desired_energy_var, else 0
    step_size: jax.Array
    grads: jax.Array


def build(
    *, tune_steps: int, initial_step_size: float, desired_energy_var: float, step_size_fraction: float, diagonal_preconditioning: bool
) -> Algorithm:
    """MCLMC tuned from w* with a budget of ``tune_steps`` (the tuner runs about 30% of it as
    integrator steps, and reports how many: the tuning cost), sampling at ``step_size_fraction``
    (in (0, 1]) of the tuned step size."""
    kernel = blackjax.mcmc.mclmc.build_kernel(integrator=blackjax.mcmc.integrators.isokinetic_mclachlan)

    def init(key, posterior) -> MCLMCChain:
        """The state at w* (offset 0; momentum drawn with ``key``) with the tuner's starting parameters."""
        dtype = posterior.w_star.dtype
        start = MCLMCAdaptationState(
            L=jnp.sqrt(posterior.d).astype(dtype),
            step_size=jnp.asarray(initial_step_size, dtype),
            inverse_mass_matrix=jnp.ones(posterior.d, dtype),
        )
        state = blackjax.mcmc.mclmc.init(jnp.zeros_like(posterior.w_star), offset_logdensity(posterior), key)
        return MCLMCChain(state, start, posterior.w_star)

    def tune(key, posterior):
        k_init, k_tune = jax.random.split(key)
        start = init(k_init, posterior)
        state, params, tuning_steps = blackjax.mclmc_find_L_and_step_size(
            kernel,
            tune_steps,
            start.state,
            k_tune,
            logdensity_fn=offset_logdensity(posterior),
            diagonal_preconditioning=diagonal_preconditioning,
            desired_energy_var=desired_energy_var,
            params=start.params,
        )
        spent = GRADS_PER_STEP * tuning_steps
        sampling = params._replace(step_size=step_size_fraction * params.step_size)
        return MCLMCChain(state, sampling, start.centre), Tuned(
            {"step_size": sampling.step_size, "tuner_step_size": params.step_size, "L": params.L, "inv_mass": params.inverse_mass_matrix},
            spent,
        )

    def step(key, chain: MCLMCChain, posterior, record: bool):
        del record
        p = chain.params
        state, info = kernel(key, chain.state, offset_logdensity(posterior), p.inverse_mass_matrix, p.L, p.step_size)
        # BlackJAX keeps the previous position on a non-finite step and reports an energy change
        # of 0 there: count such steps and keep their 0 out of the energy statistics
        energy = jnp.where(info.nonans, info.energy_change, jnp.nan)
        energy_sq_per_dim = energy**2 / posterior.d
        return chain._replace(state=state), MCLMCStepInfo(
            energy,
            energy_sq_per_dim,
            (~info.nonans).astype(p.step_size.dtype),
            (energy_sq_per_dim > SPIKE_RATIO * desired_energy_var).astype(p.step_size.dtype),
            p.step_size,
            jnp.asarray(GRADS_PER_STEP, p.step_size.dtype),
        )

    return Algorithm(init, step, tune, loss_from_state)
