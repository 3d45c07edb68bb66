"""One function per workflow stage: read inputs, compute, write the output file.

Workflow scripts call these with paths and the settings from ``params``; the
file contracts are listed in docs/architecture.md.
"""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from arviz_base import from_dict

from llcbench import erm as erm_mod
from llcbench import diagnostics, io, llc, summary
from llcbench.data import make_dataset
from llcbench.model import count_params, make_apply, weight_matrices
from llcbench.posterior import LocalPosterior, inverse_temperature, localization, row_loss_fn
from llcbench.samplers import load as load_sampler
from llcbench.samplers.driver import DegenerateTuning, Prepared, no_draws, sample
from llcbench.truth import assess as assess_truth

log = logging.getLogger(__name__)


def make_data(settings: dict, out: str) -> None:
    """Teacher–student data set -> ``data.nc`` (x, y, y_clean, teacher_w)."""
    ds = make_dataset(settings["seed"], settings["data"])
    obj = xr.Dataset(
        {
            "x": (("sample", "in_dim"), np.asarray(ds.x)),
            "y": (("sample", "out_dim"), np.asarray(ds.y)),
            "y_clean": (("sample", "out_dim"), np.asarray(ds.y_clean)),
            "teacher_w": (("teacher_param",), np.asarray(ds.teacher_w)),
        },
        attrs=io.provenance(settings, teacher_layer_sizes=ds.teacher_sizes, teacher_rank=ds.teacher_rank,
                            noise_var_realised=float(np.var(ds.y - ds.y_clean))),
    )
    obj.attrs["nonfinite_rows"] = _nonfinite_rows(obj)
    failure = _data_failure(obj)
    io.write_netcdf(obj, out)
    log.info("data: n=%d, var(y)=%.4g, noise var=%.4g", ds.x.shape[0], float(np.var(ds.y)), obj.attrs["noise_var_realised"])
    if failure:
        log.warning("data: %s (float32 overflow, e.g. Student-t draws with tiny degrees of freedom); every run on "
                    "this data gets status data_nonfinite and λ̂ = NaN", failure)


def _nonfinite_rows(data: xr.Dataset) -> int:
    """Samples whose x (in_dim,) or y (out_dim,) holds a NaN or inf."""
    return int((~(np.isfinite(data["x"].values).all(axis=1) & np.isfinite(data["y"].values).all(axis=1))).sum())


def _data_failure(data: xr.Dataset) -> str:
    """``data_nonfinite: <k> of <n> rows …`` when rows of x or y hold NaN or inf (the
    ``nonfinite_rows`` attribute counted once, by ``make_data``), else ''."""
    bad = int(data.attrs["nonfinite_rows"])
    return f"data_nonfinite: {bad} of {data.sizes['sample']} rows have a non-finite x or y" if bad else ""


def _erm_failure(erm: xr.Dataset) -> str:
    """``erm_nonfinite: …`` when w* or L_n(w*) is NaN or inf (training blew up), else ''."""
    ok = np.isfinite(erm["w_star"].values).all() and np.isfinite(erm.attrs["L0"])
    return "" if ok else "erm_nonfinite: w* or L_n(w*) is not finite (lower training.lr)"


def _model_loss(settings: dict, data: xr.Dataset, w_star, beta: float = 1.0, gamma: float = 0.0,
                dtype: str = "float32") -> LocalPosterior:
    apply = make_apply(settings["layer_sizes"], settings["model"]["activation"], settings["model"]["bias"])
    return LocalPosterior(
        apply=apply,
        row_loss=row_loss_fn(settings["loss"]),
        x=jnp.asarray(data["x"].values, dtype),
        y=jnp.asarray(data["y"].values, dtype),
        w_star=jnp.asarray(w_star, dtype),
        beta=beta,
        gamma=gamma,
    )


def train_erm(settings: dict, data_path: str, out: str) -> None:
    """Train the student to w* (or build it: ``training.method: aligned``) -> ``erm.nc``
    (w_star, loss trace, L0, grad norm, layer ranks and the analytic LLC where known)."""
    data = io.open_dataset(data_path)
    sizes, m, teacher_rank = settings["layer_sizes"], settings["model"], int(data.attrs["teacher_rank"])
    d = count_params(sizes, m["bias"])
    problem = _model_loss(settings, data, jnp.zeros(d))
    failure = _data_failure(data)
    if failure:  # nothing to fit: w* is NaN, and every run on it reports the data's failure
        log.warning("erm: %s; w* is NaN, no training", failure)
        result = erm_mod.ERMResult(np.full(d, np.nan, np.float32), np.array([np.nan]), np.array([0]), float("nan"), float("nan"))
    elif settings["training"]["method"] == "aligned":
        result = erm_mod.aligned_dln(problem.loss, data["x"].values, data["y"].values, sizes, teacher_rank, settings["seed"])
    else:
        result = erm_mod.train(problem.loss, problem.batch_loss, problem.x, problem.y, sizes, settings["training"], settings["seed"], m["bias"])
    truth = assess_truth(weight_matrices(result.w_star, sizes, m["bias"]), data["x"].values, m["activation"], m["bias"],
                         settings["loss"]["kind"], teacher_rank)
    converged = bool(np.isfinite(result.grad_norm) and result.grad_norm <= settings["training"]["grad_tol"])
    obj = xr.Dataset(
        {
            "w_star": (("param",), result.w_star),
            "train_loss": (("train_step",), result.loss_trace),
        },
        coords={"train_step": result.trace_step},
        attrs=io.provenance(settings, d=d, L0=result.final_loss, grad_norm=result.grad_norm, converged=converged,
                            teacher_rank=teacher_rank, **truth),
    )
    io.write_netcdf(obj, out)
    log.info("erm: d=%d, L_n(w*)=%.6g, |grad|=%.3g, converged=%s", d, result.final_loss, result.grad_norm, converged)
    log.info("erm: layer ranks %s, product rank %d, teacher rank %d; analytic LLC %.4g (m = %s): %s", truth["layer_ranks"],
             truth["product_rank"], teacher_rank, truth["true_llc"], truth["true_llc_multiplicity"], truth["truth_note"])
    if not converged:
        log.warning("w* is not a converged minimum: |grad L_n(w*)| = %.3g > grad_tol = %.3g", result.grad_norm, settings["training"]["grad_tol"])


def build_posterior(settings: dict, data: xr.Dataset, erm: xr.Dataset, dtype: str = "float32") -> LocalPosterior:
    """The tempered local posterior of a sampler run, its arrays in ``dtype``
    (float64 needs ``jax_enable_x64``, which ``run_sampler`` sets)."""
    w_star = erm["w_star"].values
    n, d = data.sizes["sample"], w_star.shape[0]
    p = settings["posterior"]
    beta = inverse_temperature(n, p["beta0"], p["beta"])
    gamma = localization(d, p["gamma"], p["prior_radius"])
    return _model_loss(settings, data, w_star, beta, gamma, dtype)


def run_sampler(settings: dict, run_id: str, data_path: str, erm_path: str, out: str) -> None:
    """Tune and run one sampler -> ``trace.nc`` (ArviZ DataTree: posterior
    L_n and θ projections, sample_stats, tuning)."""
    s, name, chains = settings["settings"], settings["sampler"], settings["settings"]["chains"]
    jax.config.update("jax_enable_x64", s["dtype"] == "float64")
    data, erm = io.open_dataset(data_path), io.open_dataset(erm_path)
    post = build_posterior(settings, data, erm, s["dtype"])
    key = jax.random.fold_in(jax.random.key(settings["seed"]), 2)
    k_tune, k_run = jax.random.split(key)
    log.info("%s: d=%d n=%d beta=%.5g nbeta=%.5g gamma=%.5g L0=%.6g", name, post.d, post.n, post.beta, post.nbeta, post.gamma, erm.attrs["L0"])
    failure, t0 = _data_failure(data) or _erm_failure(erm), time.perf_counter()
    if not failure:
        try:
            prepared = load_sampler(name).prepare(post, s, k_tune, chains)
        except DegenerateTuning as err:
            failure = f"tuning_failed: {err.reason}"
            log.warning("%s: %s", name, err)
    if failure:  # the run is still written, with NaN draws, so the sweep's other rows and the CSV are made
        log.warning("%s: %s; no draws: the run is written with NaN draws (λ̂ = NaN) and this status", name, failure)
        prepared = Prepared(None, None, None, grads_per_step=0.0, tuning={}, tuning_seconds=time.perf_counter() - t0,
                            tuning_grads=float("nan") if failure.startswith("tuning_failed") else 0.0)
        trace = no_draws(chains, (s["steps"] - s["burn_in"]) // s["eval_every"])
    else:
        log.info("%s: tuned in %.1f s: %s", name, prepared.tuning_seconds, {k: np.round(v, 6).tolist() for k, v in prepared.tuning.items()})
        trace = sample(prepared, post, k_run, steps=s["steps"], burn_in=s["burn_in"], eval_every=s["eval_every"],
                       loss_star=float(erm.attrs["L0"]), projection_seed=settings["seed"])
    draws = trace.loss.shape[1]
    sampling_grads = chains * (s["steps"] * prepared.grads_per_step + draws * prepared.record_grads)
    steps_at_draw = s["burn_in"] + s["eval_every"] * np.arange(1, draws + 1)
    dt = from_dict(
        {
            "posterior": {"L_n": trace.loss, "theta_proj": trace.theta_proj},
            "sample_stats": trace.stats,
        },
        coords={"proj": np.arange(trace.theta_proj.shape[-1])},
        dims={"theta_proj": ["proj"]},
    )
    for group in ("posterior", "sample_stats"):  # the sampler step of each draw, beside ArviZ's 0-based draw index
        dt[group] = dt[group].to_dataset().assign_coords(step=("draw", steps_at_draw))
    tuning = {**prepared.tuning, "diverged_step": trace.diverged_step}
    dt["tuning"] = xr.Dataset({k: (("chain",), np.asarray(v)) for k, v in tuning.items()}, coords={"chain": np.arange(chains)})
    dt.attrs = io.provenance(
        settings, run_id=run_id, sampler=name, dtype=str(post.w_star.dtype), d=post.d, n=post.n, beta=post.beta, nbeta=post.nbeta, gamma=post.gamma,
        L0=float(erm.attrs["L0"]), erm_grad_norm=float(erm.attrs["grad_norm"]), erm_converged=int(erm.attrs["converged"]),
        true_llc=float(erm.attrs["true_llc"]), true_llc_multiplicity=float(erm.attrs["true_llc_multiplicity"]),
        sampling_seconds=trace.sampling_seconds, compile_seconds=trace.compile_seconds, tuning_seconds=prepared.tuning_seconds,
        grad_evals_sampling_fde=sampling_grads, grad_evals_tuning_fde=prepared.tuning_grads,
        grad_evals_fde=sampling_grads + prepared.tuning_grads, failure=failure,
    )
    io.write_netcdf(dt, out)
    log.info("%s: %d chains x %d draws in %.1f s (compile %.1f s)", name, chains, draws, trace.sampling_seconds, trace.compile_seconds)


def estimate_llc(trace_path: str, out: str, summary_out: str, health: dict) -> None:
    """λ̂, SE, diagnostics, WNV, health status and running λ̂_t from a trace ->
    ``llc.nc``, plus a human-readable ``summary.md``."""
    dt = io.open_datatree(trace_path)
    a = dt.attrs
    settings = io.settings_of(dt)
    loss = dt["posterior"]["L_n"].values
    est = llc.estimate(loss, a["L0"], a["nbeta"])
    per_chain, pooled = llc.running_llc(loss, a["L0"], a["nbeta"])
    evo = diagnostics.evolution(loss)
    acf = diagnostics.autocorrelation(loss)
    stats = diagnostics.sampler_summary(dt["sample_stats"].to_dataset(), dt["tuning"].to_dataset(), settings["settings"]["eval_every"])
    extra = {
        "ess_tail": diagnostics.tail_ess(loss),
        "frac_below_L0": diagnostics.fraction_below(loss, a["L0"]),
        **stats,
        **diagnostics.wnv(est.llc_se, a["sampling_seconds"], a["grad_evals_sampling_fde"]),
    }
    status = diagnostics.health_status(est, ess_tail=extra["ess_tail"], divergences=stats["divergences"],
                                       frac_below_L0=extra["frac_below_L0"], erm_converged=bool(a["erm_converged"]), thresholds=health,
                                       failure=a.get("failure", ""))
    obj = xr.Dataset(
        {
            "llc_running": (("chain", "draw"), per_chain),
            "llc_running_pooled": (("draw",), pooled),
            "L_acf": (("chain", "lag"), acf),
            "ess_bulk_by_draws": (("checkpoint",), evo["ess_bulk"]),
            "ess_tail_by_draws": (("checkpoint",), evo["ess_tail"]),
            "rhat_by_draws": (("checkpoint",), evo["rhat"]),
        },
        coords={"chain": dt["posterior"]["chain"].values, "draw": dt["posterior"]["draw"].values,
                "step": ("draw", dt["posterior"]["step"].values),
                "lag": np.arange(acf.shape[1]), "checkpoint": evo["draws"]},
        attrs={**dict(a), **{k: float(v) for k, v in est._asdict().items()}, **extra,
               "rel_error": float((est.llc - a["true_llc"]) / a["true_llc"]),
               "health_json": io.json_dumps(health), "status": status},
    )
    io.write_netcdf(obj, out)
    io.write_text(summary.run_summary(obj.attrs), summary_out)
    (log.info if status == "ok" else log.warning)("%s: llc = %.4g ± %.3g (ess %.0f, rhat %.3f), status %s", a["sampler"], est.llc,
                                                  est.llc_se, est.ess, est.rhat, status)
