rule sample:
    input:
        data=lambda wc: DATA_NC.format(data_id=PLAN.runs[wc.run_id]["data_id"]),
        centre=lambda wc: centre_file(PLAN.runs[wc.run_id]),  # w* (erm.nc) or a training checkpoint
    output:
        trace=TRACE_NC,
    log:
        "results/logs/sample/{run_id}.log",
    benchmark:
        "results/benchmarks/sample/{run_id}.tsv"
    conda:
        "../envs/llcbench.yaml"
    threads: run_threads
    params:
        settings=lambda wc: PLAN.runs[wc.run_id],
        code=lambda wc: SAMPLER_CODE[run_sampler_name(wc.run_id)],
        compute_threads=declared_threads("sample"),
    script:
        "../workflow/scripts/sample.py"
