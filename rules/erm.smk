rule erm:
    input:
        data=lambda wc: DATA_NC.format(data_id=PLAN.erm[wc.erm_id]["data_id"]),
        code=code("erm.py", "model.py", "posterior.py", "truth.py", "stages.py"),
    output:
        erm=ERM_NC,
    params:
        settings=lambda wc: PLAN.erm[wc.erm_id],
    log:
        "results/logs/erm/{erm_id}.log",
    benchmark:
        "results/benchmarks/erm/{erm_id}.tsv"
    threads: 2
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/erm.py"
