"""Snakemake adapter: the per-run diagnostic figures (see llcbench.plots)."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821

from llcbench import io, plots  # noqa: E402

dt, llc, out = io.open_datatree(snakemake.input.trace), io.open_dataset(snakemake.input.llc), snakemake.output  # noqa: F821
plots.running_llc(llc, out.llc_running)
plots.loss_trace(dt, out.L_trace)
plots.loss_acf(dt, out.L_acf)
plots.loss_ess(dt, out.L_ess)
plots.loss_rhat(llc, out.L_rhat)
plots.theta_trace(dt, out.theta_trace)
plots.theta_rank(dt, out.theta_rank)
