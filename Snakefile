# LLC workflow: data -> ERM (w*) -> one sampler job per sampler -> LLC -> sweep CSV -> plots;
# with training.checkpoints, also ERM -> checkpoints -> sampler jobs per checkpoint -> LLC -> trajectory CSV -> plots.
# `uv run snakemake --cores all` runs the default experiment; see README.md.
import os

from snakemake.utils import min_version

min_version("9.0")


# Found beside this Snakefile, so `--directory elsewhere` keeps the defaults.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/erm.smk"
include: "rules/checkpoint.smk"
include: "rules/sample.smk"
include: "rules/llc.smk"
include: "rules/aggregate.smk"
include: "rules/trajectory.smk"
include: "rules/plots.smk"


rule all:
    default_target: True
    input:
        SWEEP_CSV,
        INDEX_CSV,
        run_outputs(),
        "results/plots/sweep_llc.png",
        "results/plots/sweep_wnv.png",
        step_size_calibrations(),
        trajectory_outputs(),


onsuccess:
    print_summary()
