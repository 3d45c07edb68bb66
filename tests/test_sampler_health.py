"""Preconditioned SGLD, the MALA step-size check, adjusted MCLMC's acceptance and
divergence handling inside the compiled loop, on the quadratic target of
test_samplers_quadratic."""

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llcbench import llc
from llcbench.posterior import EmpiricalLoss, LocalPosterior
from llcbench.samplers import instantiate, minibatch
from llcbench.samplers.driver import run_chains
from llcbench.samplers.sgld import preconditioned_step
from test_samplers_quadratic import SETTINGS
from test_samplers_quadratic import run as run_settings


def run(post, name, **overrides):
    return run_settings(post, name, {**SETTINGS[name], **overrides})


def test_preconditioner_of_one_is_plain_blackjax_sgld(quadratic):
    post, _ = quadratic
    key = jax.random.key(7)
    w = post.w_star + 0.01
    batch = (post.x[:64], post.y[:64])
    grad = minibatch.grad_estimator(post)(w, batch)
    plain = blackjax.sgld(minibatch.grad_estimator(post)).step(key, w, batch, 1e-4)
    ours = preconditioned_step(key, w, grad, jnp.ones_like(w), 1e-4)
    np.testing.assert_allclose(ours, plain, rtol=1e-6, atol=1e-7)  # same key, same arithmetic
    # noise scales with sqrt(h G): G = 4 doubles the noise and quadruples the drift
    zero = jnp.zeros_like(w)
    np.testing.assert_allclose(
        preconditioned_step(key, w, zero, 4.0, 1e-4) - w, 2 * (preconditioned_step(key, w, zero, 1.0, 1e-4) - w), atol=1e-6
    )  # float32 rounding of w + δ


def test_adam_sgld_bias_is_a_documented_heuristic_that_shrinks_with_the_step(quadratic):
    # Adam's drift uses the lagged first moment, biasing λ̂ upwards by O(hGa/(1−β1));
    # measured: +28% at h = 5e-4, +12% at h = 1e-4 (SE ~1%). The test pins that trend.
    post, exact = quadratic
    errors = []
    for h, steps in ((5e-4, 30_000), (1e-4, 60_000)):
        trace = run(post, "sgld", precond="adam", eps=1.0, step_size=h, steps=steps)
        errors.append(llc.estimate(trace.loss, 0.0, post.nbeta).llc / exact - 1)
    assert 0 < errors[1] < errors[0] and errors[1] < 0.2


def test_mala_acceptance_flags_step_sizes(quadratic):
    post, _ = quadratic
    accept = {h: np.nanmean(run(post, "sgld", step_size=h, steps=3_000, burn_in=500).stats["mala_accept"]) for h in (1e-6, 1e-5, 3e-4)}
    # h = 1e-6 is a near-exact diffusion step: accepted almost always. h = 3e-4 sits
    # near the stability limit h·a_max ≈ 2 of this target: MALA rejects about half.
    assert accept[1e-6] > 0.95
    assert accept[1e-6] > accept[1e-5] > accept[3e-4]
    assert accept[3e-4] < 0.7


def test_adjusted_mclmc_acceptance_is_near_its_target(quadratic):
    post, _ = quadratic
    trace = run(post, "adjusted_mclmc")
    # dual averaging aims at 0.9; a short tuning window leaves a few percent of slack
    assert 0.8 < np.mean(trace.stats["acceptance_rate"]) < 0.98
    assert np.sum(trace.stats["is_divergent"]) == 0


def test_a_blowing_up_step_freezes_chains_and_yields_nan(quadratic):
    post, _ = quadratic
    trace = run(post, "sgld", step_size=1.0, steps=400, burn_in=100)
    assert np.all(trace.diverged_step >= 0) and np.all(trace.diverged_step < 100)
    assert np.all(np.isnan(trace.loss))
    est = llc.estimate(trace.loss, 0.0, post.nbeta)
    assert np.isnan(est.llc) and est.chains_diverged == 4
    assert np.all(np.isfinite(trace.theta_proj))  # frozen at the last finite position


def test_one_diverged_chain_is_excluded_not_averaged(quadratic):
    post, _ = quadratic
    spec, algorithm = instantiate("sgld", SETTINGS["sgld"])

    def init(key, posterior):  # chain 2 is broken from the start
        state = algorithm.init(key, posterior)
        broken = jnp.all(jax.random.key_data(key) == jax.random.key_data(keys[2]))
        return state._replace(position=jnp.where(broken, state.position.at[0].set(jnp.nan), state.position))

    with jax.threefry_partitionable(False):  # the layout run_chains draws under (samplers/driver.py)
        keys = jax.random.split(jax.random.split(jax.random.key(2))[0], 4)  # the chain keys run_chains hands to init
    trace = run_chains(
        "sgld",
        algorithm._replace(init=init),
        spec,
        post,
        jax.random.key(2),
        chains=4,
        steps=2_000,
        burn_in=200,
        eval_every=10,
        loss_star=0.0,
        projection_seed=0,
    )
    assert trace.diverged_step.tolist()[2] >= 0 and [trace.diverged_step[i] for i in (0, 1, 3)] == [-1, -1, -1]
    est = llc.estimate(trace.loss, 0.0, post.nbeta)
    assert est.chains_used == 3 and np.isfinite(est.llc)


def test_mclmc_counts_reverted_steps_flags_them_and_keeps_them_out_of_energy_statistics(quadratic):
    post, _ = quadratic
    from llcbench import diagnostics
    from llcbench.stages.sample import trace_tree

    settings = {**SETTINGS["mclmc"], "chains": 2, "steps": 40, "eval_every": 4}
    spec, algorithm = instantiate("mclmc", settings)

    def untuned(step_size):
        """MCLMC from w* at a fixed step size: 1e30 overflows float32 on every step."""

        def init(key, posterior):
            chain = algorithm.init(key, posterior)
            return chain._replace(params=chain.params._replace(step_size=jnp.asarray(step_size, jnp.float32)))

        return algorithm._replace(init=init, tune=None)

    def sample(step_size):
        trace = run_chains("mclmc", untuned(step_size), spec, post, jax.random.key(3), chains=2, steps=40, burn_in=0, eval_every=4,
                           loss_star=0.0, projection_seed=0)  # fmt: skip
        dt = trace_tree(trace, {s.name: s for s in spec.stats}, burn_in=0, eval_every=4)
        summary = diagnostics.sampler_summary(dt["sample_stats"].to_dataset(), dt["tuning"].to_dataset(), 4)
        return trace, summary, diagnostics.counted_flags(dt["sample_stats"].to_dataset(), summary)

    trace, summary, counts = sample(1e30)
    # BlackJAX reverted every step: the chains sit at w* (finite, not diverged), each step is
    # counted, the run is flagged, and the reverted steps' energy change (BlackJAX reports 0)
    # is not averaged in
    assert np.all(trace.diverged_step == -1) and np.all(trace.theta_proj == 0) and np.all(np.isfinite(trace.loss))
    assert counts == {"nan_reverts": 2 * 40, "energy_spikes": 0}  # a reverted step is no spike: its ΔE is unknown
    assert np.all(np.isnan(trace.stats["energy_change"])) and np.isnan(summary["energy_change_sq_per_dim_mean"])
    est = llc.estimate(trace.loss + 1.0, 1.0, post.nbeta)  # λ̂ = 0, finite: only the count can flag this run
    status = diagnostics.health_status(est, ess_tail=1e4, counts=counts, frac_below_L0=0.0, erm_converged=True,
                                       thresholds={"rhat_max": 1.05, "ess_min": 0})  # fmt: skip
    assert "nan_reverts: 80" in status.split(";")
    # at a sane step nothing is reverted and the energy statistics are per step, in the units of
    # desired_energy_var (nats² per dimension): finite and positive
    trace, summary, counts = sample(0.05)
    assert counts == {"nan_reverts": 0, "energy_spikes": 0} and np.all(np.isfinite(trace.stats["energy_change"]))
    assert 0 < summary["energy_change_sq_per_dim_mean"] < 1


def test_mclmc_counts_energy_spikes_and_flags_them(quadratic):
    """A step whose ΔE²/d exceeds SPIKE_RATIO × desired_energy_var is an energy spike: counted,
    and a non-zero count flags the run. On the quadratic target (posterior sd ~0.016 per
    coordinate) a fixed step of 0.05 gives ΔE²/d far below the target, one of 2.0 far above."""
    post, _ = quadratic
    from llcbench import diagnostics
    from llcbench.samplers.mclmc import SPIKE_RATIO
    from llcbench.stages.sample import trace_tree

    settings = {**SETTINGS["mclmc"], "chains": 2, "steps": 40, "eval_every": 4}
    spec, algorithm = instantiate("mclmc", settings)
    target = settings["desired_energy_var"]

    def counted(step_size):
        def init(key, posterior):
            chain = algorithm.init(key, posterior)
            return chain._replace(params=chain.params._replace(step_size=jnp.asarray(step_size, jnp.float32)))

        trace = run_chains("mclmc", algorithm._replace(init=init, tune=None), spec, post, jax.random.key(3), chains=2, steps=40,
                           burn_in=0, eval_every=4, loss_star=0.0, projection_seed=0)  # fmt: skip
        dt = trace_tree(trace, {s.name: s for s in spec.stats}, burn_in=0, eval_every=4)
        summary = diagnostics.sampler_summary(dt["sample_stats"].to_dataset(), dt["tuning"].to_dataset(), 4)
        return summary, diagnostics.counted_flags(dt["sample_stats"].to_dataset(), summary)

    calm, counts = counted(0.05)
    assert counts["energy_spikes"] == 0 and calm["energy_change_sq_per_dim_mean"] < SPIKE_RATIO * target
    wild, counts = counted(2.0)
    assert counts["nan_reverts"] == 0 and 0 < counts["energy_spikes"] <= 2 * 40
    assert wild["energy_change_sq_per_dim_mean"] > SPIKE_RATIO * target  # the spikes are what the count says
    est = llc.estimate(np.ones((2, 10)), 0.5, post.nbeta)  # a finite, converged-looking estimate: only the count flags it
    status = diagnostics.health_status(est, ess_tail=1e4, counts=counts, frac_below_L0=0.0, erm_converged=True,
                                       thresholds={"rhat_max": 1.05, "ess_min": 0})  # fmt: skip
    assert f"energy_spikes: {counts['energy_spikes']:.0f}" in status.split(";")


def test_mclmc_samples_at_the_given_fraction_of_the_tuned_step(quadratic):
    """``step_size_fraction`` scales the tuner's step for the chain and nothing else: the same
    key gives the same tuning, the chain's recorded step is the fraction of the tuner's, and
    L and the preconditioner are the tuner's."""
    post, _ = quadratic
    runs = {f: run(post, "mclmc", step_size_fraction=f, chains=2, steps=40, eval_every=4, tune_steps=400) for f in (1.0, 0.5)}
    full, half = runs[1.0].tuned, runs[0.5].tuned
    np.testing.assert_array_equal(half["tuner_step_size"], full["tuner_step_size"])  # same key, same tuning
    np.testing.assert_allclose(full["step_size"], full["tuner_step_size"], rtol=1e-6)
    np.testing.assert_allclose(half["step_size"], 0.5 * half["tuner_step_size"], rtol=1e-6)
    np.testing.assert_array_equal(half["L"], full["L"])
    # the kernel was given the scaled step: the per-step statistic records what it integrated with
    np.testing.assert_allclose(np.nanmean(runs[0.5].stats["step_size"], axis=1), half["step_size"], rtol=1e-6)


def test_mclmc_in_float32_tunes_and_samples_a_posterior_far_from_the_origin(quadratic):
    # The quadratic target moved to w* = w0 + 100: the same Gaussian posterior (variance 2.4e-4 to
    # 2.6e-4 per coordinate), but there E[w²] ≈ 1e4, whose float32 rounding (~6e-4 per update)
    # exceeds the variances. BlackJAX's tuner takes the preconditioner as E[x²] − E[x]² of running
    # averages of its positions: of raw w that is rounding noise (measured: 13 to 17 of the 40
    # entries ≤ 0, tuning_failed); the module tunes and samples offsets w − w*, where it is not.
    post, exact = quadratic
    far = post.w_star + 100.0
    loss = post.data_loss
    moved = LocalPosterior(EmpiricalLoss(loss.x, loss.apply(far, loss.x), loss.apply, loss.row_loss), far, post.beta, post.gamma)
    assert moved.w_star.dtype == loss.x.dtype == jnp.float32
    xt = np.hstack([np.asarray(loss.x, np.float64), np.ones((post.n, 1))])
    variance = np.diag(np.linalg.inv(2 * post.nbeta * xt.T @ xt / post.n + post.gamma * np.eye(post.d)))
    trace = run(moved, "mclmc", steps=2_000)
    assert trace.failure == ""
    # each chain's preconditioner comes from ~270 correlated tuning steps: 0.43 to 1.8 times the
    # exact variances (measured at w0 and w0 + 100, float32 and float64); rounding noise is off by
    # orders of magnitude, either sign
    assert np.all(trace.tuned["inv_mass_min"] > variance.min() / 4) and np.all(trace.tuned["inv_mass_max"] < 4 * variance.max())
    est = llc.estimate(trace.loss, 0.0, moved.nbeta)
    # as in test_sampler_recovers_quadratic_learning_coefficient: 4 SE plus 3% discretisation bias.
    # (float32 rounding of the loss at |w| ≈ 100 leaves the tuner a 5× smaller step than float64
    # does, 0.6 against 3.1: slower mixing, measured 5.05 ± 0.08 against d/2 ≈ 5.00.)
    assert abs(est.llc - exact) < 4 * est.llc_se + 0.03 * exact, f"{est.llc:.3f} ± {est.llc_se:.3f} vs {exact:.3f}"


def test_adam_sgld_records_no_mala_acceptance_and_spends_no_gradient_on_it(quadratic):
    # Adam's forward drift is the lagged first moment: no reverse move, no acceptance probability
    post, _ = quadratic
    steps, eval_every, chains, b = 200, 10, 2, SETTINGS["sgld"]["batch_size"]
    adam = run(post, "sgld", precond="adam", eps=1.0, steps=steps, burn_in=0, eval_every=eval_every, chains=chains)
    rmsprop = run(post, "sgld", precond="rmsprop", eps=1.0, steps=steps, burn_in=0, eval_every=eval_every, chains=chains)
    assert np.all(np.isnan(adam.stats["mala_accept"])) and np.all(np.isfinite(rmsprop.stats["mala_accept"]))
    minibatch_grad = b / post.n  # full-data equivalents; summed in float32 over the steps, hence rel 1e-5
    assert adam.grads_sampling == pytest.approx(chains * steps * minibatch_grad, rel=1e-5)
    assert rmsprop.grads_sampling == pytest.approx(chains * (steps + steps // eval_every) * minibatch_grad, rel=1e-5)  # + one per draw
