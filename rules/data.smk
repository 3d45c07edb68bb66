rule data:
    output:
        data=DATA_NC,
    params:
        settings=lambda wc: PLAN.data[wc.data_id],
    input:
        code=code("data.py", "model.py", "truth.py", "stages.py"),
    log:
        "results/logs/data/{data_id}.log",
    benchmark:
        "results/benchmarks/data/{data_id}.tsv"
    threads: 1
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/data.py"
