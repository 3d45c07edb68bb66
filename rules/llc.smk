rule llc:
    input:
        trace=TRACE_NC,
        code=code("llc.py"),
    output:
        llc=LLC_NC,
    log:
        LOGS + "/llc/{run_id}.log",
    localrule: True
    script:
        "../workflow/scripts/llc.py"


rule plot_running_llc:
    input:
        llc=RESULTS + "/runs/{sampler}-{hash}/llc.nc",
        code=code("plots.py"),
    output:
        png=RESULTS + "/runs/{sampler}-{hash}/{sampler}_llc_running.png",
    log:
        LOGS + "/plots/{sampler}-{hash}.log",
    localrule: True
    script:
        "../workflow/scripts/plot_running_llc.py"
