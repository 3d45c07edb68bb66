rule llc:
    input:
        trace=TRACE_NC,
    output:
        llc=LLC_NC,
        summary=report(
            "results/runs/{run_id}/summary.md",
            caption="../workflow/report/summary.rst",
            category=lambda wc: experiment_label(wc.run_id),
            subcategory=lambda wc: run_sampler_name(wc.run_id),
        ),
    log:
        "results/logs/llc/{run_id}.log",
    benchmark:
        "results/benchmarks/llc/{run_id}.tsv"
    localrule: True
    params:
        health=HEALTH,
        code=stage_code("stages.estimate"),
    run:
        from llcbench.stages.estimate import estimate_llc

        in_process(rule, log, estimate_llc, input.trace, output.llc, output.summary, params.health)
