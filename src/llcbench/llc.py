"""The LLC estimator and its uncertainty, from L_n traces of shape (chain, draw).

    λ̂ = nβ · (mean of L_n over chains and draws − L_n(w*))

Burn-in is already excluded from the traces. The standard error is
nβ · sd(L_n) / √ESS with ArviZ's multi-chain bulk ESS; R-hat is ArviZ's rank
R-hat. Chains with any non-finite L_n are counted as diverged and excluded.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from arviz_stats.base import array_stats


class LLCEstimate(NamedTuple):
    llc: float  # λ̂ (nan when no chain is usable)
    llc_se: float  # standard error of λ̂ from ESS
    ess: float  # bulk ESS of L_n over the usable chains
    rhat: float  # rank R-hat of L_n (nan with a single usable chain)
    mean_loss: float  # mean L_n over usable chains and draws
    chains_used: int
    chains_diverged: int


def finite_chains(loss: np.ndarray) -> np.ndarray:
    """Boolean mask (chain,): chains whose every L_n is finite."""
    return np.all(np.isfinite(loss), axis=1)


def estimate(loss: np.ndarray, loss_star: float, nbeta: float) -> LLCEstimate:
    """λ̂, its standard error, ESS and R-hat from ``loss`` (chain, draw)."""
    ok = finite_chains(loss)
    good = np.asarray(loss[ok], dtype=np.float64)
    if good.shape[0] == 0:
        nan = float("nan")
        return LLCEstimate(nan, nan, nan, nan, nan, 0, int(loss.shape[0]))
    mean = float(good.mean())
    ess = float(array_stats.ess(good, method="bulk"))
    rhat = float(array_stats.rhat(good)) if good.shape[0] > 1 else float("nan")
    se = nbeta * float(good.std(ddof=1)) / np.sqrt(ess) if ess > 0 else float("nan")
    return LLCEstimate(nbeta * (mean - loss_star), se, ess, rhat, mean, int(ok.sum()), int((~ok).sum()))


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
