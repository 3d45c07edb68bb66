"""Snakemake adapter: LLC estimate, diagnostics and summary (see llcbench.stages.estimate)."""

from llcbench.runtime import setup_job

setup_job(snakemake)

from llcbench.stages.estimate import estimate_llc

estimate_llc(snakemake.input.trace, snakemake.output.llc, snakemake.output.summary, snakemake.params.health)
