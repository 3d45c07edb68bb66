"""Figures. Matplotlib with the Agg backend; every function writes one PNG."""

from __future__ import annotations

import io as _io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

from llcbench import io  # noqa: E402


def _save(fig, path) -> None:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    io.write_bytes(buf.getvalue(), path)


def running_llc(llc_ds: xr.Dataset, path) -> None:
    """λ̂_t per chain (thin lines) and pooled over chains (thick line) against the
    sampler step at which each draw was taken."""
    a = llc_ds.attrs
    steps = llc_ds["draw"].values
    fig, ax = plt.subplots(figsize=(7, 4))
    for c in llc_ds["chain"].values:
        ax.plot(steps, llc_ds["llc_running"].sel(chain=c), lw=0.9, alpha=0.7, label=f"chain {c}")
    ax.plot(steps, llc_ds["llc_running_pooled"], color="black", lw=2.2, label="pooled")
    ax.axhline(a["llc"], color="black", ls=":", lw=1)
    ax.set_xlabel("sampler step")
    ax.set_ylabel(r"running $\hat\lambda_t$ (dimensionless)")
    ax.set_title(
        f"{a['sampler'].upper()}: $\\hat\\lambda$ = {a['llc']:.2f} ± {a['llc_se']:.2f}, "
        f"R-hat {a['rhat']:.3f}, ESS {a['ess']:.0f}\n"
        f"d={a['d']}, n={a['n']}, nβ={a['nbeta']:.4g}, γ={a['gamma']:.4g}, status: {a['status']}",
        fontsize=9,
    )
    ax.legend(fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    _save(fig, path)
