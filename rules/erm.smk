rule erm:
    input:
        data=lambda wc: DATA_NC.format(data_id=PLAN.erm[wc.erm_id]["data_id"]),
    output:
        erm=ERM_NC,
    log:
        "results/logs/erm/{erm_id}.log",
    benchmark:
        "results/benchmarks/erm/{erm_id}.tsv"
    conda:
        "../envs/llcbench.yaml"
    threads: 2
    params:
        settings=lambda wc: PLAN.erm[wc.erm_id],
        code=stage_code("stages.erm"),
        compute_threads=declared_threads("erm"),
    script:
        "../workflow/scripts/erm.py"
