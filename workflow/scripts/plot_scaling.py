"""Snakemake adapter: the scaling figure (λ̂ and cost against d) from the sweep CSV."""

from llcbench.runtime import setup_job

setup_job(snakemake)

import pandas as pd

from llcbench import plots

plots.scaling(pd.read_csv(snakemake.input.csv), snakemake.output.png, snakemake.params.labels)
