# LLC along training: one row per (experiment, checkpoint, sampler) of the experiments with
# training.checkpoints, from their runs' llc.nc and their checkpoint files (w* for the final step).
rule trajectory:
    input:
        llc=[LLC_NC.format(run_id=r) for r in PLAN.trajectory_runs()],
        checkpoints=[CHECKPOINT_NC.format(checkpoint_id=c) for c in PLAN.checkpoints],
        erm=sorted({ERM_NC.format(erm_id=e["erm_id"]) for e in TRAJECTORIES.values()}),
    output:
        csv=report(TRAJECTORY_CSV, caption="../workflow/report/llc_trajectory_csv.rst", category="Trajectory"),
    log:
        "results/logs/trajectory.log",
    localrule: True
    params:
        trajectories={
            name: {"settings": e["settings"], "erm_id": e["erm_id"], "trajectory": e["trajectory"]} for name, e in TRAJECTORIES.items()
        },
        code=stage_code("trajectory"),
    run:
        from llcbench.trajectory import write_trajectory

        in_process(rule, log, write_trajectory, params.trajectories, input.llc, input.checkpoints, input.erm, output.csv)
