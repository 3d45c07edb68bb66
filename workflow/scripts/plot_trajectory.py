"""Snakemake adapter: one experiment's LLC-along-training figure (see llcbench.plots)."""

from llcbench.runtime import setup_job

setup_job(snakemake)

import pandas as pd

from llcbench import files, plots

erm = files.open_dataset(snakemake.input.erm, drop_variables=["snapshot_w", "w_star"])
plots.llc_trajectory(pd.read_csv(snakemake.input.csv), erm, snakemake.wildcards.experiment, snakemake.output.png)
