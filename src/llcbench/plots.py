"""Figures. Matplotlib (Agg) and ArviZ's plots; every function writes one PNG and returns its
(closed) Figure, for inspection.

Per-run figures take the run's trace DataTree ``dt`` and/or its ``llc`` Dataset;
sweep figures take the sweep table.
"""

from __future__ import annotations

import io as _io
import json

import matplotlib

matplotlib.use("Agg")
import arviz_plots as azp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from llcbench import diagnostics, files  # noqa: E402


def _save(fig, path) -> plt.Figure:
    """Write ``fig`` to ``path`` as a PNG, close it and return it (for inspection)."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    files.write_bytes(buf.getvalue(), path)
    return fig


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
    return _save(fig, path)


def _trace(dt: xr.DataTree, var: str, heading: str, path) -> plt.Figure:
    pc = azp.plot_trace_dist(dt, var_names=[var], backend="matplotlib")
    fig = _arviz_figure(pc, heading + "\n" + run_title(dt.attrs))
    fig.axes[-1].set_xlabel(_draw_label(dt))
    return _save(fig, path)


def loss_trace(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ trace + density of L_n per chain."""
    return _trace(dt, "L_n", "L_n trace (full-batch loss, nats per sample)", path)


def loss_acf(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ autocorrelation of L_n (lag in draws)."""
    pc = azp.plot_autocorr(dt, var_names=["L_n"], backend="matplotlib")
    every = json.loads(dt.attrs["settings_json"])["sampler_settings"]["eval_every"]
    return _save(
        _arviz_figure(pc, "L_n autocorrelation\n" + run_title(dt.attrs), f"lag (draws; 1 draw = {every} steps)", "autocorrelation"), path
    )


def loss_ess(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ bulk and tail ESS of L_n as draws accumulate, the tail ESS at the 5% and 95%
    quantiles (as in llc.nc). ArviZ's x is the draws of all chains together."""
    pc = azp.plot_ess_evolution(dt, var_names=["L_n"], stats={"ess_tail": {"prob": diagnostics.TAIL_PROB}}, backend="matplotlib")
    title = "ESS of L_n as draws grow (bulk, tail at 5%/95%; dashed: 400)\n" + run_title(dt.attrs)
    return _save(_arviz_figure(pc, title, "draws, all chains together", "ESS (draws)"), path)


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
    return _save(fig, path)


def theta_trace(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ trace of the random projections P·(w − w*)."""
    return _trace(dt, "theta_proj", "θ projected on 4 random unit directions, P·(w − w*)", path)


def theta_rank(dt: xr.DataTree, path) -> plt.Figure:
    """ArviZ rank plots (ECDF-PIT of ranks per chain) of the θ projections."""
    pc = azp.plot_rank(dt, var_names=["theta_proj"], backend="matplotlib")
    return _save(_arviz_figure(pc, "Rank ECDF of θ projections per chain (inside the band = chains agree)\n" + run_title(dt.attrs)), path)


def _histogram(values: np.ndarray, xlabel: str, title: str, path) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for c, v in enumerate(values):
        ax.hist(v[np.isfinite(v)], bins=40, alpha=0.5, label=f"chain {c}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("draws")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


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


def _sweep_axes(table: pd.DataFrame) -> list[str]:
    """The swept setting paths (columns after ``sweep_axis``), empty without a sweep."""
    if "sweep_axis" not in table or not table["sweep_axis"].dropna().astype(str).str.len().any():
        return []
    return list(table.columns[list(table.columns).index("sweep_axis") + 1 :])


def _llc_panel(ax, sub: pd.DataFrame, xcol: str, samplers: list[str]) -> None:
    cats = list(dict.fromkeys(sub[xcol].astype(str)))
    for i, s in enumerate(samplers):
        rows = sub[sub["sampler"] == s]
        x = np.array([cats.index(v) for v in rows[xcol].astype(str)]) + (i - (len(samplers) - 1) / 2) * 0.15
        ax.errorbar(x, rows["llc"], yerr=rows["llc_se"], fmt="o", capsize=3, label=s, alpha=0.8)
    truths = [(i, lam) for i, c in enumerate(cats) for lam in np.unique(sub.loc[sub[xcol].astype(str) == c, "true_llc"].dropna())]
    for k, (i, lam) in enumerate(truths):  # the analytic λ (deep linear networks) as a dashed bar over its category
        ax.hlines(lam, i - 0.4, i + 0.4, colors="black", linestyles="--", label="analytic λ" if k == 0 else None)
    ax.set_xticks(np.arange(len(cats)), cats, rotation=30, ha="right")
    ax.set_xlabel(xcol)
    ax.set_ylabel(r"$\hat\lambda$ ± SE")
    ax.grid(alpha=0.3)


def sweep_llc(table: pd.DataFrame, path) -> plt.Figure:
    """λ̂ ± SE per sampler: one panel per swept setting (one-at-a-time panels include
    the base point; seeds are separate points), or per experiment without a sweep."""
    samplers = list(dict.fromkeys(table["sampler"]))
    axes = _sweep_axes(table)
    panels = [(a, table[table["sweep_axis"].isin([a, "base", "grid"])]) for a in axes] or [("experiment", table)]
    fig, axs = plt.subplots(1, len(panels), figsize=(4.5 * len(panels) + 1.5, 4.2), squeeze=False, layout="constrained")
    for ax, (col, sub) in zip(axs[0], panels):
        _llc_panel(ax, sub, col, samplers)
    axs[0][0].legend()
    fig.suptitle("LLC estimates across the sweep (error bars: MCSE)", fontsize=10)
    return _save(fig, path)


def sweep_wnv(table: pd.DataFrame, path) -> plt.Figure:
    """Work-normalised variance per sampler in both units (log scale, one point per experiment)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    samplers = list(dict.fromkeys(table["sampler"]))
    for ax, col, unit in ((axes[0], "wnv_time", "λ² · seconds"), (axes[1], "wnv_grad", "λ² · full-data gradients")):
        for i, s in enumerate(samplers):
            v = table.loc[table["sampler"] == s, col]
            v = v[np.isfinite(v) & (v > 0)]  # diverged runs have no WNV
            ax.scatter(np.full(len(v), i), v, alpha=0.7)
        ax.set_xticks(range(len(samplers)), samplers)
        if ax.collections and any(len(c.get_offsets()) for c in ax.collections):
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no finite WNV (all runs diverged)", ha="center", transform=ax.transAxes)
        ax.set_ylabel(f"{col} ({unit})")
        ax.grid(alpha=0.3)
    fig.suptitle("Work-normalised variance Var(λ̂) × work (lower is better)", fontsize=10)
    return _save(fig, path)


def step_size_calibration(table: pd.DataFrame, sampler: str, stats: dict[str, str], path) -> plt.Figure:
    """``sampler``'s runs of a sweep over ``samplers.<sampler>.step_size``: λ̂ ± SE, the
    mean of each statistic in ``stats`` (CSV column -> meaning; e.g. SGLD's MALA
    acceptance, healthy near 0.9) and the fraction of diverged chains against the step
    size, to pick the largest stable step."""
    axis = f"samplers.{sampler}.step_size"
    rows = table[(table["sampler"] == sampler) & table[axis].notna()].sort_values(axis)  # the sweep's runs, not other experiments
    h = rows[axis].astype(float)
    fig, axs = plt.subplots(1, 2 + len(stats), figsize=(4.4 * (2 + len(stats)), 3.8), layout="constrained", squeeze=False)
    axs = axs[0]
    axs[0].errorbar(h, rows["llc"], yerr=rows["llc_se"], fmt="o-", capsize=3)
    axs[0].set_ylabel(r"$\hat\lambda$ ± SE")
    for ax, (col, meaning) in zip(axs[1:], stats.items()):
        ax.plot(h, rows[col], "o-")
        ax.set_ylabel(col)
        ax.set_title(meaning, fontsize=7, wrap=True)
    axs[-1].plot(h, rows["chains_diverged"] / rows["chains"], "o-", color="red")
    axs[-1].set_ylim(-0.02, 1.02)
    axs[-1].set_ylabel("fraction of chains diverged")
    for ax in axs:
        ax.set_xscale("log")
        ax.set_xlabel(f"{sampler} step size")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{sampler.upper()} step-size calibration: choose the largest step whose λ̂ is stable and no chain diverges", fontsize=10)
    return _save(fig, path)


def _trajectory_floor(rows: pd.DataFrame, references: np.ndarray) -> float:
    """The λ̂ axis floor of a trajectory figure: −inf (no clipping), unless some λ̂ lie far below
    the rest (chains that left a saddle, or a checkpoint in a steep descent, give λ̂ of −nβ·ΔL):
    then a floor under the others, so that those points do not flatten the plateaus."""
    llc = rows["llc"].to_numpy(float)
    values = np.concatenate([llc, references])
    values = values[np.isfinite(values)]
    if not values.size:
        return -np.inf
    top = max(values.max(), 1.0)
    kept = llc[np.isfinite(llc) & (llc >= -0.5 * top)]
    if not (llc < -0.5 * top).any():
        return -np.inf
    return min(-0.25 * top, kept.min() - 0.1 * top if kept.size else -0.25 * top)


def llc_trajectory(table: pd.DataFrame, erm: xr.Dataset, experiment: str, path) -> plt.Figure:
    """λ̂ ± SE per sampler against the training step (log axis) of one experiment's rows of
    the trajectory table, with the training loss L_n at every kept step (``erm``: its erm.nc)
    on a second axis; for deep linear networks, the analytic λ of a rank-k network for the rank
    k learnt so far as a dashed step line (a reference: a plateau is a saddle), and the analytic
    λ at w* where it applies. Hollow markers: estimates with health flags beyond ``not_a_minimum``;
    triangles on the floor, with their value: estimates far below the rest (see ``_trajectory_floor``)."""
    from llcbench.trajectory import flagged

    rows = table[table["experiment"] == experiment]
    fig, ax = plt.subplots(figsize=(8.5, 5))
    loss_ax = ax.twinx()
    steps, loss = erm["snapshot_step"].values, erm["snapshot_loss"].values
    loss_ax.plot(steps, loss, color="grey", lw=1.6, alpha=0.6, label="training loss L_n (right axis)")
    if np.all(loss[np.isfinite(loss)] > 0) and np.isfinite(loss).any():
        loss_ax.set_yscale("log")
    loss_ax.set_ylabel("training loss L_n (full batch)", color="dimgrey")
    reference = erm["snapshot_reference_llc"].values
    if np.isfinite(reference).any():
        ax.plot(
            steps, reference, color="black", ls="--", lw=1.2, drawstyle="steps-post", label="analytic λ, rank-k network, k learnt so far"
        )
        ranks = erm["snapshot_learnt_rank"].values
        for i in np.flatnonzero(np.r_[True, ranks[1:] != ranks[:-1]] & np.isfinite(reference)):  # where k changes
            ax.annotate(f"k = {ranks[i]}", (steps[i], reference[i]), textcoords="offset points", xytext=(3, 3), fontsize=7)
    truth = rows.loc[rows["final"] == 1, ["step", "true_llc"]].dropna()
    bottom = _trajectory_floor(rows, np.concatenate([reference, truth["true_llc"].to_numpy()]))
    samplers = list(dict.fromkeys(rows["sampler"]))
    for i, s in enumerate(samplers):
        r = rows[rows["sampler"] == s].sort_values("step")
        x = r["step"].to_numpy(float) * 1.04 ** (i - (len(samplers) - 1) / 2)  # side by side on the log axis
        y = r["llc"].to_numpy(float)
        line = ax.errorbar(
            x, np.maximum(y, bottom), yerr=np.where(y < bottom, 0, r["llc_se"]), fmt="-", lw=1.2, capsize=3, label=f"{s} λ̂ ± SE"
        )
        color = line[0].get_color()
        bad, off = flagged(r["status"]).to_numpy(), y < bottom
        ax.scatter(x[~bad & ~off], y[~bad & ~off], color=color, zorder=3, s=30)
        ax.scatter(x[bad & ~off], y[bad & ~off], facecolors="white", edgecolors=color, zorder=3, s=30)
        for xi, yi in zip(x[off], y[off]):  # far below: drawn at the axis floor, value written beside
            ax.scatter([xi], [bottom], marker="v", color=color, zorder=3, s=40)
            ax.annotate(
                f"{yi:.3g}",
                (xi, bottom),
                textcoords="offset points",
                xytext=(7, 2 + 11 * i),
                fontsize=7,
                color=color,
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.3},
                zorder=5,
            )
    if len(truth):
        ax.scatter(truth["step"], truth["true_llc"], marker="*", s=160, color="black", zorder=4, label="analytic λ at w*")
    if np.isfinite(bottom):
        ax.set_ylim(bottom=bottom - 0.04 * (ax.get_ylim()[1] - bottom))
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(r"$\hat\lambda$ ± SE (centred at the step's parameters)")
    ax.set_zorder(loss_ax.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = loss_ax.get_legend_handles_labels()
    if np.isfinite(bottom):
        more.append(plt.Line2D([], [], marker="v", color="grey", ls="none"))
        more_labels.append("λ̂ below the axis (value beside)")
    ax.legend(handles + more, labels + more_labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    first = rows.iloc[0] if len(rows) else None
    where = f"d={erm.attrs['d']}, nβ={first['nbeta']:.4g}, γ={first['gamma']:.4g}" if first is not None else ""
    ax.set_title(
        f"LLC along training: {experiment} ({where})\n"
        "every point but the last is centred at a non-minimum (status not_a_minimum); hollow: other health flags",
        fontsize=9,
    )
    return _save(fig, path)
