# The scoreboard: one row per (experiment, sampler), replicates pooled, against the analytic λ or the
# experiment's reference sampler (config key `reference`); pandas only (llcbench.scoreboard).
SCOREBOARD_CSV = "results/scoreboard.csv"
SCOREBOARD_PNG = "results/plots/scoreboard.png"


rule scoreboard:
    input:
        csv=SWEEP_CSV,
    output:
        csv=report(SCOREBOARD_CSV, caption="../workflow/report/scoreboard_csv.rst", category="Scoreboard"),
    log:
        "results/logs/scoreboard.log",
    localrule: True
    params:
        references={name: e["settings"]["reference"] for name, e in PLAN.experiments.items()},
        code=stage_code("scoreboard"),
    run:
        from llcbench.scoreboard import write_scoreboard

        in_process(rule, log, write_scoreboard, input.csv, params.references, output.csv)


rule plot_scoreboard:
    input:
        csv=SCOREBOARD_CSV,
    output:
        png=report(SCOREBOARD_PNG, caption="../workflow/report/scoreboard.rst", category="Scoreboard"),
    log:
        "results/logs/plots/scoreboard.log",
    localrule: True
    params:
        code=stage_code("plots"),
    run:
        from llcbench.plots import scoreboard_figure

        in_process(rule, log, scoreboard_figure, input.csv, output.png)
