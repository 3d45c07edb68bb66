"""The LLC estimator and its uncertainty, from L_n traces of shape (chain, draw).

    λ̂ = nβ · (mean of L_n over chains and draws − L_n(w*))

Burn-in is already excluded from the traces. The standard error is nβ times
ArviZ's multi-chain MCSE of the mean of L_n (sd / √ESS_mean); ESS is ArviZ's bulk
ESS and R-hat its rank R-hat. Chains with any non-finite L_n are counted as
diverged and excluded from everything.

A second standard error, ``bootstrap_se``, combines a circular block bootstrap of the
chains (Politis & Romano 1992) with the spread between them. The bootstrap resamples each
chain as blocks of ``b`` consecutive draws with random starts (wrapping around its end) and
takes the spread of the resampled pooled means (1000 resamples, a fixed seed). The block
length follows the chains' integrated autocorrelation time τ (``integrated_time``: the
chains' mean autocovariance, summed up to Sokal's self-consistent window M ≥ 5τ): b = ⌈8τ⌉,
at least ⌈n^(1/3)⌉ (the rate of the MSE-optimal block length, a floor against an
underestimated τ) and at most n/4 (four blocks per chain). Why so long: the bootstrap variance
misses the correlations across block edges, a relative bias of about −Σ_k 2|k|ρ_k / (b·τ)
(≈ −τ/(2b) for an AR(1) chain with τ ≫ 1); its noise (relative sd of the variance
≈ √(4b/(3n·chains))) averages out over replicates, its bias does not. Blocks centred on their
chain's mean lose a further b/n of the variance, which is divided back out.

Resampling within chains sees only the correlations inside a chain, not chains that disagree
by more than those predict (slow modes, chains still spreading from w* at different speeds).
The chains are independent, so their means m_c = μ + a_c + e_c are a one-way random-effects
sample: e_c the within-chain error the bootstrap measures (variance k·V_block for k chains),
a_c the between-chain excess. The method-of-moments estimate of Var(a) is max(0, s_m² − k·V_block)
(s_m² the sample variance of the k chain means), so the variance of the pooled mean is
max(V_block, s_m²/k) (``between_chain_variance``): the bootstrap floored by the chains' disagreement.
With agreeing chains the floor only adds noise: measured on AR(1) chains, 4 × 1000 draws,
200 repeats each (tests/test_bootstrap_se.py checks φ = 0 and 0.9), the mean SE over the true
SE is 0.998, 0.964, 0.948, 0.891 for the block bootstrap alone at φ = 0, 0.5, 0.9, 0.97
(the last with b capped at n/4) and 1.143, 1.113, 1.086, 1.074 with the floor, its own spread
22–26 % (4–17 % without: s_m² has k − 1 = 3 degrees of freedom); ArviZ's MCSE 1.008, 1.004,
1.013, 1.107. With one chain there is no floor.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from arviz_stats.base import array_stats


class LLCEstimate(NamedTuple):
    llc: float  # λ̂ (nan when no chain is usable)
    llc_se: float  # Monte Carlo standard error of λ̂
    ess: float  # bulk ESS of L_n over the usable chains
    rhat: float  # rank R-hat of L_n (nan with a single usable chain)
    mean_loss: float  # mean L_n over usable chains and draws
    chains_used: int
    chains_diverged: int


def finite_chains(loss: np.ndarray) -> np.ndarray:
    """Boolean mask (chain,): chains whose every L_n is finite."""
    return np.all(np.isfinite(loss), axis=1)


def usable(loss: np.ndarray) -> np.ndarray:
    """The finite chains of ``loss`` as float64 (chain', draw)."""
    return np.asarray(loss[finite_chains(loss)], dtype=np.float64)


def estimate(loss: np.ndarray, loss_star: float, nbeta: float) -> LLCEstimate:
    """λ̂, its standard error, ESS and R-hat from ``loss`` (chain, draw)."""
    good = usable(loss)
    used = good.shape[0]
    if used == 0:
        nan = float("nan")
        return LLCEstimate(nan, nan, nan, nan, nan, 0, int(loss.shape[0]))
    mean = float(good.mean())
    se = nbeta * float(array_stats.mcse(good, method="mean"))
    ess = float(array_stats.ess(good, method="bulk"))
    rhat = float(array_stats.rhat(good)) if used > 1 else float("nan")
    return LLCEstimate(nbeta * (mean - loss_star), se, ess, rhat, mean, used, int(loss.shape[0]) - used)


BOOTSTRAP_DRAWS = 1000  # resamples: Monte Carlo error of the SE ≈ 1/√(2·1000) ≈ 2 %
BOOTSTRAP_SEED = 0  # fixed: the same trace always gives the same SE
BLOCK_TAU = 8.0  # block length in integrated autocorrelation times (module doc)


def integrated_time(x: np.ndarray, window: float = 5.0) -> float:
    """Integrated autocorrelation time τ = 1 + 2 Σ_k ρ_k of the finite chains ``x`` (chain,
    draw): ρ from the chains' mean autocovariance (each chain about its own mean, by FFT),
    summed up to Sokal's window, the first lag M ≥ ``window`` · τ(M). 1 for i.i.d. draws,
    below 1 for anticorrelated ones; NaN for a constant trace."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n].mean(axis=0) / n
    if not acov[0] > 0:
        return float("nan")
    tau = 1 + 2 * np.cumsum(acov[1:] / acov[0])  # τ(M), M = 1..n-1
    ok = np.flatnonzero(np.arange(1, n) >= window * tau)
    return float(tau[ok[0]] if ok.size else tau[-1]) if n > 1 else 1.0


def block_length(n: int, tau: float) -> int:
    """Block length of the bootstrap for chains of ``n`` draws with integrated time ``tau``:
    ⌈BLOCK_TAU·τ⌉, at least ⌈n^(1/3)⌉, at most n/4 (module doc)."""
    floor = int(np.ceil(n ** (1 / 3)))
    b = int(np.ceil(BLOCK_TAU * tau)) if np.isfinite(tau) else floor
    return int(max(1, min(max(b, floor), n // 4)))


def block_bootstrap_variance(good: np.ndarray, block: int | None = None, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> float:
    """Circular-block-bootstrap variance of the pooled mean of finite chains ``good`` (chain, draw),
    in L_n² units: ``draws`` resamples, each chain rebuilt from ⌈n/b⌉ blocks of ``block`` draws
    (default ``block_length``; the last block cut to fill n) with uniform random starts,
    wrapping around the chain's end. Vectorised: a block's sum is a difference of the circularly
    extended chain's cumulative sums."""
    chains, n = good.shape
    b = block_length(n, integrated_time(good)) if block is None else int(block)
    k = -(-n // b)  # blocks per resampled chain
    lengths = np.full(k, b)
    lengths[-1] = n - b * (k - 1)
    wrapped = np.concatenate([good, good[:, :b]], axis=1)
    cums = np.concatenate([np.zeros((chains, 1)), np.cumsum(wrapped, axis=1)], axis=1)  # (chain, n + b + 1)
    starts = np.random.default_rng(seed).integers(0, n, size=(draws, chains, k))
    rows = np.arange(chains)[None, :, None]
    sums = cums[rows, starts + lengths] - cums[rows, starts]  # (draws, chain, block)
    pooled = sums.sum(axis=(1, 2)) / (chains * n)
    # Blocks are centred on the chain's own mean, which absorbs about b/n of the variance of the
    # mean (module doc): the bootstrap variance is divided by 1 − b/n, as batch means divide by k − 1.
    return float(pooled.var(ddof=1) / (1 - b / n))


def between_chain_variance(good: np.ndarray) -> float:
    """s_m²/k: the sample variance (ddof 1) of the k chain means of ``good`` (chain, draw) over k,
    in L_n² units; NaN with one chain."""
    chains = good.shape[0]
    return float(good.mean(axis=1).var(ddof=1) / chains) if chains > 1 else float("nan")


def bootstrap_se(
    loss: np.ndarray, nbeta: float, block: int | None = None, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED
) -> float:
    """nβ × √max(block-bootstrap variance, between-chain variance) of the pooled mean of L_n over
    the finite chains of ``loss`` (chain, draw): the block bootstrap floored by the chains'
    disagreement (module doc); the bootstrap alone with one finite chain. NaN without a finite
    chain or with fewer than 2 draws."""
    good = usable(loss)
    if good.shape[0] == 0 or good.shape[1] < 2:
        return float("nan")
    var = np.fmax(block_bootstrap_variance(good, block, draws, seed), between_chain_variance(good))  # NaN floor: none
    return float(nbeta * np.sqrt(var))


def run_se(mcse, bootstrap):
    """The SE of one run's λ̂ that the scoreboard and the run's WNV use, or elementwise for arrays:
    the larger of ArviZ's MCSE and ``bootstrap_se``; the MCSE where the bootstrap is NaN."""
    return np.fmax(mcse, bootstrap)


def running_llc(loss: np.ndarray, loss_star: float, nbeta: float) -> tuple[np.ndarray, np.ndarray]:
    """Running estimates λ̂_t = nβ·(cumulative mean of L_n up to draw t − L_n(w*)).

    Returns (per_chain (chain, draw), pooled (draw,)); pooled uses the cumulative
    sum over the usable chains, divided by (chains × draws so far)."""
    loss = np.asarray(loss, dtype=np.float64)
    t = np.arange(1, loss.shape[1] + 1)
    per_chain = nbeta * (np.cumsum(loss, axis=1) / t - loss_star)
    ok = finite_chains(loss)
    if ok.any():
        pooled = nbeta * (np.cumsum(loss[ok].sum(axis=0)) / (t * ok.sum()) - loss_star)
    else:
        pooled = np.full(loss.shape[1], np.nan)
    return per_chain, pooled
