"""The ERM stage: train the student to w* -> ``erm.nc``."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from llcbench import erm, files
from llcbench.data import failure
from llcbench.model import count_params, weight_matrices
from llcbench.posterior import empirical_loss
from llcbench.truth import assess as assess_truth

log = logging.getLogger(__name__)


def train_erm(settings: dict, data_path: str, out: str) -> None:
    """Train the student to w* (or build it: ``training.method: aligned``) -> ``erm.nc``
    (w_star, loss trace, L0, grad norm, layer ranks and the analytic LLC where known)."""
    data = files.open_dataset(data_path)
    sizes, m, teacher_rank = settings["layer_sizes"], settings["model"], int(data.attrs["teacher_rank"])
    d = count_params(sizes, m["bias"])
    loss = empirical_loss(settings, data["x"].values, data["y"].values)
    problem = failure(int(data.attrs["nonfinite_rows"]), data.sizes["sample"])
    if problem:  # nothing to fit: w* is NaN, and every run on it reports the data's failure
        log.warning("erm: %s; w* is NaN, no training", problem)
        result = erm.ERMResult(np.full(d, np.nan, np.float32), np.array([np.nan]), np.array([0]), float("nan"), float("nan"))
    elif settings["training"]["method"] == "aligned":
        result = erm.aligned_dln(loss, sizes, teacher_rank, settings["seed"])
    else:
        result = erm.train(loss, sizes, settings["training"], settings["seed"], m["bias"])
    truth = assess_truth(
        weight_matrices(result.w_star, sizes, m["bias"]),
        data["x"].values,
        m["activation"],
        m["bias"],
        settings["loss"]["kind"],
        teacher_rank,
    )
    converged = bool(np.isfinite(result.grad_norm) and result.grad_norm <= settings["training"]["grad_tol"])
    obj = xr.Dataset(
        {"w_star": (("param",), result.w_star), "train_loss": (("train_step",), result.loss_trace)},
        coords={"train_step": result.trace_step},
        attrs=files.provenance(
            settings, d=d, L0=result.final_loss, grad_norm=result.grad_norm, converged=converged, teacher_rank=teacher_rank, **truth
        ),
    )
    files.write_netcdf(obj, out)
    log.info("erm: d=%d, L_n(w*)=%.6g, |grad|=%.3g, converged=%s", d, result.final_loss, result.grad_norm, converged)
    log.info(
        "erm: layer ranks %s, product rank %d, teacher rank %d; analytic LLC %.4g (m = %s): %s",
        truth["layer_ranks"],
        truth["product_rank"],
        teacher_rank,
        truth["true_llc"],
        truth["true_llc_multiplicity"],
        truth["truth_note"],
    )
    if not converged:
        log.warning(
            "w* is not a converged minimum: |grad L_n(w*)| = %.3g > grad_tol = %.3g", result.grad_norm, settings["training"]["grad_tol"]
        )
