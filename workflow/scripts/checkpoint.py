"""Snakemake adapter: the parameters at one training step (see llcbench.stages.checkpoint)."""

from llcbench.runtime import setup_job

setup_job(snakemake)

from llcbench.stages.checkpoint import extract_checkpoint

extract_checkpoint(snakemake.params.settings, snakemake.wildcards.checkpoint_id, snakemake.input.erm, snakemake.output.checkpoint)
