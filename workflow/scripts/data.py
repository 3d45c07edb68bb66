"""Snakemake adapter: teacher–student data set (see llcbench.stages.data)."""

from llcbench.runtime import setup_job

setup_job(snakemake)  # threads and logging before JAX loads

from llcbench.stages.data import make_data

make_data(snakemake.params.settings, snakemake.output.data)
