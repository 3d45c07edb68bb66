"""Snakemake adapter: tune and run one sampler (see llcbench.stages.sample)."""

from llcbench.runtime import setup_job

setup_job(snakemake)  # threads and logging before JAX loads

from llcbench.stages.sample import run_sampler

run_sampler(snakemake.params.settings, snakemake.wildcards.run_id, snakemake.input.data, snakemake.input.centre, snakemake.output.trace)
