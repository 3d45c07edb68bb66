"""Snakemake adapter: the scoreboard (one row per experiment and sampler, see llcbench.scoreboard)."""

from llcbench.runtime import setup_job

log = setup_job(snakemake)

import pandas as pd

from llcbench import files, scoreboard

table = scoreboard.scoreboard(pd.read_csv(snakemake.input.csv), snakemake.params.references)
files.write_text(table.to_csv(index=False), snakemake.output.csv)
for experiment, ranked in scoreboard.ranking(table).items():
    log.info("%s: %s", experiment, " < ".join(ranked))
log.info("wrote %d rows", len(table))
