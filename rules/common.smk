# Config validation, the job plan (content-addressed IDs), the sampler registry and path helpers.
import sys
from pathlib import Path

from llcbench.aggregate import stat_columns
from llcbench.config import ConfigError, check_config, coerce_scalars
from llcbench.files import check_output_dir
from llcbench.plan import build_plan, experiment_runs, run_sampler_name
from llcbench.runtime import in_process, sample_threads, stop_on_signal
from llcbench.sources import code_hash

RESULTS = "results"
DATA_NC = "results/data/{data_id}/data.nc"
ERM_NC = "results/erm/{erm_id}/erm.nc"
CHECKPOINT_NC = "results/checkpoints/{checkpoint_id}/checkpoint.nc"
TRACE_NC = "results/runs/{run_id}/trace.nc"
LLC_NC = "results/runs/{run_id}/llc.nc"
SWEEP_CSV = "results/llc_sweep_results.csv"
INDEX_CSV = "results/index.csv"
TRAJECTORY_CSV = "results/llc_trajectory.csv"
TRAJECTORY_PNG = "results/trajectories/{experiment}/llc_trajectory.png"

try:
    # workflow.configfiles: the --configfile files and config/config.yaml, re-read for duplicate keys
    CHECKED = check_config(config, workflow.configfiles)
    check_output_dir(RESULTS)
except (ConfigError, OSError) as err:
    # One line naming the key and what is allowed (or the unusable results/); no traceback, no job started.
    sys.stderr.write(f"{err}\n")
    sys.exit(1)
PLAN = build_plan(CHECKED.experiments)
HEALTH = CHECKED.health
SAMPLERS = CHECKED.samplers  # name -> (module, file, spec): built-ins and the config's own samplers
# Jobs read it from their config (llcbench.runtime): `--config compile_cache=null` arrives as a string.
config["compile_cache"] = coerce_scalars(config.get("compile_cache"))


wildcard_constraints:
    data_id=r"d[0-9a-f]{12}",
    erm_id=r"e[0-9a-f]{12}",
    checkpoint_id=r"c[0-9a-f]{12}",
    experiment=r"[A-Za-z0-9_.,=+-]+",
    run_id=rf"({'|'.join(SAMPLERS)})-[0-9a-f]{{12}}",
    sampler="|".join(SAMPLERS),


def stage_code(module):
    """Content hash of an llcbench stage module and what it imports (a `params` entry:
    editing that code re-runs the rule's jobs; moving the project does not)."""
    return code_hash(f"llcbench.{module}")


def declared_threads(rule_name):
    """`params` entry `compute_threads`: the threads a rule declares (after --set-threads),
    which --cores never lowers; numerical jobs compute with exactly these, so a result does not
    depend on --cores (llcbench.runtime.compute_threads). A change re-runs the rule's jobs."""

    def threads(wc):
        return workflow.get_rule(rule_name).resources["_cores"].evaluate(wc).value

    return threads


def run_threads(wc):
    """A sampler job's threads: 1 or 2 by the size of its chains' full-data gradient (llcbench.runtime.sample_threads)."""
    run = PLAN.runs[wc.run_id]
    return sample_threads(PLAN.data[run["data_id"]]["data"]["n"], run["layer_sizes"], run["sampler_settings"]["chains"])


# The code a sampler's runs depend on: the sampling stage, the driver, and the sampler's module with its imports.
SAMPLER_CODE = {name: code_hash("llcbench.stages.sample", files=(entry.file,)) for name, entry in SAMPLERS.items()}
STAT_COLUMNS = stat_columns(entry.spec for entry in SAMPLERS.values())


def experiment_label(run_id):
    """Report category of a run: the experiment(s) it belongs to (a checkpoint run: the
    experiment(s) whose trajectory it is a point of)."""
    names = [name for name, e in PLAN.experiments.items() if run_id in experiment_runs(e)]
    if names:
        return "Experiment " + ", ".join(names)
    names = [n for n, e in PLAN.experiments.items() if any(run_id in p["runs"].values() for p in e.get("trajectory", ()))]
    return "Experiment " + ", ".join(names) + " (checkpoints)"


def centre_file(run):
    """The file a run's local posterior is centred on: its checkpoint, or w* (erm.nc)."""
    if run.get("checkpoint_id"):
        return CHECKPOINT_NC.format(checkpoint_id=run["checkpoint_id"])
    return ERM_NC.format(erm_id=run["erm_id"])


# LLC along training: the experiments that set training.checkpoints.
TRAJECTORIES = {name: e for name, e in PLAN.experiments.items() if "trajectory" in e}


def trajectory_outputs():
    """The trajectory table and one figure per experiment with checkpoints (nothing without any)."""
    if not TRAJECTORIES:
        return []
    return [TRAJECTORY_CSV] + [TRAJECTORY_PNG.format(experiment=name) for name in TRAJECTORIES]


def checkpoint_run_figures():
    """Every per-run figure of every checkpoint run (not in `all`: the `checkpoint_figures` target)."""
    end = set(PLAN.end_runs())
    return [f for f in run_outputs(r for r in PLAN.trajectory_runs() if r not in end) if f.endswith(".png")]


def print_summary():
    """The LLC table and where the results are, after a run that has the sweep CSV (a run asked
    for other targets only, e.g. one run's llc.nc, may have none)."""
    import pandas as pd

    if not Path(SWEEP_CSV).exists():
        return
    table = pd.read_csv(SWEEP_CSV)
    cols = ["experiment", "sampler", "llc", "llc_se", "rhat", "ess", "status"]
    print(f"\nLLC estimates ({SWEEP_CSV}):")
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"\nResults are in {Path(RESULTS).resolve()}/: the sweep table {SWEEP_CSV}, per-run NetCDF and plots under "
        f"results/runs/<run_id>/, the ID index {INDEX_CSV}."
    )


def readme_run(sampler):
    """The run ID of ``sampler`` in the first experiment (source of the README figures)."""
    return next(iter(PLAN.experiments.values()))["runs"][sampler]


def step_size_calibrations():
    """One step-size figure per sampler whose step size the sweep varies."""
    axes = config.get("sweep", {}).get("axes", {})
    return [f"results/plots/{name}_step_size.png" for name in SAMPLERS if f"samplers.{name}.step_size" in axes]


def scaling_figure():
    """The scaling figure, when the sweep varies model.target_params (config/presets/scaling.yaml)."""
    return ["results/plots/scaling.png"] if "model.target_params" in config.get("sweep", {}).get("axes", {}) else []


def scaling_labels():
    """Run ID -> its sampler's name in the scaling figure, with its preconditioner where its
    settings name one (`precond`): e.g. `sgld (rmsprop)`."""
    out = {}
    for run_id in PLAN.end_runs():
        run = PLAN.runs[run_id]
        precond = run["sampler_settings"].get("precond", "none")
        out[run_id] = run["sampler"] + (f" ({precond})" if precond != "none" else "")
    return out


# Per-run figures: one job per run draws them all; a sampler's statistic figures come from its SPEC.
RUN_FIGURES = ("llc_running", "L_trace", "L_acf", "L_ess", "L_rhat", "theta_trace", "theta_rank")  # caption = figure name


def stat_figures(sampler):
    """Figure suffix -> statistic name, for the statistics ``sampler`` declares with a figure."""
    return {stat.figure: stat.name for stat in SAMPLERS[sampler].spec.stats if stat.figure}


def run_outputs(runs=None):
    """Every per-run file the report shows: summary and figures of each end-of-training run (or of ``runs``)."""
    out = []
    for run_id in PLAN.end_runs() if runs is None else runs:
        sampler = run_sampler_name(run_id)
        out.append(f"results/runs/{run_id}/summary.md")
        out += [f"results/runs/{run_id}/{sampler}_{name}.png" for name in (*RUN_FIGURES, *stat_figures(sampler))]
    return out


def run_figure(sampler, figure, caption):
    """A per-run figure in the report, grouped by experiment, then sampler."""
    return report(
        f"results/runs/{sampler}-{{hash}}/{sampler}_{figure}.png",
        caption=f"../workflow/report/{caption}.rst",
        category=lambda wc, s=sampler: experiment_label(f"{s}-{wc.hash}"),
        subcategory=sampler,
    )
