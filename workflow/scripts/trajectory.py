"""Snakemake adapter: the LLC-along-training table (see llcbench.trajectory)."""

from llcbench.runtime import setup_job

log = setup_job(snakemake)

from llcbench import files, trajectory


def by_parent(paths):  # results/<kind>/<id>/<file> -> {id: path}
    return {p.split("/")[-2]: p for p in paths}


table = trajectory.trajectory_table(
    snakemake.params.trajectories, by_parent(snakemake.input.llc), by_parent(snakemake.input.checkpoints), by_parent(snakemake.input.erm)
)
files.write_text(table.to_csv(index=False), snakemake.output.csv)
log.info("wrote %d rows", len(table))
