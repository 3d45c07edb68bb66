"""Snakemake adapter: sweep-level figures from the sweep CSV."""

from llcbench.runtime import setup_job

setup_job(snakemake)

import pandas as pd

from llcbench import plots

table = pd.read_csv(snakemake.input.csv)
plots.sweep_llc(table, snakemake.output.llc, pd.read_csv(snakemake.input.scoreboard))
plots.sweep_wnv(table, snakemake.output.wnv)
