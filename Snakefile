# LLC workflow: data -> ERM (w*) -> one sampler job per sampler -> LLC -> sweep CSV -> plots.
# `uv run snakemake --cores all` runs the default experiment; see README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/erm.smk"
include: "rules/sample.smk"
include: "rules/llc.smk"
include: "rules/aggregate.smk"


rule all:
    input:
        SWEEP_CSV,
        INDEX_CSV,
        expand(RUN_DIR + "/{plot}", zip, run_id=list(PLAN.runs), plot=[f"{r.split('-')[0]}_llc_running.png" for r in PLAN.runs]),
    default_target: True


onsuccess:
    print_summary()
