"""The sweep table: one row per (experiment, sampler, replicate), from the llc.nc files."""

from __future__ import annotations

import logging

from typing import TYPE_CHECKING

from llcbench import files
from llcbench.plan import canonical_json, draw_count, experiment_runs

if TYPE_CHECKING:
    import pandas as pd
# pandas is imported where the tables are built: the Snakefile imports this module
# (stat_columns) when it plans a run.

# A run's cost by phase (README, "Cost"; ``samplers.driver.Trace.cost``), in full-data-
# equivalent gradients and in seconds, and the work-normalised variances built on it.
COST_PARTS = ("tuning", "burn_in", "draws", "eval", "sampling", "total")
COST_COLUMNS = [f"cost_{part}_fde" for part in COST_PARTS] + [f"cost_{part}_seconds" for part in COST_PARTS]
WNV_COLUMNS = ["wnv_grad_sampling", "wnv_grad_total", "wnv_time_sampling", "wnv_time_total"]
# A run's steps, cost by phase and work-normalised variances (llc.nc attributes; the trajectory table has them too).
RUN_COST = ["steps_run", *COST_COLUMNS, *WNV_COLUMNS]
# Added to the run attributes (llc.nc) and columns after the first release, in this order.
LATER_RUN_ATTRS = [*RUN_COST, "truth_note", "llc_se_bootstrap", "replicate"]
# Columns every row has, in order; the sampler statistics' columns follow (``stat_columns``),
# then the sweep's. Columns are appended, never renamed.
COLUMNS = (
    "experiment run_id sampler llc llc_se ess rhat L0 n d beta nbeta gamma activation depth widths x_dist noise loss seed "
    "chains draws sampling_seconds grad_evals_fde status chains_used chains_diverged tuning_seconds compile_seconds "
    "grad_evals_tuning_fde grad_evals_sampling_fde erm_grad_norm data_id erm_id wnv_time wnv_grad ess_tail frac_below_L0 "
    "dtype true_llc true_llc_multiplicity rel_error"
).split() + LATER_RUN_ATTRS
# Columns copied from the attributes of a run's llc.nc.
RUN_ATTRS = (
    "sampler llc llc_se ess rhat L0 n d beta nbeta gamma sampling_seconds grad_evals_fde status chains_used chains_diverged "
    "tuning_seconds compile_seconds grad_evals_tuning_fde grad_evals_sampling_fde erm_grad_norm wnv_time wnv_grad ess_tail "
    "frac_below_L0 dtype true_llc true_llc_multiplicity rel_error"
).split() + LATER_RUN_ATTRS
# Columns (and llc.nc / trace.nc attributes) measured by the wall clock: they differ from run to run.
TIMING = (
    "sampling_seconds",
    "compile_seconds",
    "tuning_seconds",
    "wnv_time",
    *(c for c in COST_COLUMNS if c.endswith("_seconds")),
    "wnv_time_sampling",
    "wnv_time_total",
)


def stat_columns(specs) -> list[str]:
    """The CSV columns of the sampler statistics declared by ``specs`` (SamplerSpecs):
    ``<stat>_mean`` for each, ``<stat>_sd`` where declared, and each counted flag."""
    cols = []
    for spec in specs:
        for stat in spec.stats:
            cols += [f"{stat.name}_mean"] + [f"{stat.name}_sd"] * stat.spread + [stat.counts] * bool(stat.counts)
    return list(dict.fromkeys(cols))


def sweep_row(experiment: str, settings: dict, run_id: str, llc_path: str, stats: list[str]) -> dict:
    """One CSV row for ``experiment``'s run ``run_id`` (``settings`` = resolved experiment;
    ``stats``: the sampler-statistic columns, NaN where this run's sampler has none)."""
    llc = files.open_dataset(llc_path)
    a, run = llc.attrs, files.settings_of(llc)
    return {
        "experiment": experiment,
        "run_id": run_id,
        **{k: a[k] for k in RUN_ATTRS},
        **{k: a.get(k, float("nan")) for k in stats},
        "activation": settings["model"]["activation"],
        "depth": settings["model"]["depth"],
        "widths": "x".join(map(str, run["layer_sizes"][1:-1])),
        "x_dist": settings["data"]["x_dist"],
        "noise": settings["data"]["noise"],
        "loss": settings["loss"]["kind"],
        "seed": settings["seed"],
        "chains": run["sampler_settings"]["chains"],
        "draws": draw_count(*(run["sampler_settings"][k] for k in ("steps", "burn_in", "eval_every"))),
        "data_id": run["data_id"],
        "erm_id": run["erm_id"],
        "sweep_axis": settings.get("sweep_axis", ""),
        **{path: _cell(v) for path, v in settings.get("sweep_values", {}).items()},
    }


def _cell(value):
    """A sweep value as a CSV cell (lists as 64x64)."""
    return "x".join(map(str, value)) if isinstance(value, list) else value


def sweep_table(experiments: dict, llc_paths: dict[str, str], stats: list[str]) -> pd.DataFrame:
    """``experiments``: name -> {"settings", "runs": {sampler: run_id}, "replicates": {sampler: [run_id, ...]}}
    (from the plan; one row per run, each sampler's replicates in turn); ``llc_paths``: run_id -> path
    of its llc.nc; ``stats``: ``stat_columns``."""
    rows = [
        sweep_row(name, e["settings"], run_id, llc_paths[run_id], stats) for name, e in experiments.items() for run_id in experiment_runs(e)
    ]
    axes = list(dict.fromkeys(a for e in experiments.values() for a in e["settings"].get("sweep_values", {})))
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS + stats + ["sweep_axis"] + axes)


def index_table(ids: dict[str, dict]) -> pd.DataFrame:
    """Every content ID with its kind and the canonical JSON of its settings;
    ``ids``: kind ("experiment", "data", "erm", "run") -> {id: settings}."""
    rows = [{"id": i, "kind": kind, "settings_json": canonical_json(s)} for kind, table in ids.items() for i, s in table.items()]
    import pandas as pd

    return pd.DataFrame(rows, columns=["id", "kind", "settings_json"])


def write_sweep(experiments: dict, llc_files: list[str], stats: list[str], ids: dict[str, dict], csv_out: str, index_out: str) -> None:
    """The aggregate job: the sweep CSV from every run's llc.nc (``sweep_table``) and the ID
    index (``index_table``), written atomically."""
    table = sweep_table(experiments, files.by_parent(llc_files), stats)
    files.write_text(table.to_csv(index=False), csv_out)
    files.write_text(index_table(ids).to_csv(index=False), index_out)
    logging.getLogger(__name__).info("wrote %d rows", len(table))
