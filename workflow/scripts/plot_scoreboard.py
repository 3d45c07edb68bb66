"""Snakemake adapter: the scoreboard figure from the scoreboard CSV."""

from llcbench.runtime import setup_job

setup_job(snakemake)

import pandas as pd

from llcbench import plots

plots.scoreboard(pd.read_csv(snakemake.input.csv), snakemake.output.png)
