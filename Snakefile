# LLC workflow: data -> ERM (w*) -> one sampler job per sampler -> LLC -> sweep CSV -> plots;
# with training.checkpoints, also ERM -> checkpoints -> sampler jobs per checkpoint -> LLC -> trajectory CSV -> plots.
# `uv run snakemake --cores all` runs the default experiment; see README.md.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The workflow runs the package beside this Snakefile, in this process and in every job (also in a
# copy of the project): the code that runs is the code whose hash the rules carry.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p))


# Found beside this Snakefile, so `--directory elsewhere` keeps the defaults.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/erm.smk"
include: "rules/checkpoint.smk"
include: "rules/sample.smk"
include: "rules/llc.smk"
include: "rules/aggregate.smk"
include: "rules/scoreboard.smk"
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
        SCOREBOARD_CSV,
        SCOREBOARD_PNG,
        step_size_calibrations(),
        scaling_figure(),
        trajectory_outputs(),


# SIGTERM (`timeout`, `kill`, a batch system's time limit) stops the run as Ctrl-C does,
# in place of Snakemake's handler, which can deadlock (llcbench.runtime.stop_on_signal).
onstart:
    stop_on_signal(stop_jobs=workflow.local_exec)


onsuccess:
    print_summary()
