"""Each sampler on a quadratic loss, whose tempered local posterior is Gaussian and
whose learning coefficient is known.

Model: linear regression y = x·a + b with exact (noise-free) targets, so
L_n(w) = (w − w0)ᵀ C (w − w0) with C = E[x̃ x̃ᵀ] (x̃ = [x, 1]), L_n(w0) = 0. The
posterior is N(w0, Σ), Σ = (2nβ C + γ I)⁻¹, so E[nβ L_n] = nβ tr(C Σ) exactly;
this is d/2 up to the O(γ / nβ) localisation shift.
"""

import jax
import numpy as np
import pytest

from llcbench import llc
from llcbench.samplers import instantiate
from llcbench.samplers.driver import run_chains

SGLD = {
    "chains": 4,
    "steps": 30_000,
    "burn_in": 3_000,
    "eval_every": 10,
    "step_size": 1e-5,
    "batch_size": 200,
    "precond": "none",
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "bias_correction": True,
}
SETTINGS = {
    # h·a_max/2 ≈ 1e-5·2·2000·~2/2 ≈ 0.04 at the stiffest direction: SGLD's
    # discretisation inflates that direction's variance by ~2%, less on average.
    "sgld": SGLD,
    # RMSProp G ≈ 1/|nβ∇L| ~ 1/60 at equilibrium: h = 5e-4 gives an effective step hG
    # of ~1e-5. eps = 1 caps G at 1: at an exact minimum (this w0) every minibatch
    # gradient is 0, and eps = 1e-8 would make G = 1e8 on the first step.
    "sgld_rmsprop": {**SGLD, "precond": "rmsprop", "step_size": 5e-4, "eps": 1.0},
    # SGHMC takes each gradient at the moved w (symplectic Euler): at h = 1e-3, h·√a_max ≈ 0.07,
    # and its stationary variance on a Gaussian is (1 + h²a/4 + …)-inflated, 0.1% here; the
    # rest of its bias is the minibatch noise, ∝ h/α.
    "sghmc": {
        "chains": 4,
        "steps": 20_000,
        "burn_in": 2_000,
        "eval_every": 10,
        "step_size": 1e-3,
        "batch_size": 200,
        "num_integration_steps": 1,
        "alpha": 10.0,
    },
    # The thermostat absorbs the minibatch noise: h·√a_max ≈ 0.27 is accurate (+0.5% measured).
    "sgnht": {"chains": 4, "steps": 30_000, "burn_in": 3_000, "eval_every": 10, "step_size": 3e-3, "batch_size": 200, "alpha": 10.0},
    "adjusted_mclmc": {
        "chains": 4,
        "steps": 2_000,
        "burn_in": 0,
        "eval_every": 1,
        "tune_steps": 1_000,
        "initial_step_size": 0.05,
        "target_accept": 0.9,
        "diagonal_preconditioning": True,
    },
    "hmc": {
        "chains": 4,
        "steps": 1_500,
        "burn_in": 0,
        "eval_every": 1,
        "adapt_steps": 500,
        "num_integration_steps": 8,
        "initial_step_size": 0.01,
        "target_accept": 0.8,
    },
    "mclmc": {
        "chains": 4,
        "steps": 6_000,
        "burn_in": 0,
        "eval_every": 2,
        "tune_steps": 2_000,
        "initial_step_size": 0.05,
        "desired_energy_var": 5e-4,
        "step_size_fraction": 1.0,
        "diagonal_preconditioning": True,
    },
}


def run(post, name, settings, key=1):
    """Tune and run sampler ``name`` (``<builtin>`` or ``<builtin>_<variant>``) with
    ``settings`` on ``post`` through the workflow's driver."""
    sampler = name.split("_rmsprop")[0]
    spec, algorithm = instantiate(sampler, settings)
    return run_chains(
        sampler,
        algorithm,
        spec,
        post,
        jax.random.key(key),
        chains=settings["chains"],
        steps=settings["steps"],
        burn_in=settings["burn_in"],
        eval_every=settings["eval_every"],
        loss_star=0.0,
        projection_seed=0,
    )


@pytest.mark.parametrize("name", list(SETTINGS))
def test_sampler_recovers_quadratic_learning_coefficient(quadratic, name):
    post, exact = quadratic
    s = SETTINGS[name]
    assert abs(exact - post.d / 2) < 0.01  # the target really is d/2 here
    trace = run(post, name, s)
    est = llc.estimate(trace.loss, 0.0, post.nbeta)
    assert est.chains_diverged == 0
    assert est.rhat < 1.05
    # 4 standard errors (a false failure rate ~1e-4 for an unbiased sampler) plus
    # 3% of d/2 for the unadjusted samplers' discretisation bias (SGLD, MCLMC).
    tol = 4 * est.llc_se + 0.03 * exact
    assert abs(est.llc - exact) < tol, f"{name}: {est.llc:.3f} ± {est.llc_se:.3f} vs {exact:.3f}"
    # The estimate is informative: its SE is well below the value itself.
    assert est.llc_se < 0.1 * exact


def test_chains_draw_from_threefrys_fast_layout(quadratic):
    """The chain loop runs under threefry's non-partitionable layout (samplers/driver.py,
    "Random numbers"): its draws are those of the undecorated loop under that layout, and
    differ from JAX's default layout's (the streams differ; the layout was really switched)."""
    post, _ = quadratic
    s = {**SETTINGS["sgld"], "chains": 2, "steps": 200, "burn_in": 0, "eval_every": 10}
    spec, algorithm = instantiate("sgld", s)
    args = ("sgld", algorithm, spec, post, jax.random.key(3))
    kwargs = dict(chains=2, steps=200, burn_in=0, eval_every=10, loss_star=0.0, projection_seed=0)
    loss = run_chains(*args, **kwargs).loss
    with jax.threefry_partitionable(False):
        fast = run_chains.__wrapped__(*args, **kwargs).loss
    with jax.threefry_partitionable(True):
        default = run_chains.__wrapped__(*args, **kwargs).loss
    np.testing.assert_array_equal(loss, fast)
    assert not np.allclose(loss, default)
