rule data:
    output:
        data=DATA_NC,
    log:
        "results/logs/data/{data_id}.log",
    benchmark:
        "results/benchmarks/data/{data_id}.tsv"
    conda:
        "../envs/llcbench.yaml"
    threads: 1
    params:
        settings=lambda wc: PLAN.data[wc.data_id],
        code=stage_code("stages.data"),
        compute_threads=declared_threads("data"),
    script:
        "../workflow/scripts/data.py"
