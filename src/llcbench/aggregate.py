"""The sweep table: one row per (experiment, sampler), from the llc.nc files."""

from __future__ import annotations

import json

import pandas as pd

from llcbench import io

# Columns in order; later issues append, never rename.
COLUMNS = [
    "experiment", "run_id", "sampler", "llc", "llc_se", "ess", "rhat", "L0", "n", "d", "beta", "nbeta", "gamma",
    "activation", "depth", "widths", "x_dist", "noise", "loss", "seed", "chains", "draws", "sampling_seconds",
    "grad_evals_fde", "status", "chains_used", "chains_diverged", "tuning_seconds", "compile_seconds",
    "grad_evals_tuning_fde", "grad_evals_sampling_fde", "erm_grad_norm", "data_id", "erm_id",
    "wnv_time", "wnv_grad", "ess_tail", "divergences", "frac_below_L0", "acceptance_rate_mean",
    "energy_change_mean", "energy_change_sd", "mala_accept_mean", "dtype",
    "true_llc", "true_llc_multiplicity", "rel_error",
]


def sweep_row(experiment: str, settings: dict, run_id: str, llc_path: str) -> dict:
    """One CSV row for ``experiment``'s run ``run_id`` (``settings`` = resolved experiment)."""
    llc = io.open_dataset(llc_path)
    a, run = llc.attrs, io.settings_of(llc)
    return {
        "experiment": experiment,
        "run_id": run_id,
        "sampler": a["sampler"],
        **{k: a[k] for k in ("llc", "llc_se", "ess", "rhat", "L0", "n", "d", "beta", "nbeta", "gamma", "sampling_seconds",
                             "grad_evals_fde", "status", "chains_used", "chains_diverged", "tuning_seconds",
                             "compile_seconds", "grad_evals_tuning_fde", "grad_evals_sampling_fde", "erm_grad_norm",
                             "wnv_time", "wnv_grad", "ess_tail", "divergences", "frac_below_L0",
                             "true_llc", "true_llc_multiplicity", "rel_error")},
        **{k: a.get(k, float("nan")) for k in ("acceptance_rate_mean", "energy_change_mean", "energy_change_sd", "mala_accept_mean")},
        "dtype": a["dtype"],
        "activation": settings["model"]["activation"],
        "depth": settings["model"]["depth"],
        "widths": "x".join(map(str, run["layer_sizes"][1:-1])),
        "x_dist": settings["data"]["x_dist"],
        "noise": settings["data"]["noise"],
        "loss": settings["loss"]["kind"],
        "seed": settings["seed"],
        "chains": run["settings"]["chains"],
        "draws": (run["settings"]["steps"] - run["settings"]["burn_in"]) // run["settings"]["eval_every"],
        "data_id": run["data_id"],
        "erm_id": run["erm_id"],
        "sweep_axis": settings.get("sweep_axis", ""),
        **{path: _cell(v) for path, v in settings.get("sweep_values", {}).items()},
    }


def _cell(value):
    """A sweep value as a CSV cell (lists as 64x64)."""
    return "x".join(map(str, value)) if isinstance(value, list) else value


def sweep_table(experiments: dict, llc_paths: dict[str, str]) -> pd.DataFrame:
    """``experiments``: name -> {"settings", "runs": {sampler: run_id}} (from the
    plan); ``llc_paths``: run_id -> path of its llc.nc."""
    rows = [
        sweep_row(name, e["settings"], run_id, llc_paths[run_id])
        for name, e in experiments.items()
        for run_id in e["runs"].values()
    ]
    axes = list(dict.fromkeys(a for e in experiments.values() for a in e["settings"].get("sweep_values", {})))
    return pd.DataFrame(rows, columns=COLUMNS + ["sweep_axis"] + axes)


def index_table(ids: dict[str, dict]) -> pd.DataFrame:
    """Every content ID with its kind and the canonical JSON of its settings;
    ``ids``: kind ("experiment", "data", "erm", "run") -> {id: settings}."""
    rows = [
        {"id": i, "kind": kind, "settings_json": json.dumps(s, sort_keys=True)}
        for kind, table in ids.items()
        for i, s in table.items()
    ]
    return pd.DataFrame(rows, columns=["id", "kind", "settings_json"])
