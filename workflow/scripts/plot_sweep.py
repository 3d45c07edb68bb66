"""Snakemake adapter: sweep-level figures from the sweep CSV."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821

import pandas as pd  # noqa: E402

from llcbench import plots  # noqa: E402

table = pd.read_csv(snakemake.input.csv)  # noqa: F821
plots.sweep_llc(table, snakemake.output.llc)  # noqa: F821
plots.sweep_wnv(table, snakemake.output.wnv)  # noqa: F821
