"""The estimation stage: λ̂, its uncertainty, diagnostics and health status of one
run -> ``llc.nc`` and ``summary.md``."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from llcbench import diagnostics, files, llc, summary

log = logging.getLogger(__name__)


def estimate_llc(trace_path: str, out: str, summary_out: str, health: dict) -> None:
    """λ̂, SE, diagnostics, WNV, health status and running λ̂_t from a trace ->
    ``llc.nc``, plus a human-readable ``summary.md``."""
    dt = files.open_datatree(trace_path)
    a = dt.attrs
    eval_every = files.settings_of(dt)["sampler_settings"]["eval_every"]
    loss = dt["posterior"]["L_n"].values
    est = llc.estimate(loss, a["L0"], a["nbeta"])
    per_chain, pooled = llc.running_llc(loss, a["L0"], a["nbeta"])
    evo = diagnostics.evolution(loss)
    acf = diagnostics.autocorrelation(loss)
    stats = diagnostics.sampler_summary(dt["sample_stats"].to_dataset(), dt["tuning"].to_dataset(), eval_every)
    se_bootstrap = llc.bootstrap_se(loss, a["nbeta"])
    extra = {
        "llc_se_bootstrap": se_bootstrap,
        "replicate": int(files.settings_of(dt).get("replicate", 0)),  # plan.build_plan: 0 unless replicates > 1
        "ess_tail": diagnostics.tail_ess(loss),
        "frac_below_L0": diagnostics.fraction_below(loss, a["L0"]),
        **stats,
        **diagnostics.wnv(float(llc.run_se(est.llc_se, se_bootstrap)), {k: a[k] for k in a if k.startswith("cost_")}),
    }
    status = diagnostics.health_status(
        est,
        ess_tail=extra["ess_tail"],
        counts=diagnostics.counted_flags(dt["sample_stats"].to_dataset(), stats),
        frac_below_L0=extra["frac_below_L0"],
        erm_converged=bool(a.get("erm_converged", 1)),
        thresholds=health,
        failure=a.get("failure", ""),
        checkpoint_grad_norm=a.get("checkpoint_grad_norm"),
    )
    obj = xr.Dataset(
        {
            "llc_running": (("chain", "draw"), per_chain),
            "llc_running_pooled": (("draw",), pooled),
            "L_acf": (("chain", "lag"), acf),
            "ess_bulk_by_draws": (("checkpoint",), evo["ess_bulk"]),
            "ess_tail_by_draws": (("checkpoint",), evo["ess_tail"]),
            "rhat_by_draws": (("checkpoint",), evo["rhat"]),
        },
        coords={
            "chain": dt["posterior"]["chain"].values,
            "draw": dt["posterior"]["draw"].values,
            "step": ("draw", dt["posterior"]["step"].values),
            "lag": np.arange(acf.shape[1]),
            "checkpoint": evo["draws"],
        },
        attrs={
            **dict(a),
            **{k: float(v) for k, v in est._asdict().items()},
            **extra,
            "rel_error": float((est.llc - a["true_llc"]) / a["true_llc"]),
            "health_json": files.canonical_json(health),
            "status": status,
        },
    )
    files.write_netcdf(obj, out)
    files.write_text(summary.run_summary(obj.attrs, list(stats)), summary_out)
    (log.info if status == "ok" else log.warning)(
        "%s: llc = %.4g ± %.3g (ess %.0f, rhat %.3f), status %s", a["sampler"], est.llc, est.llc_se, est.ess, est.rhat, status
    )
