"""Snakemake adapter: the sweep CSV (one row per experiment and sampler) and the ID index."""
from llcbench.runtime import setup_job

log = setup_job(snakemake)  # noqa: F821

from llcbench import aggregate, io  # noqa: E402

llc_paths = {p.split("/")[-2]: p for p in snakemake.input.llc}  # noqa: F821  (results/runs/<run_id>/llc.nc)
table = aggregate.sweep_table(snakemake.params.experiments, llc_paths)  # noqa: F821
io.write_text(table.to_csv(index=False), snakemake.output.csv)  # noqa: F821
io.write_text(aggregate.index_table(snakemake.params.ids).to_csv(index=False), snakemake.output.index)  # noqa: F821
log.info("wrote %d rows", len(table))
