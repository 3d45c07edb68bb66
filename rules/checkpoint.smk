# One job per training checkpoint (training.checkpoints): the parameters at that step, taken from
# the ERM job's kept snapshots, as the centre of that step's sampler runs. (`checkpoint` is a
# Snakemake keyword, hence the rule's name.)
rule training_checkpoint:
    input:
        erm=lambda wc: ERM_NC.format(erm_id=PLAN.checkpoints[wc.checkpoint_id]["erm_id"]),
    output:
        checkpoint=CHECKPOINT_NC,
    log:
        "results/logs/checkpoint/{checkpoint_id}.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    params:
        settings=lambda wc: PLAN.checkpoints[wc.checkpoint_id],
        code=stage_code("stages.checkpoint"),
    script:
        "../workflow/scripts/checkpoint.py"
