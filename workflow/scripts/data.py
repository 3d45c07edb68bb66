"""Snakemake adapter: teacher–student data set (see llcbench.stages.make_data)."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821 (threads and logging before JAX loads)

from llcbench.stages import make_data  # noqa: E402

make_data(snakemake.params.settings, snakemake.output.data)  # noqa: F821
