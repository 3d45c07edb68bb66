"""Figures that compare runs: λ̂ and WNV across a sweep, a sampler's step-size calibration, λ̂
along training. Matplotlib (Agg) only; every function writes one PNG and returns its (closed)
Figure, for inspection. Each takes a table (the sweep or trajectory CSV). Per-run diagnostic
figures are in ``llcbench.run_plots``.
"""

from __future__ import annotations

import io as _io
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from llcbench import files  # noqa: E402

if TYPE_CHECKING:
    import xarray as xr


def save_png(fig, path) -> plt.Figure:
    """Write ``fig`` to ``path`` as a PNG, close it and return it (for inspection)."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    files.write_bytes(buf.getvalue(), path)
    return fig


def _sweep_axes(table: pd.DataFrame) -> list[str]:
    """The swept setting paths (columns after ``sweep_axis``), empty without a sweep."""
    if "sweep_axis" not in table or not table["sweep_axis"].dropna().astype(str).str.len().any():
        return []
    return list(table.columns[list(table.columns).index("sweep_axis") + 1 :])


def _llc_panel(ax, sub: pd.DataFrame, xcol: str, samplers: list[str], references: dict | None = None) -> None:
    """λ̂ ± SE of ``samplers`` per category of ``xcol``, with the analytic λ (dashed) and the
    reference sampler's λ̂ of an experiment without one (``references``: experiment -> λ̂, dotted)."""
    references = references or {}
    cats = list(dict.fromkeys(sub[xcol].astype(str)))
    for i, s in enumerate(samplers):
        rows = sub[sub["sampler"] == s]
        x = np.array([cats.index(v) for v in rows[xcol].astype(str)]) + (i - (len(samplers) - 1) / 2) * 0.15
        ax.errorbar(x, rows["llc"], yerr=rows["llc_se"], fmt="o", capsize=3, label=s, alpha=0.8)
    truths = [(i, lam) for i, c in enumerate(cats) for lam in np.unique(sub.loc[sub[xcol].astype(str) == c, "true_llc"].dropna())]
    for k, (i, lam) in enumerate(truths):  # the analytic λ (deep linear networks) as a dashed bar over its category
        ax.hlines(lam, i - 0.4, i + 0.4, colors="black", linestyles="--", label="analytic λ" if k == 0 else None)
    refs = [  # the scoreboard's reference sampler's λ̂ (no analytic λ), dotted over its category
        (i, references[e])
        for i, c in enumerate(cats)
        for e in dict.fromkeys(sub.loc[sub[xcol].astype(str) == c, "experiment"])
        if e in references
    ]
    if refs:
        i = np.array([i for i, _ in refs])
        ax.hlines([lam for _, (_, lam) in refs], i - 0.4, i + 0.4, colors="grey", linestyles=":", label="reference λ̂")
    ax.set_xticks(np.arange(len(cats)), cats, rotation=30, ha="right")
    ax.set_xlabel(xcol)
    ax.set_ylabel(r"$\hat\lambda$ ± SE")
    ax.grid(alpha=0.3)


def sweep_llc(table: pd.DataFrame, path, scoreboard: pd.DataFrame | None = None) -> plt.Figure:
    """λ̂ ± SE per sampler: one panel per swept setting (one-at-a-time panels include
    the base point; seeds are separate points), or per experiment without a sweep. With the
    ``scoreboard``, each experiment's reference sampler's λ̂ (where no analytic λ exists) is a
    dotted bar."""
    references = {}
    if scoreboard is not None:
        own = scoreboard[(scoreboard["reference"] == scoreboard["sampler"]) & np.isfinite(scoreboard["reference_llc"].astype(float))]
        references = {e: (s, lam) for e, s, lam in zip(own["experiment"], own["sampler"], own["reference_llc"])}
    samplers = list(dict.fromkeys(table["sampler"]))
    axes = _sweep_axes(table)
    panels = [(a, table[table["sweep_axis"].isin([a, "base", "grid"])]) for a in axes] or [("experiment", table)]
    fig, axs = plt.subplots(1, len(panels), figsize=(4.5 * len(panels) + 1.5, 4.2), squeeze=False, layout="constrained")
    for ax, (col, sub) in zip(axs[0], panels):
        _llc_panel(ax, sub, col, samplers, references)
    axs[0][0].legend()
    fig.suptitle("LLC estimates across the sweep (error bars: MCSE)", fontsize=10)
    return save_png(fig, path)


def sweep_wnv(table: pd.DataFrame, path) -> plt.Figure:
    """Work-normalised variance per sampler in both units, of the whole run's cost (``wnv_time``,
    ``wnv_grad``: tuning, burn-in, draws and L_n passes; log scale, one point per experiment)."""
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
    fig.suptitle("Work-normalised variance Var(λ̂) × total work: tuning, burn-in, draws and L_n passes (lower is better)", fontsize=10)
    return save_png(fig, path)


def scoreboard(table: pd.DataFrame, path) -> plt.Figure:
    """The scoreboard (``llcbench.scoreboard``): per experiment and sampler, the relative error
    against the reference ± 2 SE (left) and the total WNV in full-data gradients (right); filled
    markers are the ranked samplers (status ok, |z| < 2), with their rank; hollow ones are not."""
    samplers = list(dict.fromkeys(table["sampler"]))
    experiments = list(dict.fromkeys(table["experiment"].astype(str)))
    fig, axs = plt.subplots(1, 2, figsize=(max(9.0, 1.2 * len(experiments) + 6), 4.4), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, s in enumerate(samplers):
        rows = table[table["sampler"] == s]
        x = np.array([experiments.index(str(e)) for e in rows["experiment"]]) + (i - (len(samplers) - 1) / 2) * 0.12
        ranked = rows["rank"].notna().to_numpy()
        c = colors[i % len(colors)]
        rel, err = 100 * rows["rel_error"], 200 * rows["bias_se"] / rows["reference_llc"].abs()
        axs[0].errorbar(x, rel, yerr=err, fmt="none", ecolor=c, capsize=3, alpha=0.8)
        for ax, y in ((axs[0], rel), (axs[1], rows["wnv_grad_total"])):
            ax.scatter(x[ranked], y[ranked], color=c, label=s if ax is axs[0] else None, zorder=3)
            ax.scatter(x[~ranked], y[~ranked], facecolors="none", edgecolors=c, zorder=3)
        for xi, yi, r in zip(x[ranked], rows["wnv_grad_total"][ranked], rows["rank"][ranked]):
            axs[1].annotate(f"{r:.0f}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    refs = table.drop_duplicates("experiment").set_index("experiment")["reference"]
    labels = [f"{e}\n(vs {refs.get(e, '?')})" for e in experiments]
    axs[0].axhline(0, color="black", lw=0.8)
    axs[0].set_ylabel("(λ̂ − reference) / reference, % (± 2 SE)")
    if not np.isfinite(table["rel_error"].astype(float)).any():
        axs[0].text(0.5, 0.5, "no usable reference (see the CSV's note)", ha="center", transform=axs[0].transAxes)
    wnv = table["wnv_grad_total"].astype(float)
    if (np.isfinite(wnv) & (wnv > 0)).any():
        axs[1].set_yscale("log")
    axs[1].set_ylabel("wnv_grad_total (λ² · full-data gradients)")
    for ax in axs:
        ax.set_xticks(np.arange(len(experiments)), labels, rotation=30, ha="right", fontsize=8)
        ax.grid(alpha=0.3)
    axs[0].legend(fontsize=8)
    fig.suptitle("Scoreboard: bias against the reference and total WNV (filled: ranked, status ok and |z| < 2)", fontsize=10)
    return save_png(fig, path)


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
    return save_png(fig, path)


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
    return save_png(fig, path)


# The scaling figure's panels: (CSV column, y label); a sampler's cost is its whole estimate's
# (tuning, burn-in, draws and L_n passes; compilation excluded).
SCALING_PANELS = (
    ("llc", r"$\hat\lambda$ ± SE"),
    ("cost_total_seconds", "cost: seconds (all chains)"),
    ("cost_total_fde", "cost: full-data-equivalent gradients"),
)


def scaling(table: pd.DataFrame, path, labels: dict[str, str] | None = None) -> plt.Figure:
    """λ̂ ± SE and the cost of each sampler against the parameter count d (log axes): one line
    per (sampler, activation), one point per run (a run shared by several experiments once).
    ``labels``: run ID -> the sampler's name in the legend (e.g. ``sgld (rmsprop)`` for
    preconditioned SGLD, which the CSV does not tell apart); the CSV's sampler by default.
    Hollow markers: runs with health flags (status not ok)."""
    labels = labels or {}
    rows = table.drop_duplicates("run_id").copy()
    rows["label"] = [labels.get(r, s) for r, s in zip(rows["run_id"], rows["sampler"])]
    rows = rows.sort_values("d")
    fig, axs = plt.subplots(1, len(SCALING_PANELS), figsize=(5 * len(SCALING_PANELS), 4.4), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^v<>"
    activations = list(dict.fromkeys(rows["activation"]))
    for i, label in enumerate(dict.fromkeys(rows["label"])):
        for j, act in enumerate(activations):
            line = rows[(rows["label"] == label) & (rows["activation"] == act)]
            if line.empty:
                continue
            style = {"color": colors[i % len(colors)], "marker": markers[j % len(markers)], "ls": ("-", "--", ":", "-.")[j % 4]}
            flagged = (line["status"] != "ok").to_numpy()
            for ax, (col, _) in zip(axs, SCALING_PANELS):
                y = line[col].astype(float)
                if col == "llc":
                    ax.errorbar(line["d"], y, yerr=line["llc_se"], capsize=3, label=f"{label} · {act}", **style)
                else:
                    ax.plot(line["d"], y, **style)
                ax.scatter(line["d"][flagged], y[flagged], s=70, facecolors="white", edgecolors=style["color"], zorder=3)
    for ax, (col, ylabel) in zip(axs, SCALING_PANELS):
        ax.set_xscale("log")
        values = rows[col].astype(float)
        if (values[np.isfinite(values)] > 0).all() and np.isfinite(values).any():
            ax.set_yscale("log")
        ax.set_xlabel("parameters d")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    axs[0].legend(fontsize=7)
    first = rows.iloc[0] if len(rows) else None
    where = f" (n={first['n']}, nβ={first['nbeta']:.4g}, γ={first['gamma']:.4g})" if first is not None else ""
    fig.suptitle(f"Scaling: λ̂ and cost against the parameter count{where}; hollow: runs with health flags", fontsize=10)
    return save_png(fig, path)


# The figure jobs (rules/plots.smk, rules/scoreboard.smk): file paths in, PNG files out.
def sweep_figures(csv: str, scoreboard_csv: str, llc_png: str, wnv_png: str) -> None:
    """λ̂ (with each experiment's reference from the scoreboard) and WNV across the sweep."""
    table = pd.read_csv(csv)
    sweep_llc(table, llc_png, pd.read_csv(scoreboard_csv))
    sweep_wnv(table, wnv_png)


def scoreboard_figure(csv: str, png: str) -> None:
    scoreboard(pd.read_csv(csv), png)


def step_size_figure(csv: str, sampler: str, stats: dict[str, str], png: str) -> None:
    step_size_calibration(pd.read_csv(csv), sampler, stats, png)


def trajectory_figure(csv: str, erm_nc: str, experiment: str, png: str) -> None:
    erm = files.open_dataset(erm_nc, drop_variables=["snapshot_w", "w_star"])
    llc_trajectory(pd.read_csv(csv), erm, experiment, png)


def scaling_figure(csv: str, png: str, labels: dict[str, str]) -> None:
    scaling(pd.read_csv(csv), png, labels)
