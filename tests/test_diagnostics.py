import numpy as np
import pytest
import xarray as xr

from conftest import parse_status
from llcbench import diagnostics, llc

THRESHOLDS = {"rhat_max": 1.05, "ess_min": 100}


def ar1(rng, phi, chains, draws):
    x = np.zeros((chains, draws))
    e = rng.normal(size=(chains, draws)) * np.sqrt(1 - phi**2)
    x[:, 0] = rng.normal(size=chains)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def test_autocorrelation_of_ar1_is_phi_to_the_lag():
    # 4 x 20k draws: the sample ACF at small lags has sd ~ 1/sqrt(20k) per chain, so 0.03 is > 4 sd.
    x = ar1(np.random.default_rng(0), 0.8, 4, 20_000)
    acf = diagnostics.autocorrelation(x, max_lag=10)
    assert acf.shape == (4, 11)
    np.testing.assert_allclose(acf[:, 0], 1.0)
    np.testing.assert_allclose(acf.mean(0)[1:4], 0.8 ** np.arange(1, 4), atol=0.03)


def test_tail_ess_of_iid_draws_is_near_the_draw_count():
    # i.i.d. normal draws: tail ESS ≈ N; quantile ESS estimates scatter ~15% at N = 8000.
    x = np.random.default_rng(1).normal(size=(4, 2000))
    assert diagnostics.tail_ess(x) == pytest.approx(8000, rel=0.25)


def test_ess_evolution_grows_with_draws_and_ends_at_the_full_value():
    x = ar1(np.random.default_rng(2), 0.5, 4, 4000)
    evo = diagnostics.evolution(x, points=10)
    assert evo["draws"][-1] == 4000 and len(evo["draws"]) == 10
    assert evo["ess_bulk"][-1] > 3 * evo["ess_bulk"][0]
    assert evo["ess_bulk"][-1] == pytest.approx(llc.estimate(x, 0, 1).ess)
    assert np.all(evo["rhat"] < 1.05)


def test_wnv_is_variance_times_the_total_and_the_sampling_cost():
    cost = {"cost_sampling_fde": 400.0, "cost_total_fde": 1000.0, "cost_sampling_seconds": 10.0, "cost_total_seconds": 30.0}
    assert diagnostics.wnv(0.5, cost) == {
        "wnv_grad_sampling": 100.0,
        "wnv_grad_total": 250.0,
        "wnv_time_sampling": 2.5,
        "wnv_time_total": 7.5,
        "wnv_grad": 250.0,  # the totals: what ranks samplers
        "wnv_time": 7.5,
    }


def test_sampler_summary_counts_divergences_through_thinning():
    stats = xr.Dataset(
        {
            "is_divergent": (("chain", "draw"), [[0.0, 0.5], [0.25, 0.0]], {"counts": "divergences"}),
            "acceptance_rate": (("chain", "draw"), [[0.8, 0.9], [0.7, 1.0]], {"spread": 1}),
        }
    )
    tuning = xr.Dataset({"step_size": (("chain",), [0.1, 0.3])})
    out = diagnostics.sampler_summary(stats, tuning, eval_every=4)
    assert out["divergences"] == 3  # (0.5 + 0.25) x 4 steps per draw
    assert out["acceptance_rate_mean"] == pytest.approx(0.85)
    assert out["acceptance_rate_sd"] == pytest.approx(np.std([0.8, 0.9, 0.7, 1.0]))  # declared spread
    assert "is_divergent_sd" not in out and out["is_divergent_mean"] == pytest.approx(0.1875)
    assert out["tuned_step_size_mean"] == pytest.approx(0.2)
    assert diagnostics.counted_flags(stats, out) == {"divergences": 3}


def healthy():
    return np.random.default_rng(3).normal(1.0, 0.05, size=(4, 1000))


def status(loss, loss_star=0.5, divergences=0.0, erm_converged=True):
    est = llc.estimate(loss, loss_star, 10.0)
    return diagnostics.health_status(
        est,
        ess_tail=diagnostics.tail_ess(loss),
        counts={"divergences": divergences},
        frac_below_L0=diagnostics.fraction_below(loss, loss_star),
        erm_converged=erm_converged,
        thresholds=THRESHOLDS,
    )


def test_health_is_quiet_on_healthy_chains():
    assert status(healthy()) == "ok"


def test_health_flags_high_rhat():
    x = healthy()
    x[0] += 0.2
    flags = parse_status(status(x))
    assert list(flags) == ["rhat", "ess"]  # one chain shifted: the chains disagree, and ESS drops with them
    assert float(flags["rhat"]["rhat"]) > 1.05 and flags["rhat"]["rhat_max"] == "1.05"


def test_health_flags_small_ess():
    x = ar1(np.random.default_rng(4), 0.995, 4, 1000) * 0.01 + 1.0
    flags = parse_status(status(x))
    assert list(flags) == ["rhat", "ess"]  # a slow chain also leaves its chains apart
    assert int(flags["ess"]["ess"]) < 100 and flags["ess"]["ess_min"] == "100"


def test_health_flags_divergences():
    s = status(healthy(), divergences=3)
    assert s == "divergences: 3" and parse_status(s)["divergences"]["count"] == "3"  # and of the documented grammar


def test_health_flags_loss_below_w_star_and_negative_llc():
    flags = parse_status(status(healthy(), loss_star=1.2))
    assert list(flags) == ["w_star_not_minimum", "negative_llc"]
    assert flags["w_star_not_minimum"]["below_l0"] == "100"  # every draw below L_n(w*) = 1.2


def test_health_flags_diverged_chain_and_unconverged_erm():
    x = healthy()
    x[1, 10] = np.nan
    flags = parse_status(status(x, erm_converged=False))
    assert list(flags) == ["diverged", "erm_not_converged"] and flags["diverged"]["chains"] == "1"
