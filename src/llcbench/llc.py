"""The LLC estimator and its uncertainty, from L_n traces of shape (chain, draw).

    λ̂ = nβ · (mean of L_n over chains and draws − L_n(w*))

Burn-in is already excluded from the traces. The standard error is nβ times
ArviZ's multi-chain MCSE of the mean of L_n (sd / √ESS_mean); ESS is ArviZ's bulk
ESS and R-hat its rank R-hat. Chains with any non-finite L_n are counted as
diverged and excluded from everything.
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
