rule sample:
    input:
        data=lambda wc: DATA_NC.format(data_id=PLAN.runs[wc.run_id]["data_id"]),
        erm=lambda wc: ERM_NC.format(erm_id=PLAN.runs[wc.run_id]["erm_id"]),
        code=lambda wc: sampler_code(PLAN.runs[wc.run_id]["sampler"]),
    output:
        trace=TRACE_NC,
    params:
        settings=lambda wc: PLAN.runs[wc.run_id],
    log:
        "results/logs/sample/{run_id}.log",
    benchmark:
        "results/benchmarks/sample/{run_id}.tsv"
    threads: 2
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/sample.py"
