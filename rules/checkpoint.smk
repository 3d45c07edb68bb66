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
    params:
        settings=lambda wc: PLAN.checkpoints[wc.checkpoint_id],
        code=stage_code("stages.checkpoint"),
    run:
        from llcbench.stages.checkpoint import extract_checkpoint

        in_process(rule, log, extract_checkpoint, params.settings, wildcards.checkpoint_id, input.erm, output.checkpoint)
