"""Chain diagnostics of L_n beyond the estimate itself, sampler statistics, work-
normalised variance and the health flags that make up a run's ``status``.

All functions take host arrays; ``loss`` is (chain, draw).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from arviz_stats.base import array_stats

from llcbench.llc import LLCEstimate, usable

TAIL_PROB = 0.05  # tail ESS at the 5% and 95% quantiles (Vehtari et al. 2021), not ArviZ 1.x's ci_prob default


def tail_ess(loss: np.ndarray) -> float:
    """ArviZ tail ESS (5% and 95% quantiles) of the usable chains."""
    good = usable(loss)
    return float(array_stats.ess(good, method="tail", prob=TAIL_PROB)) if good.shape[0] else float("nan")


def autocorrelation(loss: np.ndarray, max_lag: int = 100) -> np.ndarray:
    """Per-chain autocorrelation of L_n at lags 0..max_lag: (chain, lag).
    Non-finite chains give NaN rows."""
    lags = min(max_lag, loss.shape[1] - 1) + 1
    out = np.full((loss.shape[0], lags), np.nan)
    for c in np.flatnonzero(np.all(np.isfinite(loss), axis=1)):
        out[c] = np.asarray(array_stats.autocorr(np.asarray(loss[c], np.float64)))[:lags]
    return out


def evolution(loss: np.ndarray, points: int = 20) -> dict[str, np.ndarray]:
    """Bulk ESS, tail ESS and R-hat of the first k draws, at ``points`` values of k
    evenly spaced up to all draws: {"draws": (k,), "ess_bulk", "ess_tail", "rhat"}."""
    good = usable(loss)
    n = loss.shape[1]
    ks = np.unique(np.linspace(max(4, n // points), n, points).astype(int))
    res = {"draws": ks, "ess_bulk": np.full(len(ks), np.nan), "ess_tail": np.full(len(ks), np.nan), "rhat": np.full(len(ks), np.nan)}
    if good.shape[0]:
        for i, k in enumerate(ks):
            res["ess_bulk"][i] = array_stats.ess(good[:, :k], method="bulk")
            res["ess_tail"][i] = array_stats.ess(good[:, :k], method="tail", prob=TAIL_PROB)
            res["rhat"][i] = array_stats.rhat(good[:, :k]) if good.shape[0] > 1 else np.nan
    return res


def sampler_summary(sample_stats: xr.Dataset, tuning: xr.Dataset, eval_every: int) -> dict[str, float]:
    """Scalar summaries of the sampler statistics (each variable's attributes say what it
    is, see ``llcbench.samplers.spec.Stat``) and of the tuned parameters: ``<stat>_mean``
    for every statistic, ``<stat>_sd`` where declared, the total of a counted statistic
    under its flag name (a per-step 0/1 stored as window means over ``eval_every`` steps,
    so the total is the sum of the means times ``eval_every``), ``tuned_<name>_mean``."""
    out: dict[str, float] = {}
    for name, var in sample_stats.data_vars.items():
        values = var.values
        out[f"{name}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        if var.attrs.get("spread"):
            out[f"{name}_sd"] = float(np.nanstd(values)) if np.isfinite(values).any() else float("nan")
        if var.attrs.get("counts"):
            out[var.attrs["counts"]] = float(np.round(np.nansum(values) * eval_every))
    for name in tuning.data_vars:
        if name != "diverged_step":
            out[f"tuned_{name}_mean"] = float(tuning[name].mean())
    return out


def counted_flags(sample_stats: xr.Dataset, summary: dict[str, float]) -> dict[str, float]:
    """Flag name -> total, for the counted statistics of ``sample_stats`` (totals from ``summary``)."""
    return {var.attrs["counts"]: summary[var.attrs["counts"]] for var in sample_stats.data_vars.values() if var.attrs.get("counts")}


def fraction_below(loss: np.ndarray, loss_star: float) -> float:
    """Fraction of usable draws with L_n < L_n(w*)."""
    good = usable(loss)
    return float(np.mean(good < loss_star)) if good.size else float("nan")


def wnv(llc_se: float, cost: dict[str, float]) -> dict[str, float]:
    """Work-normalised variance Var(λ̂)·work, Var(λ̂) = SE², from a run's cost breakdown
    (``cost``: the ``cost_<part>_fde`` / ``cost_<part>_seconds`` attributes of its trace,
    ``samplers.driver.Trace.cost``): ``wnv_grad_<w>`` in λ²·full-data-equivalent gradients
    and ``wnv_time_<w>`` in λ²·seconds, for w = ``total`` (tuning, burn-in, draws and L_n
    passes: the work the estimate took, which ranks samplers) and ``sampling`` (draws and
    L_n passes only: the cost once warmed up). ``wnv_grad`` and ``wnv_time`` are the totals."""
    var = llc_se**2
    out = {
        f"wnv_{measure}_{part}": var * cost[f"cost_{part}_{unit}"]
        for measure, unit in (("grad", "fde"), ("time", "seconds"))
        for part in ("sampling", "total")
    }
    return {**out, "wnv_time": out["wnv_time_total"], "wnv_grad": out["wnv_grad_total"]}


UPSTREAM_FAILURES = ("data_nonfinite", "erm_nonfinite", "checkpoint_nonfinite")  # the sampler never saw usable inputs


def health_status(
    est: LLCEstimate,
    *,
    ess_tail: float,
    counts: dict[str, float],
    frac_below_L0: float,
    erm_converged: bool,
    thresholds: dict,
    failure: str = "",
    checkpoint_grad_norm: float | None = None,
) -> str:
    """``ok``, or every reason (``;``-separated) not to trust the estimate:
    diverged chains, R-hat above ``rhat_max``, bulk or tail ESS below ``ess_min``,
    bad steps the sampler counted (``counts``: flag -> total, e.g. divergent
    transitions), most draws below L_n(w*) (w* not a minimum), λ̂ < 0, an
    unconverged ERM. A run that could not sample has its ``failure`` instead of
    chain flags (``tuning_failed: …``, or an ``UPSTREAM_FAILURES`` one, which also
    makes the ERM flag moot).

    A run centred at a training checkpoint (``checkpoint_grad_norm`` = ‖∇L_n‖ there) is
    never ``ok``: its status starts ``not_a_minimum: |grad L_n| = g, p% of draws below L_n``,
    and the flags that assume a minimum (``w_star_not_minimum``, ``negative_llc``,
    ``erm_not_converged``) are left out, since at a non-minimum they are expected, not
    faults; the chain flags stay."""
    at_checkpoint = checkpoint_grad_norm is not None
    if failure:
        reasons = [failure]
    elif est.chains_used == 0:  # no draw to judge: only the ERM flag can still apply
        reasons = ["diverged: all chains non-finite"]
    else:
        reasons = _chain_flags(est, ess_tail, counts, frac_below_L0, thresholds, minimum=not at_checkpoint)
    upstream = failure.startswith(UPSTREAM_FAILURES)
    if at_checkpoint and not upstream:
        below = f", {100 * frac_below_L0:.0f}% of draws below L_n" if np.isfinite(frac_below_L0) else ""
        reasons.insert(0, f"not_a_minimum: |grad L_n| = {checkpoint_grad_norm:.3g}{below}")
    if not at_checkpoint and not erm_converged and not upstream:
        reasons.append("erm_not_converged")
    return ";".join(reasons) or "ok"


def _chain_flags(
    est: LLCEstimate, ess_tail: float, counts: dict[str, float], frac_below_L0: float, thresholds: dict, minimum: bool = True
) -> list[str]:
    reasons = []
    if est.chains_diverged:
        reasons.append(f"diverged: {est.chains_diverged} chain(s) non-finite, excluded")
    if np.isfinite(est.rhat) and est.rhat > thresholds["rhat_max"]:
        reasons.append(f"rhat {est.rhat:.3f} > {thresholds['rhat_max']}")
    low = min(est.ess, ess_tail)
    if not low >= thresholds["ess_min"]:
        reasons.append(f"ess {np.floor(low):.0f} < {thresholds['ess_min']:g}")
    reasons += [f"{flag}: {total:.0f}" for flag, total in counts.items() if total > 0]
    if not minimum:  # the flags below assume the centre is a minimum
        return reasons
    if frac_below_L0 > 0.5:
        reasons.append(f"w_star_not_minimum: {100 * frac_below_L0:.0f}% of draws below L0")
    if est.llc < 0:
        reasons.append("negative_llc")
    return reasons
