"""SGLD's ``step_size: auto`` (samplers/sgld.py; docs/samplers.md, "SGLD's step_size: auto"):
on the quadratic target of test_samplers_quadratic, whose tempered posterior is Gaussian, the
pilot's h matches the first-order rule computed from the exact posterior, the run recovers λ,
the pilot's gradients are in the run's tuning cost, and h follows the problem's curvature."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import BETA, GAMMA, IN_DIM, N
from llcbench import llc
from llcbench.model import make_apply
from llcbench.posterior import EmpiricalLoss, LocalPosterior, row_loss_fn
from llcbench.samplers import CHAIN_AXIS, instantiate, sgld
from llcbench.samplers.driver import LOSS_PASS_FDE, run_chains
from test_cost import counted, forward_fde  # noqa: F401 - counted is a fixture
from test_samplers_quadratic import SGLD, run

AUTO = {**SGLD, "step_size": "auto"}
RMSPROP = {**AUTO, "precond": "rmsprop", "eps": 1.0}  # eps = 1: G ≤ 1 at the exact minimum w0 (test_samplers_quadratic)


def quadratic_at(beta):
    """conftest's quadratic target at inverse temperature ``beta``: (posterior, its inputs x)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, IN_DIM)).astype(np.float32)
    w0 = rng.normal(size=IN_DIM + 1).astype(np.float32)
    apply = make_apply([IN_DIM, 1], "identity")
    y = np.asarray(apply(jnp.asarray(w0), x))
    post = LocalPosterior(EmpiricalLoss(jnp.asarray(x), jnp.asarray(y), apply, row_loss_fn({"kind": "mse"})), jnp.asarray(w0), beta, GAMMA)
    return post, x


def exact_terms(post, x):
    """(λ, E[ĝᵀĝ]) of plain SGLD's exact Gaussian posterior: λ = nβ·tr(CΣ) and the mean squared
    minibatch gradient of −log π̂, tr(H) (+ the prior's γ per coordinate) plus the minibatch
    noise tr(E_b[(H_b − H)²]·Σ), rows drawn with replacement (samplers/minibatch.py)."""
    xt = np.hstack([x, np.ones((N, 1))]).astype(np.float64)
    d = xt.shape[1]
    c = xt.T @ xt / N
    a = 2 * post.nbeta * c  # Hessian of nβ·L_n
    sigma = np.linalg.inv(a + GAMMA * np.eye(d))
    h_full = a + GAMMA * np.eye(d)
    row_sq = (2 * post.nbeta) ** 2 * np.einsum("i,ij,ik->jk", np.sum(xt**2, axis=1), xt, xt) / N  # E[(2nβ·x̃x̃ᵀ)²]
    noise = (row_sq - a @ a) / SGLD["batch_size"]
    return post.nbeta * np.trace(c @ sigma), np.trace(h_full) + np.trace(noise @ sigma)


def tune(post, settings, key=0, chains=4):
    """The pilot of ``chains`` chains as the driver runs it: (tuned h per chain, its gradients per chain)."""
    _, algorithm = instantiate("sgld", settings)
    keys = jax.random.split(jax.random.key(key), chains)
    with jax.threefry_partitionable(False):
        _, tuned = jax.jit(jax.vmap(algorithm.tune, in_axes=(0, None), axis_name=CHAIN_AXIS))(keys, post)
    return np.asarray(tuned.params["step_size"]), np.asarray(tuned.grads)


@pytest.mark.parametrize("settings", [AUTO, RMSPROP], ids=["plain", "rmsprop"])
def test_auto_step_size_recovers_the_quadratic_learning_coefficient(quadratic, settings):
    post, exact = quadratic
    trace = run(post, "sgld", settings)
    h = trace.tuned["step_size"]
    assert h.shape == (settings["chains"],) and np.all(h == h[0]) and h[0] > 0  # one h, shared by the chains
    est = llc.estimate(trace.loss, 0.0, post.nbeta)
    assert est.chains_diverged == 0 and est.rhat < 1.05
    # 4 SEs (false failure rate ~1e-4) plus the pilot's bias target once more for the terms of
    # higher order in h than its rule; RMSProp's adaptive G adds its own +3% at a fixed h
    # (test_samplers_quadratic, README "Preconditioned SGLD").
    tol = 4 * est.llc_se + 2 * sgld.AUTO_BIAS * exact + (0.03 * exact if settings["precond"] == "rmsprop" else 0)
    assert abs(est.llc - exact) < tol, f"{est.llc:.3f} ± {est.llc_se:.3f} vs {exact:.3f} at h = {h[0]:.3g}"
    assert trace.grads_tuning > 0 and trace.cost()["cost_tuning_fde"] == trace.grads_tuning


def test_auto_step_size_is_the_first_order_rule_on_the_exact_posterior():
    """Plain SGLD on a Gaussian posterior inflates E[nβ(L_n − L*)] by h·E[ĝᵀĝ]/4 to first order;
    the pilot aims that at AUTO_BIAS·λ. Here λ and E[ĝᵀĝ] are known exactly, so the h it should
    pick is too."""
    post, x = quadratic_at(BETA)
    lam, g2 = exact_terms(post, x)
    expected = 4 * sgld.AUTO_BIAS * lam / g2
    h, _ = tune(post, AUTO)
    # The pilot estimates λ from its last segment's second half: 4 chains × 100 steps with an
    # autocorrelation time of ~1/(h·a) ≈ 25 steps, ~16 effective draws of nβL (sd √(d/2) ≈ 2.2
    # around 5 each), a relative sd of ~11% for λ and so for h. ±35% is 3 such sds.
    assert np.all(h == h[0])
    assert 0.65 < h[0] / expected < 1.35, f"h = {h[0]:.3g}, first-order rule {expected:.3g}"


def test_auto_step_size_follows_the_curvature():
    """4× the inverse temperature makes every curvature 4× larger and leaves λ (≈ d/2) as it
    was: h must shrink 4×. With the same keys the pilot's chains are the same up to that
    scaling, so the ratio is exact but for the localisation γ (γ/nβ = 5e-4 here)."""
    (h1, _), (h4, _) = (tune(quadratic_at(beta)[0], AUTO) for beta in (BETA, 4 * BETA))
    assert 3.9 < h1[0] / h4[0] < 4.1, (h1[0], h4[0])


def test_the_pilot_runs_what_it_counts_and_the_run_pays_for_it(counted):  # noqa: F811 - the fixture
    """The pilot's forward passes (counted by the model itself) are the ones its tuning cost
    prices: per step one minibatch gradient and one forward pass at w* on the same batch
    (LOSS_PASS_FDE each), and POWER_ITERATIONS + 1 Hessian-vector products (HVP_GRADS each),
    and the driver puts all of it in the run's tuning cost."""
    settings = {**AUTO, "batch_size": 100}
    _, algorithm = instantiate("sgld", settings)
    (_, tuned), passes = forward_fde(lambda: jax.jit(algorithm.tune)(jax.random.key(0), counted))
    per_batch = settings["batch_size"] / N
    steps, hvps = sgld.PILOT_SEGMENTS * sgld.PILOT_STEPS, sgld.POWER_ITERATIONS + 1
    assert passes == pytest.approx((2 * steps + hvps) * per_batch)  # every pass it makes, by the model's own count
    assert float(tuned.grads) == pytest.approx((steps * (1 + LOSS_PASS_FDE) + hvps * sgld.HVP_GRADS) * per_batch)
    chains = 2
    spec, algorithm = instantiate("sgld", {**settings, "chains": chains})
    trace = run_chains(
        "sgld",
        algorithm,
        spec,
        counted,
        jax.random.key(0),
        chains=chains,
        steps=20,
        burn_in=0,
        eval_every=10,
        loss_star=0.0,
        projection_seed=0,
    )
    cost = trace.cost()
    assert cost["cost_tuning_fde"] == pytest.approx(chains * float(tuned.grads))
    assert cost["cost_total_fde"] == pytest.approx(cost["cost_tuning_fde"] + cost["cost_burn_in_fde"] + cost["cost_sampling_fde"])


def test_a_fixed_step_size_has_no_pilot():
    _, algorithm = instantiate("sgld", SGLD)
    assert algorithm.tune is None
    with pytest.raises(ValueError, match="auto needs precond"):
        instantiate("sgld", {**AUTO, "precond": "adam"})
