import numpy as np
import pytest

from llcbench import llc
from llcbench.samplers.driver import DegenerateTuning, reject_degenerate_tuning


def ar1(rng, phi, chains, draws, mean=0.0):
    x = np.zeros((chains, draws))
    e = rng.normal(size=(chains, draws)) * np.sqrt(1 - phi**2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x + mean


def test_estimate_uses_nbeta_and_baseline():
    loss = np.full((2, 10), 0.3)
    est = llc.estimate(loss + np.random.default_rng(0).normal(0, 1e-3, loss.shape), 0.1, 50.0)
    assert est.llc == pytest.approx(50 * 0.2, rel=1e-3)


def test_se_reflects_autocorrelation():
    # AR(1) with phi = 0.9: ESS ≈ N (1 - phi) / (1 + phi) ≈ N / 19, so the SE must be
    # about sqrt(19) ≈ 4.4 times the i.i.d. value; bounds 3-6 allow for ESS noise.
    rng = np.random.default_rng(1)
    corr = llc.estimate(ar1(rng, 0.9, 4, 5000), 0.0, 1.0)
    iid = llc.estimate(rng.normal(size=(4, 5000)), 0.0, 1.0)
    assert 3 < corr.llc_se / iid.llc_se < 6
    assert corr.ess == pytest.approx(20000 / 19, rel=0.3)


def test_rhat_flags_shifted_chains():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 1000))
    assert llc.estimate(x, 0.0, 1.0).rhat < 1.01
    x[0] += 3.0
    assert llc.estimate(x, 0.0, 1.0).rhat > 1.1


def test_diverged_chain_is_excluded_and_counted():
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 0.1, size=(4, 200))
    x[2, 50:] = np.inf
    est = llc.estimate(x, 0.0, 1.0)
    assert est.chains_used == 3 and est.chains_diverged == 1
    assert est.llc == pytest.approx(np.delete(x, 2, axis=0).mean())


def test_all_chains_diverged_gives_nan_and_status():
    est = llc.estimate(np.full((2, 10), np.nan), 0.0, 1.0)
    assert np.isnan(est.llc) and est.chains_used == 0


def test_running_llc_is_a_cumulative_mean():
    x = np.array([[1.0, 3.0, 5.0], [3.0, 3.0, 3.0]])
    per_chain, pooled = llc.running_llc(x, 1.0, 2.0)
    np.testing.assert_allclose(per_chain, 2 * (np.array([[1, 2, 3], [3, 3, 3]]) - 1))
    np.testing.assert_allclose(pooled, 2 * (np.array([2.0, 2.5, 3.0]) - 1))
    flat, flat_pooled = llc.running_llc(np.full((3, 50), 0.7), 0.2, 10.0)
    np.testing.assert_allclose(flat_pooled, 5.0)


def test_degenerate_tuning_is_rejected_by_name():
    reject_degenerate_tuning("tuner", step_size=np.array([0.1, 0.2]), inverse_mass_matrix=np.ones((2, 3)))
    with pytest.raises(DegenerateTuning, match="step_size"):
        reject_degenerate_tuning("MCLMC tuner", step_size=np.array([0.1, 0.0]))
    with pytest.raises(DegenerateTuning, match="inverse_mass_matrix"):
        reject_degenerate_tuning("MCLMC tuner", step_size=np.array([0.1]), inverse_mass_matrix=np.array([[1.0, -1e-3]]))
    with pytest.raises(DegenerateTuning, match="L"):
        reject_degenerate_tuning("MCLMC tuner", L=np.array([np.nan]))
