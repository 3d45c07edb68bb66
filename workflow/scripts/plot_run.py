"""Snakemake adapter: every per-run figure of one run (see llcbench.run_plots)."""

from llcbench.runtime import setup_job

setup_job(snakemake)

from llcbench import files, run_plots

dt, llc, out = files.open_datatree(snakemake.input.trace), files.open_dataset(snakemake.input.llc), snakemake.output
run_plots.running_llc(llc, out.llc_running)
run_plots.loss_trace(dt, out.L_trace)
run_plots.loss_acf(dt, out.L_acf)
run_plots.loss_ess(dt, out.L_ess)
run_plots.loss_rhat(llc, out.L_rhat)
run_plots.theta_trace(dt, out.theta_trace)
run_plots.theta_rank(dt, out.theta_rank)
for figure, stat in snakemake.params.stats.items():
    run_plots.sampler_stat(dt, stat, out[figure])
