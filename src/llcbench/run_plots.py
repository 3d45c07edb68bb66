"""Per-run diagnostic figures: λ̂ as draws accumulate, L_n trace, autocorrelation, ESS and
R-hat, θ projections (trace, ranks), and histograms of a sampler's statistics. Matplotlib (Agg)
and ArviZ's plots; every function writes one PNG and returns its (closed) Figure, for inspection.
Each takes the run's trace DataTree ``dt`` (trace.nc) and/or its ``llc`` Dataset (llc.nc).
"""

from __future__ import annotations

import json

import arviz_plots as azp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from llcbench import diagnostics
from llcbench.plots import save_png


def run_title(attrs: dict) -> str:
    """Two lines naming the sampler, its main settings (the chain settings and the
    sampler's ``title_settings``) and the posterior."""
    s = json.loads(attrs["settings_json"])["sampler_settings"]
    keys = ("chains", "steps", "burn_in", "eval_every", "dtype", *json.loads(attrs.get("title_settings", "[]")))
    settings = ", ".join(f"{k}={s[k]}" for k in keys if k in s)
    return (
        f"{attrs['sampler'].upper()} ({settings})\n"
        f"d={attrs['d']}, n={attrs['n']}, nβ={attrs['nbeta']:.4g}, γ={attrs['gamma']:.4g}, L0={attrs['L0']:.3g}"
    )


def _draw_label(dt: xr.DataTree) -> str:
    s = json.loads(dt.attrs["settings_json"])["sampler_settings"]
    return f"draw (one every {s['eval_every']} steps after {s['burn_in']} burn-in steps)"


def _arviz_figure(pc, title: str, xlabel: str | None = None, ylabel: str | None = None):
    fig = pc.viz["figure"].item()
    top = fig.get_tightbbox(fig.canvas.get_renderer()).y1 / fig.get_figheight()  # above ArviZ's panel titles
    fig.suptitle(title, fontsize=9, y=max(top, 1.0) + 0.01, va="bottom")
    for ax in fig.axes:
        if xlabel:
            ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(ylabel)
    return fig


def running_llc(llc_ds: xr.Dataset, path) -> plt.Figure:
    """λ̂_t per chain (thin lines) and pooled over chains (thick line) against the
    sampler step at which each draw was taken."""
    a = llc_ds.attrs
    steps = llc_ds["step"].values
    fig, ax = plt.subplots(figsize=(7, 4))
    for c in llc_ds["chain"].values:
        ax.plot(steps, llc_ds["llc_running"].sel(chain=c), lw=0.9, alpha=0.7, label=f"chain {c}")
    ax.plot(steps, llc_ds["llc_running_pooled"], color="black", lw=2.2, label="pooled")
    ax.axhline(a["llc"], color="black", ls=":", lw=1)
    ax.set_xlabel("sampler step")
    ax.set_ylabel(r"running $\hat\lambda_t$ (dimensionless)")
    ax.set_title(
        f"{run_title(a)}\nλ̂ = {a['llc']:.2f} ± {a['llc_se']:.2f}, R-hat {a['rhat']:.3f}, ESS {a['ess']:.0f}, status: {a['status']}",
        fontsize=9,
    )
    ax.legend(fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    return save_png(fig, path)


def _trace(dt: xr.DataTree, var: str, heading: str, path) -> plt.Figure:
    pc = azp.plot_trace_dist(dt, var_names=[var], backend="matplotlib")
    fig = _arviz_figure(pc, heading + "\n" + run_title(dt.attrs))
    fig.axes[-1].set_xlabel(_draw_label(dt))
    return save_png(fig, path)


def loss_trace(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ trace + density of L_n per chain."""
    return _trace(dt, "L_n", "L_n trace (full-batch loss, nats per sample)", path)


def loss_acf(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ autocorrelation of L_n (lag in draws)."""
    pc = azp.plot_autocorr(dt, var_names=["L_n"], backend="matplotlib")
    every = json.loads(dt.attrs["settings_json"])["sampler_settings"]["eval_every"]
    return save_png(
        _arviz_figure(pc, "L_n autocorrelation\n" + run_title(dt.attrs), f"lag (draws; 1 draw = {every} steps)", "autocorrelation"), path
    )


def loss_ess(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ bulk and tail ESS of L_n as draws accumulate, the tail ESS at the 5% and 95%
    quantiles (as in llc.nc). ArviZ's x is the draws of all chains together."""
    pc = azp.plot_ess_evolution(dt, var_names=["L_n"], stats={"ess_tail": {"prob": diagnostics.TAIL_PROB}}, backend="matplotlib")
    title = "ESS of L_n as draws grow (bulk, tail at 5%/95%; dashed: 400)\n" + run_title(dt.attrs)
    return save_png(_arviz_figure(pc, title, "draws, all chains together", "ESS (draws)"), path)


def loss_rhat(llc_ds: xr.Dataset, path) -> plt.Figure:
    """R-hat of L_n over the first k draws, against k, with the health threshold."""
    a = llc_ds.attrs
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(llc_ds["checkpoint"], llc_ds["rhat_by_draws"], marker="o")
    ax.axhline(json.loads(a["health_json"])["rhat_max"], color="red", ls="--", label="health threshold")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("draws per chain")
    ax.set_ylabel("rank R-hat of L_n")
    ax.set_title("R-hat of L_n as draws grow\n" + run_title(a), fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_png(fig, path)


def theta_trace(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ trace of the random projections P·(w − w*)."""
    return _trace(dt, "theta_proj", "θ projected on 4 random unit directions, P·(w − w*)", path)


def theta_rank(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ rank plots (ECDF-PIT of ranks per chain) of the θ projections."""
    pc = azp.plot_rank(dt, var_names=["theta_proj"], backend="matplotlib")
    return save_png(
        _arviz_figure(pc, "Rank ECDF of θ projections per chain (inside the band = chains agree)\n" + run_title(dt.attrs)), path
    )


def _histogram(values: np.ndarray, xlabel: str, title: str, path) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for c, v in enumerate(values):
        ax.hist(v[np.isfinite(v)], bins=40, alpha=0.5, label=f"chain {c}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("draws")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def sampler_stat(dt: xr.DataTree, name: str, path) -> plt.Figure:
    """Histogram per chain of the sampler statistic ``name`` (its meaning, from the
    variable's attributes, in the title); empty for a run that never sampled (status
    ``tuning_failed`` or ``*_nonfinite``), whose trace has no statistics."""
    stats = dt["sample_stats"]
    if name in stats.data_vars:
        values, meaning = stats[name].values, stats[name].attrs.get("meaning", name)
    else:
        values, meaning = (
            np.full((dt["posterior"].sizes["chain"], dt["posterior"].sizes["draw"]), np.nan),
            f"{name} (not recorded: no draws)",
        )
    finite = values[np.isfinite(values)]
    spread = f"mean {finite.mean():.3g}, sd {finite.std():.3g}" if finite.size else "no finite values"
    return _histogram(values, name, f"{dt.attrs['sampler'].upper()}: {meaning}\n({spread})\n" + run_title(dt.attrs), path)
