"""Snakemake adapter: SGLD step-size calibration figure from the sweep CSV."""
from llcbench.runtime import setup_job

setup_job(snakemake)  # noqa: F821

import pandas as pd  # noqa: E402

from llcbench import plots  # noqa: E402

plots.step_size_calibration(pd.read_csv(snakemake.input.csv), snakemake.output.png)  # noqa: F821
