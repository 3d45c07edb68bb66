"""Snakemake adapter: train the student to w* (see llcbench.stages.erm)."""

from llcbench.runtime import setup_job

setup_job(snakemake)  # threads and logging before JAX loads

from llcbench.stages.erm import train_erm

train_erm(snakemake.params.settings, snakemake.input.data, snakemake.output.erm)
