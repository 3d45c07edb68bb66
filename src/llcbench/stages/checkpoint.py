"""The checkpoint stage: the parameters at one training step, out of the ERM job's
kept snapshots -> ``checkpoint.nc``, the centre of that step's sampler runs."""

from __future__ import annotations

import json
import logging

import numpy as np
import xarray as xr

from llcbench import files

log = logging.getLogger(__name__)


def extract_checkpoint(settings: dict, checkpoint_id: str, erm_path: str, out: str) -> None:
    """w after ``settings["step"]`` training steps, with L_n, ‖∇L_n‖, the learnt rank and the
    rank-k reference there (all computed by the ERM job) -> ``checkpoint.nc``. Only that step's
    row of the ERM file is read."""
    step = settings["step"]
    kept = files.open_dataset(erm_path, drop_variables=["snapshot_w", "w_star"])
    if "snapshot_step" not in kept.coords or step not in kept["snapshot_step"].values:
        raise ValueError(f"{erm_path} keeps no parameters at step {step}: its ERM job ran without training.checkpoints or on another grid")
    erm = files.open_dataset(erm_path, select={"snapshot_step": [step]})
    at = erm.isel(snapshot_step=0)
    w = at["snapshot_w"].values
    attrs = dict(
        checkpoint_id=checkpoint_id,
        erm_id=settings["erm_id"],
        step=int(step),
        training_steps=int(json.loads(erm.attrs["settings_json"])["training"]["steps"]),
        d=int(erm.attrs["d"]),
        L0=float(at["snapshot_loss"]),
        grad_norm=float(at["snapshot_grad_norm"]),
        learnt_rank=int(at["snapshot_learnt_rank"]),
        reference_llc=float(at["snapshot_reference_llc"]),
        reference_llc_multiplicity=float(at["snapshot_reference_multiplicity"]),
        reference_note=erm["snapshot_reference_llc"].attrs.get("meaning", ""),
        erm_settings_json=erm.attrs["settings_json"],
    )
    obj = xr.Dataset({"w": (("param",), w)}, attrs=files.provenance(settings, **attrs))
    files.write_netcdf(obj, out)
    finite = bool(np.isfinite(w).all() and np.isfinite(attrs["L0"]))
    (log.info if finite else log.warning)(
        "checkpoint %s: step %d of %d, L_n = %.6g, |grad L_n| = %.3g, learnt rank %d (reference λ %.4g)",
        checkpoint_id,
        step,
        attrs["training_steps"],
        attrs["L0"],
        attrs["grad_norm"],
        attrs["learnt_rank"],
        attrs["reference_llc"],
    )
