rule plot_run:
    input:
        trace="results/runs/{sampler}-{hash}/trace.nc",
        llc="results/runs/{sampler}-{hash}/llc.nc",
        code=code("plots.py"),
    output:
        llc_running=run_report("llc_running", "llc_running"),
        L_trace=run_report("L_trace", "L_trace"),
        L_acf=run_report("L_acf", "L_acf"),
        L_ess=run_report("L_ess", "L_ess"),
        L_rhat=run_report("L_rhat", "L_rhat"),
        theta_trace=run_report("theta_trace", "theta_trace"),
        theta_rank=run_report("theta_rank", "theta_rank"),
    log:
        "results/logs/plots/{sampler}-{hash}.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/plot_run.py"


# hmc_acceptance.png, mclmc_energy_hist.png: one figure per sampler statistic.
rule plot_sampler_stats:
    input:
        trace="results/runs/{sampler}-{hash}/trace.nc",
        code=code("plots.py"),
    output:
        png=report(
            "results/runs/{sampler}-{hash}/{sampler}_{stat}.png",
            caption="../workflow/report/sampler_stats.rst",
            category=lambda wc: experiment_label(f"{wc.sampler}-{wc.hash}"),
            subcategory=lambda wc: wc.sampler,
        ),
    wildcard_constraints:
        stat="acceptance|energy_hist|mala_accept",
    params:
        plot=lambda wc: SAMPLER_STAT_PLOT[wc.stat],
    log:
        "results/logs/plots/{sampler}-{hash}.{stat}.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/plot_sampler_stats.py"


rule plot_sweep:
    input:
        csv=SWEEP_CSV,
        code=code("plots.py"),
    output:
        llc=report("results/plots/sweep_llc.png", caption="../workflow/report/sweep_llc.rst", category="Sweep"),
        wnv=report("results/plots/sweep_wnv.png", caption="../workflow/report/sweep_wnv.rst", category="Sweep"),
    log:
        "results/logs/plots/sweep.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/plot_sweep.py"


# Refresh the README's example figures from the first experiment of the current config:
#   uv run snakemake readme_images --cores all --configfile config/presets/quick.yaml
README_FIGURES = ("sgld_llc_running", "hmc_llc_running", "mclmc_llc_running", "hmc_L_trace", "hmc_acceptance", "mclmc_energy_hist")  # sampler_name


rule readme_images:
    input:
        lambda wc: [f"results/runs/{readme_run(f.split('_')[0])}/{f}.png" for f in README_FIGURES],
    output:
        [f"assets/readme/{f}.png" for f in README_FIGURES],
    log:
        "results/logs/readme_images.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/copy_files.py"


# Present when the sweep varies samplers.sgld.step_size (config/presets/sgld_step_size.yaml).
rule plot_step_size_calibration:
    input:
        csv=SWEEP_CSV,
        code=code("plots.py"),
    output:
        png=report("results/plots/sgld_step_size.png", caption="../workflow/report/sgld_step_size.rst", category="Sweep"),
    log:
        "results/logs/plots/sgld_step_size.log",
    localrule: True
    conda:
        "../envs/llcbench.yaml"
    script:
        "../workflow/scripts/plot_step_size.py"
