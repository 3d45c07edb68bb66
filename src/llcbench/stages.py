"""One function per workflow stage: read inputs, compute, write the output file.

Workflow scripts call these with paths and the settings from ``params``; the
file contracts are listed in docs/architecture.md.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from arviz_base import from_dict

from llcbench import erm as erm_mod
from llcbench import diagnostics, io, llc, summary
from llcbench.data import make_dataset
from llcbench.model import count_params, make_apply
from llcbench.posterior import LocalPosterior, inverse_temperature, localization, row_loss_fn
from llcbench.samplers import load as load_sampler
from llcbench.samplers.driver import sample

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
        attrs=io.provenance(settings, teacher_layer_sizes=ds.teacher_sizes, noise_var_realised=float(np.var(ds.y - ds.y_clean))),
    )
    io.write_netcdf(obj, out)
    log.info("data: n=%d, var(y)=%.4g, noise var=%.4g", ds.x.shape[0], float(np.var(ds.y)), obj.attrs["noise_var_realised"])


def _model_loss(settings: dict, data: xr.Dataset, w_star, beta: float = 1.0, gamma: float = 0.0,
                dtype: str = "float32") -> LocalPosterior:
    apply = make_apply(settings["layer_sizes"], settings["model"]["activation"])
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
    """Train the student to w* -> ``erm.nc`` (w_star, loss trace, L0, grad norm)."""
    data = io.open_dataset(data_path)
    d = count_params(settings["layer_sizes"])
    problem = _model_loss(settings, data, jnp.zeros(d))
    result = erm_mod.train(problem.loss, problem.batch_loss, problem.x, problem.y, settings["layer_sizes"], settings["training"], settings["seed"])
    converged = bool(np.isfinite(result.grad_norm) and result.grad_norm <= settings["training"]["grad_tol"])
    obj = xr.Dataset(
        {
            "w_star": (("param",), result.w_star),
            "train_loss": (("train_step",), result.loss_trace),
        },
        coords={"train_step": result.trace_step},
        attrs=io.provenance(settings, d=d, L0=result.final_loss, grad_norm=result.grad_norm, converged=converged),
    )
    io.write_netcdf(obj, out)
    log.info("erm: d=%d, L_n(w*)=%.6g, |grad|=%.3g, converged=%s", d, result.final_loss, result.grad_norm, converged)
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
    prepared = load_sampler(name).prepare(post, s, k_tune, chains)
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
        sampling_seconds=trace.sampling_seconds, compile_seconds=trace.compile_seconds, tuning_seconds=prepared.tuning_seconds,
        grad_evals_sampling_fde=sampling_grads, grad_evals_tuning_fde=prepared.tuning_grads,
        grad_evals_fde=sampling_grads + prepared.tuning_grads,
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
                                       frac_below_L0=extra["frac_below_L0"], erm_converged=bool(a["erm_converged"]), thresholds=health)
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
               "health_json": io.json_dumps(health), "status": status},
    )
    io.write_netcdf(obj, out)
    io.write_text(summary.run_summary(obj.attrs), summary_out)
    log.info("%s: llc = %.4g ± %.3g (ess %.0f, rhat %.3f), status %s", a["sampler"], est.llc, est.llc_se, est.ess, est.rhat, status)
