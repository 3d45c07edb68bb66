rule llc:
    input:
        trace=TRACE_NC,
        code=code("llc.py"),
    output:
        llc=LLC_NC,
    log:
        "results/logs/llc/{run_id}.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/llc.py"


rule plot_running_llc:
    input:
        llc="results/runs/{sampler}-{hash}/llc.nc",
        code=code("plots.py"),
    output:
        png=RUNNING_PNG,
    log:
        "results/logs/plots/{sampler}-{hash}.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/plot_running_llc.py"
