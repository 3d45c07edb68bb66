"""Snakemake adapter: running-LLC figure of one run."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821

from llcbench import io, plots  # noqa: E402

plots.running_llc(io.open_dataset(snakemake.input.llc), snakemake.output.png)  # noqa: F821
