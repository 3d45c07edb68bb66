"""LLC along training: one row per (experiment, checkpoint, sampler), from the runs' llc.nc
files and the checkpoint files (the final step's row from the end-of-training run and erm.nc)."""

from __future__ import annotations

import logging

import pandas as pd

from llcbench import files
from llcbench.aggregate import RUN_COST

# Columns every row has, in order; the sweep's columns follow. Columns are appended, never renamed.
COLUMNS = (
    "experiment sampler step train_loss llc llc_se status sampling_seconds grad_evals_fde grad_norm final learnt_rank "
    "reference_llc reference_llc_multiplicity true_llc ess ess_tail rhat chains_used chains_diverged frac_below_L0 nbeta gamma "
    "training_steps run_id checkpoint_id erm_id"
).split() + RUN_COST
RUN_ATTRS = (
    "sampler llc llc_se status sampling_seconds grad_evals_fde ess ess_tail rhat chains_used chains_diverged frac_below_L0 nbeta gamma".split()
    + RUN_COST
)


def centre_of_checkpoint(path: str) -> dict:
    """Training loss, gradient norm, learnt rank and rank-k reference at a checkpoint (``checkpoint.nc``)."""
    a = files.open_dataset(path, drop_variables=["w"]).attrs
    return {
        "train_loss": float(a["L0"]),
        "grad_norm": float(a["grad_norm"]),
        "learnt_rank": int(a["learnt_rank"]),
        "reference_llc": float(a["reference_llc"]),
        "reference_llc_multiplicity": float(a["reference_llc_multiplicity"]),
        "training_steps": int(a["training_steps"]),
    }


def centre_of_w_star(path: str) -> dict:
    """The same at w*, the final step (``erm.nc``; its learnt rank and reference from the kept final step)."""
    erm = files.open_dataset(path, drop_variables=["snapshot_w", "w_star"])
    final = erm.isel(snapshot_step=-1) if "snapshot_step" in erm.dims else None
    return {
        "train_loss": float(erm.attrs["L0"]),
        "grad_norm": float(erm.attrs["grad_norm"]),
        "learnt_rank": int(final["snapshot_learnt_rank"]) if final is not None else -1,
        "reference_llc": float(final["snapshot_reference_llc"]) if final is not None else float("nan"),
        "reference_llc_multiplicity": float(final["snapshot_reference_multiplicity"]) if final is not None else float("nan"),
        "training_steps": int(files.settings_of(erm)["training"]["steps"]),
    }


def trajectory_table(
    trajectories: dict, llc_paths: dict[str, str], checkpoint_paths: dict[str, str], erm_paths: dict[str, str]
) -> pd.DataFrame:
    """``trajectories``: experiment name -> {"settings", "erm_id", "trajectory": [{"step",
    "checkpoint_id" (None at the final step, w*), "runs": {sampler: run_id}}]} (from the plan);
    ``llc_paths``: run_id -> llc.nc; ``checkpoint_paths``: checkpoint_id -> checkpoint.nc;
    ``erm_paths``: erm_id -> erm.nc. Rows by experiment, then sampler, then step; ``final`` is 1
    on the end-of-training row (w*, whose status carries w*'s health flags), ``true_llc`` is the
    analytic λ there (NaN elsewhere and without one)."""
    rows, centres = [], {}
    for name, e in trajectories.items():
        samplers = list(dict.fromkeys(s for point in e["trajectory"] for s in point["runs"]))
        for sampler in samplers:
            for point in e["trajectory"]:
                c, run_id = point["checkpoint_id"], point["runs"][sampler]
                key = c or e["erm_id"]
                if key not in centres:
                    centres[key] = centre_of_checkpoint(checkpoint_paths[c]) if c else centre_of_w_star(erm_paths[e["erm_id"]])
                a = files.open_dataset(llc_paths[run_id]).attrs
                rows.append(
                    {
                        "experiment": name,
                        "step": point["step"],
                        **centres[key],
                        **{k: a[k] for k in RUN_ATTRS},
                        "final": int(c is None),
                        "true_llc": float(a["true_llc"]) if c is None else float("nan"),
                        "run_id": run_id,
                        "checkpoint_id": c or "",
                        "erm_id": e["erm_id"],
                        "sweep_axis": e["settings"].get("sweep_axis", ""),
                        **{path: _cell(v) for path, v in e["settings"].get("sweep_values", {}).items()},
                    }
                )
    axes = list(dict.fromkeys(a for e in trajectories.values() for a in e["settings"].get("sweep_values", {})))
    return pd.DataFrame(rows, columns=COLUMNS + ["sweep_axis"] + axes)


def _cell(value):
    """A sweep value as a CSV cell (lists as 64x64)."""
    return "x".join(map(str, value)) if isinstance(value, list) else value


def flagged(status: pd.Series) -> pd.Series:
    """Rows whose status has a health flag beyond the ``not_a_minimum`` label (R-hat, ESS,
    divergences, diverged chains, a failure, or w*'s own flags): estimates to read with care."""
    rest = status.fillna("").str.split(";").map(lambda flags: [f for f in flags if f and not f.startswith("not_a_minimum")])
    return rest.map(lambda flags: bool(flags) and flags != ["ok"])


def write_trajectory(trajectories: dict, llc_files: list[str], checkpoint_files: list[str], erm_files: list[str], out: str) -> None:
    """The trajectory job: ``trajectory_table`` from the runs' llc.nc, the checkpoint files and
    w* (erm.nc), written atomically."""
    table = trajectory_table(trajectories, files.by_parent(llc_files), files.by_parent(checkpoint_files), files.by_parent(erm_files))
    files.write_text(table.to_csv(index=False), out)
    logging.getLogger(__name__).info("wrote %d rows", len(table))
