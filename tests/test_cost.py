"""The cost every run records (README, "Cost"): counted against the forward passes the
model really makes. The quadratic target of test_samplers_quadratic, with a model whose
every forward pass reports its rows to a host counter: a gradient of b rows is one forward
pass of b rows (b/n full-data equivalents), a full-data L_n pass one of n rows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import IN_DIM, N, quadratic_posterior
from llcbench import aggregate, summary
from llcbench.samplers import instantiate
from llcbench.samplers.driver import LOSS_PASS_FDE, run_chains
from test_samplers_quadratic import SETTINGS

FROM_STATE = ("hmc", "mclmc", "adjusted_mclmc")  # README: L_n of each draw from the state's log density, no pass of its own
ROWS = [0]  # rows of every forward pass since the last reset, over all chains


def _count(rows, w):
    ROWS[0] += rows * (np.size(w) // (IN_DIM + 1))  # under vmap, w holds one row per chain


@pytest.fixture(scope="module")
def counted():
    """The quadratic posterior of conftest.quadratic, its forward passes counted in ROWS."""
    return quadratic_posterior(_count)


def forward_fde(fn):
    """(result of fn(), full-data equivalents of the forward passes it made)."""
    jax.effects_barrier()
    ROWS[0] = 0
    out = jax.block_until_ready(fn())
    jax.effects_barrier()
    return out, ROWS[0] / N


@pytest.mark.parametrize("name", ["hmc", "mclmc", "adjusted_mclmc"])
def test_a_tuner_counts_every_gradient_it_runs(counted, name):
    # adjusted MCLMC's trajectories of L/ε steps run ⌈L/ε⌉ integrator steps; BlackJAX's tuner
    # counts L/ε (measured before the fix: 85.8 counted of 120 run, 100 tuning steps)
    s = {**SETTINGS[name], **({"adapt_steps": 50} if name == "hmc" else {"tune_steps": 100})}
    _, algorithm = instantiate(name, s)
    (state, tuned), passes = forward_fde(lambda: jax.jit(algorithm.tune)(jax.random.key(0), counted))
    assert passes == pytest.approx(float(tuned.grads) + 1)  # + the start state's gradient at w*, the one pass not counted
    (_, info), passes = forward_fde(lambda: jax.jit(lambda k, s: algorithm.step(k, s, counted, False))(jax.random.key(1), state))
    assert passes == pytest.approx(float(info.grads))


@pytest.mark.parametrize(
    ("name", "steps", "burn_in", "eval_every"),
    [
        ("sgld", 107, 10, 10),  # steps − burn_in = 97: 9 windows of 10 run, 7 steps never run
        ("hmc", 25, 3, 4),  # 22 after burn-in: 5 windows of 4 run, the last 2 steps never run
    ],
)
def test_the_cost_is_what_the_chains_ran(counted, name, steps, burn_in, eval_every):
    chains = 2
    s = {**SETTINGS[name], "chains": chains, "steps": steps, "burn_in": burn_in, "eval_every": eval_every}
    s |= {"adapt_steps": 20} if name == "hmc" else {}
    spec, algorithm = instantiate(name, s)
    trace, passes = forward_fde(
        lambda: run_chains(
            name,
            algorithm,
            spec,
            counted,
            jax.random.key(0),
            chains=chains,
            steps=steps,
            burn_in=burn_in,
            eval_every=eval_every,
            loss_star=0.0,
            projection_seed=0,
        )
    )
    draws = (steps - burn_in) // eval_every
    assert trace.steps_run == burn_in + draws * eval_every < steps
    # HMC reads each draw's L_n from its state's log density; SGLD makes a full-data pass
    assert trace.loss.shape == (chains, draws) and trace.loss_passes == (0 if name in FROM_STATE else chains * draws)
    cost = trace.cost()
    start_gradient = 1 if algorithm.tune else 0  # the tuner's start state at w*, shared by the chains: the one pass not counted
    # every other forward pass is counted: gradients (the tuner's and the steps'), and each draw's L_n pass
    assert passes == pytest.approx(cost["cost_tuning_fde"] + trace.grads_sampling + trace.loss_passes + start_gradient, rel=1e-5)
    if name == "sgld":  # one minibatch gradient per step, a second (MALA) at each draw
        per_grad = s["batch_size"] / N
        assert cost["cost_burn_in_fde"] == pytest.approx(chains * burn_in * per_grad, rel=1e-5)
        assert cost["cost_draws_fde"] == pytest.approx(chains * (draws * eval_every + draws) * per_grad, rel=1e-5)
    else:
        k = s["num_integration_steps"]
        assert cost["cost_tuning_fde"] == chains * s["adapt_steps"] * k
        assert cost["cost_burn_in_fde"] == chains * burn_in * k and cost["cost_draws_fde"] == chains * draws * eval_every * k
    assert cost["cost_eval_fde"] == pytest.approx(trace.loss_passes * LOSS_PASS_FDE)
    for unit in ("fde", "seconds"):
        part = {p: cost[f"cost_{p}_{unit}"] for p in ("tuning", "burn_in", "draws", "eval", "sampling", "total")}
        assert part["sampling"] == pytest.approx(part["draws"] + part["eval"])
        assert part["total"] == pytest.approx(part["tuning"] + part["burn_in"] + part["sampling"])
        assert all(v >= 0 for v in part.values())
    # seconds: the compiled loop's, split by phase; tuning without its compilation
    assert cost["cost_burn_in_seconds"] + cost["cost_sampling_seconds"] == pytest.approx(trace.sampling_seconds)
    assert cost["cost_burn_in_seconds"] > 0 and cost["cost_draws_seconds"] > 0
    assert (cost["cost_eval_seconds"] > 0) == (trace.loss_passes > 0)
    assert 0 <= cost["cost_tuning_seconds"] < trace.tuning_seconds or not algorithm.tune
    share = cost["cost_eval_seconds"] / cost["cost_sampling_seconds"]
    assert share == pytest.approx(cost["cost_eval_fde"] / cost["cost_sampling_fde"])


@pytest.mark.parametrize("name", FROM_STATE)
def test_full_batch_samplers_read_l_n_from_their_state_as_a_forward_pass_computes_it(counted, name):
    # log π = −nβ·L_n + log prior at the position, computed by the integrator's own full-data pass
    _, algorithm = instantiate(name, SETTINGS[name])
    state = algorithm.init(jax.random.key(0), counted)  # the untuned step size
    for i in range(5):  # away from w*, where the prior term is not 0
        state, _ = jax.jit(lambda k, s: algorithm.step(k, s, counted, False))(jax.random.key(i), state)
    (from_state, forward), passes = forward_fde(lambda: (algorithm.loss(state, counted), counted.loss(state.position)))
    assert passes == 1  # the forward pass alone
    assert float(jnp.sum((state.position - counted.w_star) ** 2)) > 0
    assert counted.nbeta * float(from_state) == pytest.approx(counted.nbeta * float(forward), abs=1e-5)


def test_summary_states_the_cost_by_phase():
    parts = ("tuning", "burn_in", "draws", "eval")
    fde = dict(zip(parts, (800.0, 0.0, 1600.0, 33.3)))
    seconds = dict(zip(parts, (2.0, 0.0, 4.0, 0.1)))
    attrs = {
        "settings_json": '{"erm_id": "e", "data_id": "d"}',
        "versions_json": '{"jax": "0"}',
        "sampler": "hmc",
        "run_id": "hmc-0",
        "status": "ok",
        "steps_run": 100,
        **{k: 1.0 for k in "llc llc_se ess ess_tail rhat chains_used chains_diverged L0 mean_loss frac_below_L0 beta nbeta gamma".split()},
        "d": 5,
        "n": 10,
        **{f"cost_{p}_fde": v for p, v in fde.items()},
        **{f"cost_{p}_seconds": v for p, v in seconds.items()},
        "cost_total_fde": sum(fde.values()),
        "cost_total_seconds": sum(seconds.values()),
        "tuning_seconds": 3.5,
        "compile_seconds": 1.25,
        **dict.fromkeys(("wnv_grad_total", "wnv_time_total", "wnv_grad_sampling", "wnv_time_sampling"), 0.5),
    }
    text = summary.run_summary(attrs, [])
    assert "| 800 + 0 + 1600 + 33.3 = 2433 |" in text
    assert "| 2 + 0 + 4 + 0.1 = 6.1 |" in text
    assert "| 1.50 / 1.25 |" in text  # compilation, outside the cost


def test_every_wall_clock_column_is_listed_as_timing():
    # what differs from run to run (tests/conftest.py drops these before comparing two runs' files)
    clock = {c for c in aggregate.COLUMNS if c.endswith("_seconds") or c.startswith("wnv_time")}
    assert clock == set(aggregate.TIMING) and len(clock) == 12
    assert {"cost_total_fde", "wnv_grad_total", "steps_run"}.isdisjoint(aggregate.TIMING)  # counts: exact, the same every run
