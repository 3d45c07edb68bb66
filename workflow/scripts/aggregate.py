"""Snakemake adapter: the sweep CSV (one row per experiment and sampler) and the ID index."""

from llcbench.runtime import setup_job

log = setup_job(snakemake)

from llcbench import aggregate, files

llc_paths = {p.split("/")[-2]: p for p in snakemake.input.llc}  # results/runs/<run_id>/llc.nc
table = aggregate.sweep_table(snakemake.params.experiments, llc_paths, snakemake.params.stats)
files.write_text(table.to_csv(index=False), snakemake.output.csv)
files.write_text(aggregate.index_table(snakemake.params.ids).to_csv(index=False), snakemake.output.index)
log.info("wrote %d rows", len(table))
