rule data:
    output:
        data=DATA_NC,
    params:
        settings=lambda wc: PLAN.data[wc.data_id],
    input:
        code=code("data.py", "model.py"),
    log:
        LOGS + "/data/{data_id}.log",
    benchmark:
        RESULTS + "/benchmarks/data/{data_id}.tsv"
    threads: 1
    script:
        "../workflow/scripts/data.py"
