"""Snakemake adapter: every per-run figure of one run (see llcbench.plots)."""

from llcbench.runtime import setup_job

setup_job(snakemake)

from llcbench import files, plots

dt, llc, out = files.open_datatree(snakemake.input.trace), files.open_dataset(snakemake.input.llc), snakemake.output
plots.running_llc(llc, out.llc_running)
plots.loss_trace(dt, out.L_trace)
plots.loss_acf(dt, out.L_acf)
plots.loss_ess(dt, out.L_ess)
plots.loss_rhat(llc, out.L_rhat)
plots.theta_trace(dt, out.theta_trace)
plots.theta_rank(dt, out.theta_rank)
for figure, stat in snakemake.params.stats.items():
    plots.sampler_stat(dt, stat, out[figure])
