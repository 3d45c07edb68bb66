"""The sampling stage: tune and run one sampler -> ``trace.nc``."""

from __future__ import annotations

import logging

import jax
import numpy as np
import xarray as xr
from arviz_base import from_dict

from llcbench import files, samplers
from llcbench.data import failure as data_failure
from llcbench.posterior import LocalPosterior, empirical_loss, inverse_temperature, localization
from llcbench.plan import draw_count
from llcbench.samplers.driver import Trace, no_draws, run_chains

log = logging.getLogger(__name__)


def erm_failure(erm: xr.Dataset) -> str:
    """``erm_nonfinite: …`` when w* or L_n(w*) is NaN or inf (training blew up), else ''."""
    ok = np.isfinite(erm["w_star"].values).all() and np.isfinite(erm.attrs["L0"])
    return "" if ok else "erm_nonfinite: w* or L_n(w*) is not finite (lower training.lr)"


def centre(ds: xr.Dataset) -> np.ndarray:
    """The centre of a run's local posterior: w* of an ``erm.nc``, or w of a ``checkpoint.nc``."""
    return ds["w"].values if "w" in ds else ds["w_star"].values


def centre_attrs(ds: xr.Dataset) -> tuple[dict, str]:
    """What a trace records of its centre file, and why the run cannot sample ('' if it can).
    At w* (``erm.nc``): L0 = L_n(w*), ``erm_grad_norm``, ``erm_converged`` and the analytic λ;
    at a training checkpoint (``checkpoint.nc``): L0 = L_n there, ``checkpoint_id``,
    ``checkpoint_step``, ``checkpoint_grad_norm``, the learnt rank and its rank-k reference λ,
    and no analytic λ (a checkpoint is not a minimum)."""
    a = ds.attrs
    if "w" not in ds:
        attrs = dict(
            L0=float(a["L0"]),
            erm_grad_norm=float(a["grad_norm"]),
            erm_converged=int(a["converged"]),
            true_llc=float(a["true_llc"]),
            true_llc_multiplicity=float(a["true_llc_multiplicity"]),
            truth_note=str(a["truth_note"]),
        )
        return attrs, erm_failure(ds)
    attrs = dict(
        L0=float(a["L0"]),
        checkpoint_id=a["checkpoint_id"],
        checkpoint_step=int(a["step"]),
        checkpoint_grad_norm=float(a["grad_norm"]),
        learnt_rank=int(a["learnt_rank"]),
        reference_llc=float(a["reference_llc"]),
        reference_llc_multiplicity=float(a["reference_llc_multiplicity"]),
        true_llc=float("nan"),
        true_llc_multiplicity=float("nan"),
        truth_note="no truth at a training checkpoint (not a minimum)",
    )
    ok = np.isfinite(ds["w"].values).all() and np.isfinite(attrs["L0"])
    failure = "" if ok else f"checkpoint_nonfinite: w or L_n at step {a['step']} is not finite (training blew up; lower training.lr)"
    return attrs, failure


def build_posterior(settings: dict, data: xr.Dataset, erm: xr.Dataset, dtype: str = "float32") -> LocalPosterior:
    """The tempered local posterior of a sampler run, its arrays in ``dtype`` (float64 needs
    ``jax_enable_x64``, which ``run_sampler`` sets), centred at ``centre(erm)``: w* or a
    training checkpoint's w."""
    w_star = centre(erm)
    n, d = data.sizes["sample"], w_star.shape[0]
    p = settings["posterior"]
    return LocalPosterior(
        data_loss=empirical_loss(settings, data["x"].values, data["y"].values, dtype),
        w_star=jax.numpy.asarray(w_star, dtype),
        beta=inverse_temperature(n, p["beta0"], p["beta"]),
        gamma=localization(d, p["gamma"], p["prior_radius"]),
    )


def _stat_attrs(stat) -> dict:
    """What a statistic is, stored on its variable so that readers need no sampler code."""
    return {"meaning": stat.meaning, "at": stat.at, "figure": stat.figure or "", "counts": stat.counts or "", "spread": int(stat.spread)}


def trace_tree(trace: Trace, stats: dict, *, burn_in: int, eval_every: int) -> xr.DataTree:
    """The ArviZ DataTree of a trace: posterior (L_n, θ projections), sample_stats (with
    each statistic's declaration as attributes, from ``stats``: name -> Stat) and tuning."""
    chains, draws = trace.loss.shape
    steps_at_draw = burn_in + eval_every * np.arange(1, draws + 1)
    dt = from_dict(
        {"posterior": {"L_n": trace.loss, "theta_proj": trace.theta_proj}, "sample_stats": trace.stats},
        coords={"proj": np.arange(trace.theta_proj.shape[-1])},
        dims={"theta_proj": ["proj"]},
    )
    for group in ("posterior", "sample_stats"):  # the sampler step of each draw, beside ArviZ's 0-based draw index
        ds = dt[group].to_dataset().assign_coords(step=("draw", steps_at_draw))
        for name in ds.data_vars if group == "sample_stats" else ():
            ds[name].attrs.update(_stat_attrs(stats[name]))
        dt[group] = ds
    tuning = {**trace.tuned, "diverged_step": trace.diverged_step}
    dt["tuning"] = xr.Dataset({k: (("chain",), np.asarray(v)) for k, v in tuning.items()}, coords={"chain": np.arange(chains)})
    return dt


def sampler_key(settings: dict) -> jax.Array:
    """The random key of a run's sampler: stream 2 of the experiment's seed (data use 0, ERM 1);
    replicate r > 0 (``llcbench.plan``) draws from stream 3, folded with r, so every replicate
    has its own stream and replicate 0 is the run without replicates."""
    root = jax.random.key(settings["seed"])
    if settings.get("replicate"):
        return jax.random.fold_in(jax.random.fold_in(root, 3), settings["replicate"])
    return jax.random.fold_in(root, 2)


def run_sampler(settings: dict, run_id: str, data_path: str, centre_path: str, out: str) -> None:
    """Tune and run one sampler around the centre in ``centre_path`` (w* of an ``erm.nc``, or
    w at a training step, ``checkpoint.nc``) -> ``trace.nc`` (ArviZ DataTree: posterior L_n
    and θ projections, sample_stats, tuning)."""
    s, name = settings["sampler_settings"], settings["sampler"]
    jax.config.update("jax_enable_x64", s["dtype"] == "float64")
    data, erm = files.open_dataset(data_path), files.open_dataset(centre_path, drop_variables=["snapshot_w"])
    post = build_posterior(settings, data, erm, s["dtype"])
    key = sampler_key(settings)
    spec, algorithm = samplers.instantiate(name, s)
    at = f" at training step {erm.attrs['step']} (not a minimum)" if "w" in erm else ""
    log.info(
        "%s: d=%d n=%d beta=%.5g nbeta=%.5g gamma=%.5g L0=%.6g%s",
        name,
        post.d,
        post.n,
        post.beta,
        post.nbeta,
        post.gamma,
        erm.attrs["L0"],
        at,
    )
    chains, draws = s["chains"], draw_count(s["steps"], s["burn_in"], s["eval_every"])
    centre_info, centre_failure = centre_attrs(erm)
    failure = data_failure(int(data.attrs["nonfinite_rows"]), post.n) or centre_failure
    if failure:  # the run is still written, with NaN draws, so the sweep's other rows and the CSV are made
        trace = no_draws(chains, draws, failure=failure)
    else:
        trace = run_chains(
            name,
            algorithm,
            spec,
            post,
            key,
            chains=chains,
            steps=s["steps"],
            burn_in=s["burn_in"],
            eval_every=s["eval_every"],
            loss_star=float(erm.attrs["L0"]),
            projection_seed=settings["seed"],
        )
    if trace.failure:
        log.warning("%s: %s; no draws: the run is written with NaN draws (λ̂ = NaN) and this status", name, trace.failure)
    dt = trace_tree(trace, {stat.name: stat for stat in spec.stats}, burn_in=s["burn_in"], eval_every=s["eval_every"])
    dt.attrs = files.provenance(
        settings,
        run_id=run_id,
        sampler=name,
        dtype=str(post.w_star.dtype),
        d=post.d,
        n=post.n,
        beta=post.beta,
        nbeta=post.nbeta,
        gamma=post.gamma,
        **centre_info,
        sampling_seconds=trace.sampling_seconds,
        compile_seconds=trace.compile_seconds,
        tuning_seconds=trace.tuning_seconds,
        grad_evals_sampling_fde=trace.grads_sampling,
        grad_evals_tuning_fde=trace.grads_tuning,
        grad_evals_fde=trace.grads_sampling + trace.grads_tuning,
        steps_run=trace.steps_run,
        **trace.cost(),
        failure=trace.failure,
        title_settings=list(spec.title_settings),
        minibatch=spec.minibatch,
    )
    files.write_netcdf(dt, out)
    log.info("%s: %d chains x %d draws in %.1f s (compile %.1f s)", name, chains, draws, trace.sampling_seconds, trace.compile_seconds)
