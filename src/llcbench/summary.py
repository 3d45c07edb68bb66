"""The per-run human-readable summary (the original's manifest / README snippet)."""

from __future__ import annotations

import json


PARTS = ("tuning", "burn_in", "draws", "eval")  # the cost's parts, in the order they run


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run_summary(attrs: dict, sampler_keys: list[str]) -> str:
    """Markdown: estimate, diagnostics, cost, settings and versions of one run, from
    the attributes of its llc.nc; ``sampler_keys`` are the attributes that summarise its
    sampler statistics and tuning (``diagnostics.sampler_summary``), one row each."""
    a = attrs
    settings = json.loads(a["settings_json"])
    versions = json.loads(a["versions_json"])
    step = a.get("checkpoint_step")
    centre = "w*" if step is None else "w_t"
    where = (
        f"ERM `{settings['erm_id']}`"
        if step is None
        else f"at training step {step}: checkpoint `{a['checkpoint_id']}` of ERM `{settings['erm_id']}`"
    )
    lines = [
        f"# {a['sampler'].upper()} run `{a['run_id']}` ({where}, data `{settings['data_id']}`)",
        "",
        f"**LLC λ̂ = {a['llc']:.4g} ± {a['llc_se']:.3g}** (status: `{a['status']}`)",
        "",
    ]
    if step is not None:
        lines += [
            f"Centred at the parameters w_t after {step} training steps, not at a minimum: λ̂ = nβ·(E[L_n] − L_n(w_t)) "
            'of the local posterior around w_t (README, "LLC along training").',
            "",
        ]
    lines += ["| quantity | value |", "| --- | --- |"]
    rows = [
        ("SE: ArviZ MCSE / floored bootstrap", f"{_fmt(a['llc_se'])} / {_fmt(a.get('llc_se_bootstrap', float('nan')))}"),
        ("ESS bulk / tail", f"{a['ess']:.0f} / {a['ess_tail']:.0f}"),
        ("R-hat", _fmt(a["rhat"])),
        ("chains used / diverged", f"{a['chains_used']:.0f} / {a['chains_diverged']:.0f}"),
        (f"L_n({centre}), mean L_n", f"{a['L0']:.6g}, {a['mean_loss']:.6g}"),
        (f"draws below L_n({centre})", f"{100 * a['frac_below_L0']:.1f}%"),
        ("d, n, β, nβ, γ", f"{a['d']}, {a['n']}, {a['beta']:.5g}, {a['nbeta']:.5g}, {a['gamma']:.5g}"),
        ("gradients", "minibatch (stochastic)" if a.get("minibatch") else "full batch"),
        ("steps run per chain (burn-in included)", str(a["steps_run"])),
        (
            "cost, full-data-equivalent gradients: tuning + burn-in + draws + L_n passes = total",
            " + ".join(f"{a[f'cost_{p}_fde']:.4g}" for p in PARTS) + f" = {a['cost_total_fde']:.4g}",
        ),
        (
            "cost, seconds: tuning + burn-in + draws + L_n passes = total",
            " + ".join(f"{a[f'cost_{p}_seconds']:.3g}" for p in PARTS) + f" = {a['cost_total_seconds']:.3g}",
        ),
        (
            "compilation seconds (not in the cost): tuner / chain loop",
            f"{a['tuning_seconds'] - a['cost_tuning_seconds']:.2f} / {a['compile_seconds']:.2f}",
        ),
        ("WNV, total cost (ranks samplers): λ²·gradients / λ²·s", f"{a['wnv_grad_total']:.4g} / {a['wnv_time_total']:.4g}"),
        ("WNV, sampling only (draws + L_n passes): λ²·gradients / λ²·s", f"{a['wnv_grad_sampling']:.4g} / {a['wnv_time_sampling']:.4g}"),
    ]
    if step is not None:
        rows += [
            ("‖∇L_n(w_t)‖", _fmt(a["checkpoint_grad_norm"])),
            (
                "learnt rank k, rank-k reference λ (m)",
                f"{a['learnt_rank']}, {_fmt(a['reference_llc'])} ({_fmt(a['reference_llc_multiplicity'])})",
            ),
        ]
    rows += [(k, _fmt(a[k])) for k in sampler_keys]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += [
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(settings, indent=2, sort_keys=True),
        "```",
        "",
        "## Versions",
        "",
        ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        "",
    ]
    return "\n".join(lines)
