"""The ERM stage: train the student to w* -> ``erm.nc``."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from llcbench import erm, files
from llcbench.data import failure
from llcbench.model import count_params, linear_product, weight_matrices
from llcbench.checkpoints import checkpoint_grid
from llcbench.posterior import EmpiricalLoss, empirical_loss
from llcbench.truth import assess as assess_truth
from llcbench.truth import learnt_ranks, rank_reference

log = logging.getLogger(__name__)


def snapshot_variables(settings: dict, result: erm.ERMResult, loss: EmpiricalLoss, x: np.ndarray, y: np.ndarray, steps) -> dict:
    """The erm.nc variables of the parameters kept along training (``settings`` has
    ``checkpoint_grid``): at each kept step, w, L_n, ‖∇L_n‖, the number of data modes a
    deep linear network has learnt and the analytic λ of a rank-k network (``truth``)."""
    sizes, m = settings["layer_sizes"], settings["model"]
    kept = result.snapshots
    if np.isfinite(kept).all():
        values, norms = erm.loss_and_grad_norms(loss, kept)
    else:  # training blew up somewhere: evaluate the finite rows only
        values, norms = np.full(len(steps), np.nan, np.float32), np.full(len(steps), np.nan, np.float32)
        ok = np.flatnonzero(np.isfinite(kept).all(axis=1))
        if ok.size:
            values[ok], norms[ok] = erm.loss_and_grad_norms(loss, kept[ok])
    linear = m["activation"] == "identity" and not m["bias"] and np.isfinite(x).all() and np.isfinite(y).all()
    products = np.stack([linear_product(weight_matrices(w, sizes, False)) for w in kept]) if linear else None
    ranks = learnt_ranks(products, x, y) if linear else np.full(len(steps), -1)
    lam, mult, note = rank_reference(sizes, ranks, m["activation"], m["bias"], settings["loss"]["kind"])
    dims = ("snapshot_step",)
    return {
        "snapshot_w": (("snapshot_step", "param"), kept),
        "snapshot_loss": (dims, values),
        "snapshot_grad_norm": (dims, norms),
        "snapshot_learnt_rank": (
            dims,
            ranks,
            {"meaning": "modes of the least-squares map learnt (truth.learnt_ranks); -1: not a linear network"},
        ),
        "snapshot_reference_llc": (dims, lam, {"meaning": note}),
        "snapshot_reference_multiplicity": (dims, mult),
    }


def train_erm(settings: dict, data_path: str, out: str) -> None:
    """Train the student to w* (or build it: ``training.method: aligned``) -> ``erm.nc``
    (w_star, loss trace, L0, grad norm, layer ranks and the analytic LLC where known; with
    ``checkpoint_grid`` in ``settings``, the parameters and their L_n, ‖∇L_n‖ and learnt rank
    at every step of ``plan.checkpoint_grid``)."""
    data = files.open_dataset(data_path)
    sizes, m, teacher_rank = settings["layer_sizes"], settings["model"], int(data.attrs["teacher_rank"])
    d = count_params(sizes, m["bias"])
    x, y = data["x"].values, data["y"].values
    loss = empirical_loss(settings, x, y)
    problem = failure(int(data.attrs["nonfinite_rows"]), data.sizes["sample"])
    steps = checkpoint_grid(settings["training"]["steps"]) if settings.get("checkpoint_grid") else None
    if problem:  # nothing to fit: w* is NaN, and every run on it reports the data's failure
        log.warning("erm: %s; w* is NaN, no training", problem)
        kept = None if steps is None else np.full((len(steps), d), np.nan, np.float32)
        result = erm.ERMResult(np.full(d, np.nan, np.float32), np.array([np.nan]), np.array([0]), float("nan"), float("nan"), kept)
    elif settings["training"]["method"] == "aligned":
        result = erm.aligned_dln(loss, sizes, teacher_rank, settings["seed"])
    else:
        result = erm.train(loss, sizes, settings["training"], settings["seed"], m["bias"], snapshot_steps=steps)
    truth = assess_truth(
        weight_matrices(result.w_star, sizes, m["bias"]),
        data["x"].values,
        m["activation"],
        m["bias"],
        settings["loss"]["kind"],
        teacher_rank,
        noise_var=float(data.attrs["noise_var_realised"]),
    )
    converged = bool(np.isfinite(result.grad_norm) and result.grad_norm <= settings["training"]["grad_tol"])
    variables = {"w_star": (("param",), result.w_star), "train_loss": (("train_step",), result.loss_trace)}
    coords = {"train_step": result.trace_step}
    if steps is not None:
        variables |= snapshot_variables(settings, result, loss, x, y, steps)
        coords["snapshot_step"] = steps
    obj = xr.Dataset(
        variables,
        coords=coords,
        attrs=files.provenance(
            settings, d=d, L0=result.final_loss, grad_norm=result.grad_norm, converged=converged, teacher_rank=teacher_rank, **truth
        ),
    )
    files.write_netcdf(obj, out)
    if steps is not None:
        ranks = obj["snapshot_learnt_rank"].values
        firsts = {int(k): steps[int(np.argmax(ranks == k))] for k in np.unique(ranks)}
        log.info("erm: kept the parameters at %d steps (%s); learnt rank k from step: %s", len(steps), settings["checkpoint_grid"], firsts)
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
