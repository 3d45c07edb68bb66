"""Snakemake adapter: tune and run one sampler (see llcbench.stages.run_sampler)."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821 (threads and logging before JAX loads)

from llcbench.stages import run_sampler  # noqa: E402

run_sampler(snakemake.params.settings, snakemake.wildcards.run_id, snakemake.input.data, snakemake.input.erm, snakemake.output.trace)  # noqa: F821
