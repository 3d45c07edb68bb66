rule llc:
    input:
        trace=TRACE_NC,
        code=code("llc.py", "diagnostics.py", "summary.py", "stages.py"),
    output:
        llc=LLC_NC,
        summary=report(
            "results/runs/{run_id}/summary.md",
            caption="../workflow/report/summary.rst",
            category=lambda wc: experiment_label(wc.run_id),
            subcategory=lambda wc: wc.run_id.rsplit("-", 1)[0],
        ),
    params:
        health=HEALTH,
    log:
        "results/logs/llc/{run_id}.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/llc.py"
