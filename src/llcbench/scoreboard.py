"""The scoreboard: one row per (experiment, sampler) of the sweep CSV, its replicates pooled,
against a reference, with cost, work-normalised variance, health, SE calibration and a ranking.

Per (experiment, sampler), over its R replicates (``replicate`` column of the sweep CSV; runs
whose λ̂ is NaN are left out of the numbers and counted in ``replicates_used``):

- ``llc`` = the mean λ̂; ``llc_se`` = √(Σ SE_i²) / R (combined as for a mean of independent
  estimates), SE_i = ``llc.run_se`` of run i, the larger of its ArviZ MCSE and floored block
  bootstrap SE (``llc.bootstrap_se``): on the DLN preset's replicates each SE alone was too
  narrow for some sampler (README, "The scoreboard"), the larger of the two for none;
  ``llc_sd_replicates`` = the sd of λ̂ across replicates (ddof 1; R ≥ 2); ``llc_se_mean``, ``llc_se_bootstrap_mean`` and ``llc_se_larger_mean`` = the
  mean of each SE and of SE_i; ``calibration_mcse``, ``calibration_bootstrap`` and
  ``calibration`` (the scoreboard's own SE) = ``llc_sd_replicates`` / that mean (1 is ideal:
  above 1 the error bars are too narrow; NaN below two replicates). The sd of R
  values scatters by a relative 1/√(2(R − 1)) around the truth (25 % at R = 9, 13 % at R = 32).
- the reference of the experiment: the analytic λ (``true_llc``, deep linear networks) where
  the sweep CSV has one (``reference`` = ``analytic``, SE 0), otherwise the pooled λ̂ of the
  reference sampler the experiment's ``reference`` setting names (default ``hmc``). A reference
  sampler that was not run, has no finite λ̂ or a status other than ``ok`` in any replicate
  gives a NaN reference (and NaN bias, z, relative error on every row) and says why in ``note``.
- ``bias`` = λ̂ − reference; ``bias_se`` = √(SE² + SE_ref²); ``z`` = bias / bias_se;
  ``rel_error`` = bias / reference. The reference sampler's own row has NaN bias (it is the
  reference) and ``note`` = ``reference``.
- cost and WNV per run, averaged over the replicates: ``cost_total_fde``, ``cost_total_seconds``,
  ``wnv_grad_total``, ``wnv_time_total``, ``wnv_grad_sampling``, ``wnv_time_sampling``.
- ``status``: ``ok`` when every replicate is ``ok``, else the distinct statuses of the others,
  ``" | "``-joined (each prefixed ``k/R:`` when R > 1).
- ``rank``: 1, 2, ... by ``wnv_grad_total`` (full-data-equivalent gradients: the same on every
  machine) among the experiment's eligible rows, status ``ok`` and |z| < 2 (the reference sampler
  itself is eligible when ``ok``); NaN for the others. ``rank_time`` is the same by
  ``wnv_time_total``.

Pandas only: the scoreboard job imports no JAX, ArviZ or SciPy.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from llcbench import files, llc

Z_MAX = 2.0  # |z| below this: the sampler agrees with the reference (ranking eligibility)
ANALYTIC = "analytic"
COST = ["cost_total_fde", "cost_total_seconds", "wnv_grad_total", "wnv_time_total", "wnv_grad_sampling", "wnv_time_sampling"]
COLUMNS = (
    (
        "experiment sampler replicates replicates_used llc llc_se llc_sd_replicates llc_se_mean llc_se_bootstrap_mean "
        "llc_se_larger_mean calibration_mcse calibration_bootstrap calibration reference reference_llc reference_se bias "
        "bias_se z rel_error"
    ).split()
    + COST
    + ["status", "rank", "rank_time", "note"]
)


def _status(statuses: list[str]) -> str:
    bad = [s for s in statuses if s != "ok"]
    if not bad:
        return "ok"
    if len(statuses) == 1:
        return bad[0]
    counts = pd.Series(bad).value_counts(sort=False)
    return " | ".join(f"{k}/{len(statuses)}: {s}" for s, k in counts.items())


def pool_replicates(rows: pd.DataFrame) -> dict:
    """The pooled numbers of one (experiment, sampler): ``rows`` are its replicates' sweep-CSV rows."""
    finite = rows[np.isfinite(rows["llc"].astype(float))]
    r, used = len(rows), len(finite)
    nan = float("nan")
    se = finite["llc_se"].astype(float)
    boot = finite["llc_se_bootstrap"].astype(float) if "llc_se_bootstrap" in finite else pd.Series(nan, index=finite.index)
    larger = llc.run_se(se, boot)
    sd = float(finite["llc"].std(ddof=1)) if used >= 2 else nan
    se_mean, boot_mean, larger_mean = (float(v.mean()) if used else nan for v in (se, boot, larger))
    return {
        "replicates": r,
        "replicates_used": used,
        "llc": float(finite["llc"].mean()) if used else nan,
        "llc_se": math.sqrt(float((larger**2).sum())) / used if used else nan,
        "llc_sd_replicates": sd,
        "llc_se_mean": se_mean,
        "llc_se_bootstrap_mean": boot_mean,
        "llc_se_larger_mean": larger_mean,
        "calibration_mcse": sd / se_mean if used >= 2 and se_mean > 0 else nan,
        "calibration_bootstrap": sd / boot_mean if used >= 2 and boot_mean > 0 else nan,
        "calibration": sd / larger_mean if used >= 2 and larger_mean > 0 else nan,
        **{c: float(rows[c].astype(float).mean()) if c in rows else nan for c in COST},
        "status": _status(list(rows["status"].astype(str))),
    }


def _reference(rows: pd.DataFrame, pooled: dict[str, dict], sampler: str | None) -> tuple[str, float, float, str]:
    """(name, λ, SE, note) of an experiment's reference: the analytic λ where its rows have one,
    else sampler ``sampler``'s pooled λ̂ (NaN, with the reason in ``note``, when it cannot serve
    or no sampler is named)."""
    truth = rows["true_llc"].astype(float).dropna() if "true_llc" in rows else pd.Series(dtype=float)
    if len(truth):
        return ANALYTIC, float(truth.iloc[0]), 0.0, ""
    nan = float("nan")
    if sampler is None:
        return "", nan, nan, "no reference: no analytic λ and no reference sampler named"
    if sampler not in pooled:
        return sampler, nan, nan, f"reference sampler {sampler} not run in this experiment"
    ref = pooled[sampler]
    if not np.isfinite(ref["llc"]) or ref["status"] != "ok":
        return sampler, nan, nan, f"reference {sampler} failed (status: {ref['status']}, llc = {ref['llc']:.4g})"
    return sampler, ref["llc"], ref["llc_se"], ""


def _ranks(values: pd.Series, eligible: pd.Series) -> pd.Series:
    v = values.where(eligible & np.isfinite(values.astype(float)))
    return v.rank(method="min")


def scoreboard(sweep: pd.DataFrame, references: dict[str, str] | None = None) -> pd.DataFrame:
    """The scoreboard of the sweep CSV ``sweep`` (module doc); ``references``: experiment -> its
    reference sampler (the config's ``reference``, which the workflow gives for every experiment;
    an experiment not listed has only the analytic λ, where it exists, as reference)."""
    references = references or {}
    if "replicate" not in sweep:
        sweep = sweep.assign(replicate=0)
    out = []
    for experiment, rows in sweep.groupby("experiment", sort=False):
        samplers = list(dict.fromkeys(rows["sampler"]))
        pooled = {s: pool_replicates(rows[rows["sampler"] == s].sort_values("replicate")) for s in samplers}
        ref_name, ref_llc, ref_se, ref_note = _reference(rows, pooled, references.get(experiment))
        for s in samplers:
            p = pooled[s]
            is_ref = ref_name == s
            bias = float("nan") if is_ref else p["llc"] - ref_llc
            bias_se = float("nan") if is_ref else math.sqrt(p["llc_se"] ** 2 + ref_se**2)
            z = bias / bias_se if bias_se > 0 else float("nan")
            note = "reference" if is_ref else ref_note
            out.append(
                {
                    "experiment": experiment,
                    "sampler": s,
                    **p,
                    "reference": ref_name,
                    "reference_llc": ref_llc,
                    "reference_se": ref_se,
                    "bias": bias,
                    "bias_se": bias_se,
                    "z": z,
                    "rel_error": bias / ref_llc if ref_llc else float("nan"),
                    "note": note,
                }
            )
    table = pd.DataFrame(out, columns=[c for c in COLUMNS if c not in ("rank", "rank_time")])
    eligible = (table["status"] == "ok") & ((table["z"].abs() < Z_MAX) | (table["note"] == "reference"))
    table["rank"] = table.groupby("experiment", sort=False)["wnv_grad_total"].transform(lambda v: _ranks(v, eligible[v.index]))
    table["rank_time"] = table.groupby("experiment", sort=False)["wnv_time_total"].transform(lambda v: _ranks(v, eligible[v.index]))
    return table[COLUMNS]


def ranking(table: pd.DataFrame) -> dict[str, list[str]]:
    """Experiment -> its ranked samplers (best first), from a scoreboard's ``rank`` column."""
    ranked = table.dropna(subset=["rank"]).sort_values(["experiment", "rank"], kind="stable")
    return {e: list(rows["sampler"]) for e, rows in ranked.groupby("experiment", sort=False)}


def write_scoreboard(sweep_csv: str, references: dict[str, str], out: str) -> None:
    """The scoreboard job: ``scoreboard`` of the sweep CSV, written atomically; the ranking is logged."""
    table = scoreboard(pd.read_csv(sweep_csv), references)
    files.write_text(table.to_csv(index=False), out)
    log = logging.getLogger(__name__)
    for experiment, ranked in ranking(table).items():
        log.info("%s: %s", experiment, " < ".join(ranked))
    log.info("wrote %d rows", len(table))
