"""Snakemake adapter: train the student to w* (see llcbench.stages.train_erm)."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821 (threads and logging before JAX loads)

from llcbench.stages import train_erm  # noqa: E402

train_erm(snakemake.params.settings, snakemake.input.data, snakemake.output.erm)  # noqa: F821
