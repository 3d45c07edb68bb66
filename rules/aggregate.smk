rule aggregate:
    input:
        llc=[LLC_NC.format(run_id=r) for r in PLAN.end_runs()],
    output:
        csv=report(SWEEP_CSV, caption="../workflow/report/sweep_csv.rst", category="Sweep"),
        index=INDEX_CSV,
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate/aggregate.tsv"
    localrule: True
    params:
        experiments={name: {k: e[k] for k in ("settings", "runs", "replicates")} for name, e in PLAN.experiments.items()},
        ids={
            "experiment": {n: {k: e[k] for k in ("data_id", "erm_id", "runs")} for n, e in PLAN.experiments.items()},
            "data": PLAN.data,
            "erm": PLAN.erm,
            "checkpoint": PLAN.checkpoints,
            "run": PLAN.runs,
        },
        stats=STAT_COLUMNS,
        code=stage_code("aggregate"),
    run:
        from llcbench.aggregate import write_sweep

        in_process(rule, log, write_sweep, params.experiments, input.llc, params.stats, params.ids, output.csv, output.index)
