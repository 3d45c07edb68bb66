"""Snakemake adapter: a sampler's step-size calibration figure from the sweep CSV."""

from llcbench.runtime import setup_job

setup_job(snakemake)

import pandas as pd

from llcbench import plots

plots.step_size_calibration(pd.read_csv(snakemake.input.csv), snakemake.wildcards.sampler, snakemake.params.stats, snakemake.output.png)
