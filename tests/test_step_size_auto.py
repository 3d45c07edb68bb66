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


def quadratic_at(beta, gamma=GAMMA):
    """conftest's quadratic target at inverse temperature ``beta`` and localisation ``gamma``:
    (posterior, its inputs x)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, IN_DIM)).astype(np.float32)
    w0 = rng.normal(size=IN_DIM + 1).astype(np.float32)
    apply = make_apply([IN_DIM, 1], "identity")
    y = np.asarray(apply(jnp.asarray(w0), x))
    post = LocalPosterior(EmpiricalLoss(jnp.asarray(x), jnp.asarray(y), apply, row_loss_fn({"kind": "mse"})), jnp.asarray(w0), beta, gamma)
    return post, x


def exact_terms(post, x):
    """Plain SGLD's exact Gaussian posterior, rows drawn with replacement (samplers/minibatch.py):
    (λ, what the pilot measures, the first-order bias). With A the Hessian of nβ·L_n, H = A + γI,
    Σ = H⁻¹ and S = E_b[(A_b − A)Σ(A_b − A)] the minibatch noise of the loss gradient:
    λ = ½tr(AΣ); the pilot's E[g_Lᵀĝ] = tr(A) + tr(S); and the exact first-order inflation of
    E[nβ(L_n − L*)] at step h, h·(tr(A) + tr(AΣS))/4 (from the stationary covariance's Lyapunov
    equation HΣ₁ + Σ₁H = H + S), returned as its coefficient tr(A) + tr(AΣS)."""
    xt = np.hstack([x, np.ones((N, 1))]).astype(np.float64)
    d = xt.shape[1]
    a = 2 * post.nbeta * xt.T @ xt / N  # Hessian of nβ·L_n
    sigma = np.linalg.inv(a + post.gamma * np.eye(d))
    quad = np.einsum("ri,ij,rj->r", xt, sigma, xt)  # x̃ᵀΣx̃ per row
    noise = ((2 * post.nbeta) ** 2 * np.einsum("r,ri,rj->ij", quad, xt, xt) / N - a @ sigma @ a) / SGLD["batch_size"]
    return 0.5 * np.trace(a @ sigma), np.trace(a) + np.trace(noise), np.trace(a) + np.trace(a @ sigma @ noise)


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
    """Plain SGLD on a Gaussian posterior inflates E[nβ(L_n − L*)] by h·E[g_Lᵀĝ]/4 to first order
    when the localisation is weak; the pilot aims that at AUTO_BIAS·λ. Here λ and E[g_Lᵀĝ] are
    known exactly, so the h it should pick is too."""
    post, x = quadratic_at(BETA)
    lam, measured, _ = exact_terms(post, x)
    expected = 4 * sgld.AUTO_BIAS * lam / measured
    h, _ = tune(post, AUTO)
    # The pilot estimates λ from its last segment's second half: 4 chains × 100 steps with an
    # autocorrelation time of ~1/(h·a) ≈ 25 steps, ~16 effective draws of nβL (sd √(d/2) ≈ 2.2
    # around 5 each), a relative sd of ~11% for λ and so for h. ±35% is 3 such sds.
    assert np.all(h == h[0])
    assert 0.65 < h[0] / expected < 1.35, f"h = {h[0]:.3g}, first-order rule {expected:.3g}"


def test_auto_step_size_aims_at_the_bias_under_strong_localisation():
    """γ = 12000, 3× the curvature nβ·L_n gives each direction (4000): the localisation holds the
    posterior and λ = ½tr(AΣ) ≈ 1.2, a quarter of d/2. The exact first-order bias of λ̂ at the
    pilot's h must be the pilot's target: a rule on ĝᵀĝ would count γ in every direction, where
    it moves w but not L_n, and pick h 4× too small (a bias of 0.25·AUTO_BIAS here)."""
    post, x = quadratic_at(BETA, gamma=12_000.0)
    lam, measured, exact = exact_terms(post, x)
    h, _ = tune(post, AUTO)
    bias = h[0] * exact / (4 * lam)
    # The pilot's λ: 4 chains × 100 steps, autocorrelation time ~1/(h·a) ≈ 25 steps, nβL with a
    # relative sd of ~45 % per draw (d = 10 directions at a quarter of their share each): ~8 % for
    # λ and h. ±35 % is 4 of those; the rule's own error is exact/measured − 1 = −2 % here.
    assert 0.65 < bias / sgld.AUTO_BIAS < 1.35, f"h = {h[0]:.3g}: first-order bias {bias:.2%}, target {sgld.AUTO_BIAS:.0%}"


def test_auto_step_size_follows_the_curvature():
    """4× the inverse temperature makes every curvature 4× larger and leaves λ (≈ d/2) as it
    was: h must shrink 4×. With the same keys the pilot's chains are the same up to that
    scaling, so the ratio is exact but for the localisation γ (γ/nβ = 5e-4 here)."""
    (h1, _), (h4, _) = (tune(quadratic_at(beta)[0], AUTO) for beta in (BETA, 4 * BETA))
    assert 3.9 < h1[0] / h4[0] < 4.1, (h1[0], h4[0])


def tuned_then_run(tune_post, run_post, steps, chains=4):
    """The pilot on ``tune_post``, then ``steps`` steps of the run from where it left the chains,
    on ``run_post`` (the same rows and w*, another β): (the pilot's h, h of every step (steps,))."""
    _, algorithm = instantiate("sgld", AUTO)
    keys = jax.random.split(jax.random.key(0), chains)
    with jax.threefry_partitionable(False):
        state, tuned = jax.jit(jax.vmap(algorithm.tune, in_axes=(0, None), axis_name=CHAIN_AXIS))(keys, tune_post)
        one = jax.vmap(lambda k, s: algorithm.step(k, s, run_post, False), axis_name=CHAIN_AXIS)

        def body(state, key):
            state, info = one(jax.random.split(key, chains), state)
            return state, info.step_size[0]

        _, h = jax.jit(lambda s: jax.lax.scan(body, s, jax.random.split(jax.random.key(1), steps)))(state)
    return float(tuned.params["step_size"][0]), np.asarray(h)


def test_the_run_lowers_h_where_the_chains_meet_more_curvature():
    """The pilot measures at w*; chains that move into stiffer regions need a smaller h for the same
    bias. Here the stiffening is made exact: the pilot runs at β, the chains then run at 4β (every
    curvature 4×, λ ≈ d/2 as before), so the h that keeps the predicted bias at AUTO_BIAS is the
    pilot's / 4, and the run's h must settle there (test_auto_step_size_follows_the_curvature: the
    pilot itself gives 4.0 ± 0.1 between the two). Back from 4β to β, h may not exceed the pilot's."""
    steps = 6 * sgld.TRACK_STEPS  # the moving averages keep e^-6 = 0.25 % of where they started
    h_pilot, h = tuned_then_run(quadratic_at(BETA)[0], quadratic_at(4 * BETA)[0], steps)
    settled = h[-sgld.TRACK_STEPS :]
    # The averages pool 4 chains over TRACK_STEPS = 1000 steps, autocorrelation time ~1/(h·a) ≈ 25
    # steps: ~160 effective draws of nβL (relative sd ~45 % each, d = 10), 3.5 % for λ and so for h;
    # the cross statistic is less noisy. ±15 % is 4 of those.
    assert 0.85 < h_pilot / np.mean(settled) / 4 < 1.15, (h_pilot, np.mean(settled))
    h_pilot, h = tuned_then_run(quadratic_at(4 * BETA)[0], quadratic_at(BETA)[0], steps)
    assert np.max(h) <= h_pilot and np.mean(h[-sgld.TRACK_STEPS :]) > 0.95 * h_pilot  # capped at the pilot's, not lowered


def test_the_pilot_runs_what_it_counts_and_the_run_pays_for_it(counted):  # noqa: F811 - the fixture
    """The pilot's forward passes (counted by the model itself) are the ones its tuning cost
    prices: one full-data forward pass at w* (LOSS_PASS_FDE: the row losses that make L_b(w*)
    free), per step one minibatch gradient, and POWER_ITERATIONS + 1 Hessian-vector products
    (HVP_GRADS each); the driver puts all of it in the run's tuning cost. A step of the run
    after it, which also updates the bias tracker, makes one minibatch gradient pass and no more."""
    settings = {**AUTO, "batch_size": 100}
    _, algorithm = instantiate("sgld", settings)
    (state, tuned), passes = forward_fde(lambda: jax.jit(algorithm.tune)(jax.random.key(0), counted))
    per_batch = settings["batch_size"] / N
    steps, hvps = sgld.PILOT_SEGMENTS * sgld.PILOT_STEPS, sgld.POWER_ITERATIONS + 1
    assert passes == pytest.approx(1 + (steps + hvps) * per_batch)  # every pass it makes, by the model's own count
    assert float(tuned.grads) == pytest.approx(LOSS_PASS_FDE + (steps + hvps * sgld.HVP_GRADS) * per_batch)
    (_, info), passes = forward_fde(lambda: jax.jit(lambda k, s: algorithm.step(k, s, counted, False))(jax.random.key(1), state))
    assert passes == pytest.approx(per_batch) and float(info.grads) == pytest.approx(per_batch)
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
