"""SGHMC (llcbench.samplers.sghmc): the momentum lives in the chain state and carries over from
one step to the next, each update takes a fresh minibatch, and that is what makes it mix.

The mixing test uses a soft Gaussian target, the quadratic loss of conftest.quadratic at
nβ = 50 (curvature 2nβC + γ ≈ 89–114, the scale of an MLP's directions held only by γ = 100),
where redrawing the momentum every K·h time units turns the dynamics into a random walk:
position steps of K·h·p, i.e. overdamped Langevin with a step (K·h)²/2 per call, whose L_n
decorrelates in about 1/(K·h·a) time units (a the curvature), 2 time units at K·h = 5·10⁻³,
against a few tenths of a time unit with a carried momentum and friction α = 20 (critical
damping there is α = 2√a ≈ 20)."""

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import GAMMA, N
from llcbench import llc
from llcbench.posterior import LocalPosterior
from llcbench.samplers import Algorithm, instantiate, minibatch
from llcbench.samplers.driver import run_chains
from llcbench.samplers.sghmc import SGHMCInfo, SGHMCState
from test_cost import counted, forward_fde  # noqa: F401 (counted is a fixture)

H = 1e-3


def sghmc(**settings):
    return instantiate("sghmc", {"step_size": H, "batch_size": 200, "num_integration_steps": 1, "alpha": 10.0} | settings)


def test_each_step_moves_with_the_momentum_the_last_one_left(quadratic):
    post, _ = quadratic
    _, algorithm = sghmc()
    step = jax.jit(lambda k, s: algorithm.step(k, s, post, False))
    states = [algorithm.init(jax.random.key(0), post)]
    assert float(jnp.std(states[0].momentum)) > 0.5  # drawn N(0, I) once, at the start
    for i in range(3):
        states.append(step(jax.random.key(i + 1), states[-1])[0])
    for before, after in zip(states, states[1:]):
        # one update: w ← w + h·p with the p the previous step returned (a momentum redrawn
        # within the step, as BlackJAX's sghmc kernel does, would move w by h times a fresh draw)
        np.testing.assert_allclose(after.position, before.position + H * before.momentum, rtol=0, atol=1e-6)
        assert not np.allclose(after.momentum, before.momentum)  # friction, gradient and noise changed it


def test_a_step_counts_one_minibatch_gradient_per_update(counted):  # noqa: F811 (the fixture)
    for k in (1, 3):
        _, algorithm = sghmc(num_integration_steps=k)
        state = algorithm.init(jax.random.key(0), counted)
        (new, info), passes = forward_fde(lambda: jax.jit(lambda key, s: algorithm.step(key, s, counted, False))(jax.random.key(1), state))
        assert passes == pytest.approx(k * 200 / N) == pytest.approx(float(info.grads))  # k forward passes of 200 rows
        assert new.momentum.shape == new.position.shape == state.position.shape


def redrawn_momentum(step_size, batch_size, num_integration_steps, alpha) -> Algorithm:
    """The sampler as it was: BlackJAX's ``sghmc`` kernel, which draws a fresh N(0, I) momentum at
    every call and makes ``num_integration_steps`` updates on one minibatch."""

    def init(key, posterior):
        return SGHMCState(posterior.w_star, jnp.zeros_like(posterior.w_star))

    def step(key, state, posterior, record):
        kernel = blackjax.sghmc(minibatch.grad_estimator(posterior), num_integration_steps=num_integration_steps, alpha=alpha)
        k_batch, k_step = jax.random.split(key)
        w = kernel.step(k_step, state.position, minibatch.draw(k_batch, posterior, batch_size), step_size)
        return SGHMCState(w, state.momentum), SGHMCInfo(jnp.asarray(num_integration_steps * batch_size / posterior.n, w.dtype))

    return Algorithm(init, step)


def test_a_carried_momentum_mixes_where_a_redrawn_one_random_walks(quadratic):
    base, _ = quadratic
    post = LocalPosterior(base.data_loss, base.w_star, 50.0 / N, GAMMA)  # nβ = 50
    x = np.hstack([np.asarray(post.x, np.float64), np.ones((N, 1))])
    c = x.T @ x / N
    exact = post.nbeta * np.trace(c @ np.linalg.inv(2 * post.nbeta * c + GAMMA * np.eye(len(c))))
    h, k, alpha = 2e-3, 5, 20.0
    spec, carried = sghmc(step_size=h, alpha=alpha)
    # The same time step, friction, integration time (15 time units per chain after burn-in),
    # gradients and draws (one every 10 updates): only the momentum's fate differs.
    runs = {
        "carried": (carried, dict(steps=8000, burn_in=500, eval_every=10)),
        "redrawn": (redrawn_momentum(h, 200, k, alpha), dict(steps=1600, burn_in=100, eval_every=2)),
    }
    est = {}
    for name, (algorithm, chain) in runs.items():
        trace = run_chains("sghmc", algorithm, spec, post, jax.random.key(0), chains=4, loss_star=0.0, projection_seed=0, **chain)
        assert trace.grads_sampling == pytest.approx(4 * 8000 * 200 / N, rel=1e-4)  # 8000 updates of 200 rows per chain (float32 sums)
        est[name] = llc.estimate(trace.loss, 0.0, post.nbeta)
    carried, redrawn = est["carried"], est["redrawn"]
    # Measured (seed 0): ESS 267 vs 26 (R-hat 1.01 vs 1.12), as the decorrelation times predicted
    # in the module docstring (about 2 time units against 0.2) say. A factor of 5 leaves room for
    # the ESS estimates' own error, large for the redrawn chains' few effective draws.
    assert carried.ess > 5 * redrawn.ess, f"ESS {carried.ess:.0f} (carried) vs {redrawn.ess:.0f} (redrawn)"
    assert carried.rhat < 1.05
    # 4 SEs (false failure ~1e-4) plus 3% for the minibatch-noise and discretisation bias, as in
    # test_samplers_quadratic
    assert abs(carried.llc - exact) < 4 * carried.llc_se + 0.03 * exact, f"{carried.llc:.3f} ± {carried.llc_se:.3f} vs {exact:.3f}"
