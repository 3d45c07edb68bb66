"""The block-bootstrap SE of λ̂ (llcbench.llc.bootstrap_se) against chains whose SE of the mean
is known exactly: stationary AR(1) chains, and chains that disagree by more than their
autocorrelation predicts (a random offset per chain)."""

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from llcbench import llc

CHAINS, DRAWS = 4, 1000


def ar1(rng, phi, chains, draws):
    """Stationary AR(1) chains x_t = φ x_{t−1} + √(1 − φ²) ε_t, unit variance."""
    e = rng.normal(size=(chains, draws)) * math.sqrt(1 - phi**2)
    e[:, 0] = rng.normal(size=chains)  # x_0 from the stationary law
    return lfilter([1.0], [1.0, -phi], e, axis=1)


def true_se(phi, chains, draws):
    """Exact sd of the pooled mean of ``chains`` independent stationary AR(1) chains:
    Var(x̄) = (1/n)[(1 + φ)/(1 − φ) − 2φ(1 − φⁿ)/(n(1 − φ)²)] per chain, over chains."""
    n = draws
    var = ((1 + phi) / (1 - phi) - 2 * phi * (1 - phi**n) / (n * (1 - phi) ** 2)) / n
    return math.sqrt(var / chains)


@pytest.mark.parametrize("phi", [0.0, 0.9])
def test_bootstrap_se_matches_the_exact_se_of_an_ar1_mean(phi):
    rng = np.random.default_rng(11)
    repeats = 60
    chains = [ar1(rng, phi, CHAINS, DRAWS) for _ in range(repeats)]
    exact = true_se(phi, CHAINS, DRAWS)
    block = np.array([math.sqrt(llc.block_bootstrap_variance(x)) for x in chains])
    ratio = block.mean() / exact
    # One block-bootstrap SE scatters by a relative ~4 % (φ = 0) to ~12 % (φ = 0.9) around its mean
    # (measured, llc.py's doc), so the mean of 60 by at most 0.12/√60 = 1.6 %: 4 of those (6 %),
    # plus the estimator's documented bias at φ = 0.9 (−5 %, block edges at b = 8τ).
    assert abs(ratio - 1) < 0.06 + 0.05, ratio
    # i.i.d. SE ignores the correlation: at φ = 0.9 it is √19 ≈ 4.4 times too small, so the
    # bootstrap must see it (not a check of the mean of the SEs above, a check of the block length)
    if phi:
        naive = np.std(ar1(rng, phi, CHAINS, DRAWS), ddof=1) / math.sqrt(CHAINS * DRAWS)
        assert block.mean() > 3 * naive
    # With agreeing chains the between-chain floor can only raise the SE, by about
    # E√max(1, χ²₃/3) ≈ 1.14 at most (s_m² of 4 chain means has 3 degrees of freedom); one floored SE
    # scatters by ~22 %, the mean of 60 by ~2.8 %: 4 of those above 1.14.
    floored = np.array([llc.bootstrap_se(x, nbeta=3.0) for x in chains]) / 3.0
    assert np.all(floored >= block * (1 - 1e-12))
    assert 1 - 0.11 < floored.mean() / exact < 1.14 + 0.11, floored.mean() / exact


def test_bootstrap_se_sees_chains_that_disagree():
    """Chains with a random offset each (sd 0.3, i.i.d. unit draws within): the pooled mean's
    exact SE is √((0.3² + 1/n)/k), mostly the offsets', which no resampling within chains sees."""
    rng = np.random.default_rng(14)
    offset_sd, repeats = 0.3, 200
    exact = math.sqrt((offset_sd**2 + 1 / DRAWS) / CHAINS)
    floored, block = [], []
    for _ in range(repeats):
        x = rng.normal(size=(CHAINS, DRAWS)) + offset_sd * rng.normal(size=(CHAINS, 1))
        floored.append(llc.bootstrap_se(x, nbeta=1.0))
        block.append(math.sqrt(llc.block_bootstrap_variance(x)))
    # The floor is then s_m/√k, whose mean is c₄(4) = 0.921 of the exact SE (the sd of 4 normal
    # values is biased low); one s_m scatters by ~42 % (3 degrees of freedom), the mean of 200 by
    # 3 %: 4 of those around 0.921. The block bootstrap alone sees 1/√(1 + 0.3²·n) ≈ 0.1 of it.
    assert abs(np.mean(floored) / exact - 0.921) < 0.12, np.mean(floored) / exact
    assert np.mean(block) / exact < 0.2


def test_block_length_follows_the_integrated_autocorrelation_time():
    rng = np.random.default_rng(12)
    x = ar1(rng, 0.9, CHAINS, 5000)
    tau = llc.integrated_time(x)
    assert tau == pytest.approx(19, rel=0.25)  # (1 + φ)/(1 − φ) = 19; Sokal's window and 20k draws: ~10 % low
    assert llc.block_length(5000, tau) == math.ceil(llc.BLOCK_TAU * tau)
    assert llc.block_length(1000, 0.5) == 10  # floor ⌈n^(1/3)⌉
    assert llc.block_length(1000, 400.0) == 250  # cap n/4


def test_bootstrap_se_is_reproducible_and_skips_non_finite_chains():
    rng = np.random.default_rng(13)
    x = ar1(rng, 0.5, CHAINS, 400)
    assert llc.bootstrap_se(x, 1.0) == llc.bootstrap_se(x.copy(), 1.0)  # fixed seed
    bad = np.vstack([x, np.full((1, 400), np.nan)])
    assert llc.bootstrap_se(bad, 1.0) == llc.bootstrap_se(x, 1.0)
    assert math.isnan(llc.bootstrap_se(np.full((2, 400), np.inf), 1.0))
    # with blocks of one draw it is the i.i.d. bootstrap: sd/√N up to its Monte Carlo error (1000 resamples: 2.2 %)
    iid = rng.normal(size=(CHAINS, 500))
    expected = math.sqrt(iid.var(axis=1).mean() / (CHAINS * 500)) / math.sqrt(1 - 1 / 500)
    assert math.sqrt(llc.block_bootstrap_variance(iid, block=1)) == pytest.approx(expected, rel=4 * 0.022)
    # one chain: no between-chain floor, the bootstrap alone
    one = x[:1]
    assert llc.bootstrap_se(one, 2.0) == pytest.approx(2.0 * math.sqrt(llc.block_bootstrap_variance(one)), rel=1e-12)
