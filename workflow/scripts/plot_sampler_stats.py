"""Snakemake adapter: a sampler-specific figure, ``params.plot`` naming the llcbench.plots function."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821

from llcbench import io, plots  # noqa: E402

getattr(plots, snakemake.params.plot)(io.open_datatree(snakemake.input.trace), snakemake.output.png)  # noqa: F821
