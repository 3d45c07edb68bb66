"""Snakemake adapter: LLC estimate, diagnostics and summary (see llcbench.stages.estimate_llc)."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821

from llcbench.stages import estimate_llc  # noqa: E402

estimate_llc(snakemake.input.trace, snakemake.output.llc, snakemake.output.summary, snakemake.params.health)  # noqa: F821
