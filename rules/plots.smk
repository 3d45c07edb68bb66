# Per-run figures: one job per run draws them all; a sampler's statistic figures come from its SPEC.
for _sampler in SAMPLERS:

    rule:
        name:
            f"plot_run_{_sampler}"
        input:
            trace=f"results/runs/{_sampler}-{{hash}}/trace.nc",
            llc=f"results/runs/{_sampler}-{{hash}}/llc.nc",
        output:
            **{name: run_figure(_sampler, name, name) for name in RUN_FIGURES},
            **{fig: run_figure(_sampler, fig, "sampler_stat") for fig in stat_figures(_sampler)},
        log:
            f"results/logs/plots/{_sampler}-{{hash}}.log",
        benchmark:
            f"results/benchmarks/plot_run/{_sampler}-{{hash}}.tsv"
        localrule: True
        conda:
            "../envs/llcbench.yaml"
        params:
            figures=list(RUN_FIGURES),
            stats=stat_figures(_sampler),
            meanings={s.name: s.meaning for s in SAMPLERS[_sampler].spec.stats if s.figure},
            code=stage_code("run_plots"),
        script:
            "../workflow/scripts/plot_run.py"


rule plot_sweep:
    input:
        csv=SWEEP_CSV,
        scoreboard=SCOREBOARD_CSV,  # the reference sampler's λ̂ per experiment
    output:
        llc=report("results/plots/sweep_llc.png", caption="../workflow/report/sweep_llc.rst", category="Sweep"),
        wnv=report("results/plots/sweep_wnv.png", caption="../workflow/report/sweep_wnv.rst", category="Sweep"),
    log:
        "results/logs/plots/sweep.log",
    benchmark:
        "results/benchmarks/plot_sweep/sweep.tsv"
    localrule: True
    params:
        code=stage_code("plots"),
    run:
        from llcbench.plots import sweep_figures

        in_process(rule, log, sweep_figures, input.csv, input.scoreboard, output.llc, output.wnv)


# LLC along training, one figure per experiment with training.checkpoints.
rule plot_trajectory:
    input:
        csv=TRAJECTORY_CSV,
        erm=lambda wc: ERM_NC.format(erm_id=TRAJECTORIES[wc.experiment]["erm_id"]),
    output:
        png=report(
            TRAJECTORY_PNG,
            caption="../workflow/report/llc_trajectory.rst",
            category=lambda wc: f"Experiment {wc.experiment}",
            subcategory="trajectory",
        ),
    log:
        "results/logs/plots/trajectory_{experiment}.log",
    localrule: True
    params:
        code=stage_code("plots"),
    run:
        from llcbench.plots import trajectory_figure

        in_process(rule, log, trajectory_figure, input.csv, input.erm, wildcards.experiment, output.png)


# Per-run figures of every checkpoint run (not part of `all`):
#   uv run snakemake checkpoint_figures --cores all --configfile config/presets/trajectory.yaml
rule checkpoint_figures:
    input:
        checkpoint_run_figures(),
    localrule: True


# Refresh the README's example figures from the first experiment of the current config:
#   uv run snakemake readme_images --cores all --configfile config/presets/quick.yaml
README_FIGURES = (
    ("sgld", "llc_running"),
    ("hmc", "llc_running"),
    ("mclmc", "llc_running"),
    ("hmc", "L_trace"),
    ("hmc", "acceptance"),
    ("mclmc", "energy_hist"),
)


rule readme_images:
    input:
        lambda wc: [f"results/runs/{readme_run(s)}/{s}_{f}.png" for s, f in README_FIGURES],
    output:
        [f"assets/readme/{s}_{f}.png" for s, f in README_FIGURES],
    log:
        "results/logs/readme_images.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/copy_files.py"


# Present when the sweep varies samplers.<sampler>.step_size (config/presets/sgld_step_size.yaml).
rule plot_step_size_calibration:
    input:
        csv=SWEEP_CSV,
    output:
        png=report("results/plots/{sampler}_step_size.png", caption="../workflow/report/step_size.rst", category="Sweep"),
    log:
        "results/logs/plots/{sampler}_step_size.log",
    localrule: True
    params:
        stats=lambda wc: {f"{s.name}_mean": s.meaning for s in SAMPLERS[wc.sampler].spec.stats if s.at == "draw"},
        code=stage_code("plots"),
    run:
        from llcbench.plots import step_size_figure

        in_process(rule, log, step_size_figure, input.csv, wildcards.sampler, params.stats, output.png)


# Present when the sweep varies model.target_params (config/presets/scaling.yaml).
rule plot_scaling:
    input:
        csv=SWEEP_CSV,
    output:
        png=report("results/plots/scaling.png", caption="../workflow/report/scaling.rst", category="Sweep"),
    log:
        "results/logs/plots/scaling.log",
    localrule: True
    params:
        labels=scaling_labels(),
        code=stage_code("plots"),
    run:
        from llcbench.plots import scaling_figure

        in_process(rule, log, scaling_figure, input.csv, output.png, params.labels)
