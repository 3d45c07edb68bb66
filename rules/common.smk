# Config validation, the job plan (content-addressed IDs) and path helpers.
import sys
from pathlib import Path

from llcbench.config import ConfigError, build_plan, check_config, coerce_scalars
from llcbench.io import check_output_dir
from llcbench.samplers import SAMPLER_NAMES

PKG = Path(workflow.basedir) / "src" / "llcbench"
RESULTS = "results"
DATA_NC = "results/data/{data_id}/data.nc"
ERM_NC = "results/erm/{erm_id}/erm.nc"
TRACE_NC = "results/runs/{run_id}/trace.nc"
LLC_NC = "results/runs/{run_id}/llc.nc"
SWEEP_CSV = "results/llc_sweep_results.csv"
INDEX_CSV = "results/index.csv"

try:
    # workflow.configfiles: the --configfile files and config/config.yaml, re-read for duplicate keys
    EXPERIMENTS, HEALTH = check_config(config, workflow.configfiles)
    check_output_dir(RESULTS)
except (ConfigError, OSError) as err:
    # One line naming the key and what is allowed (or the unusable results/); no traceback, no job started.
    sys.stderr.write(f"{err}\n")
    sys.exit(1)
PLAN = build_plan(EXPERIMENTS)
# Jobs read it from their config (llcbench.runtime): `--config compile_cache=null` arrives as a string.
config["compile_cache"] = coerce_scalars(config.get("compile_cache"))


wildcard_constraints:
    data_id=r"d[0-9a-f]{12}",
    erm_id=r"e[0-9a-f]{12}",
    run_id=rf"({'|'.join(SAMPLER_NAMES)})-[0-9a-f]{{12}}",
    sampler="|".join(SAMPLER_NAMES),


RUN_PLOTS = ("llc_running", "L_trace", "L_acf", "L_ess", "L_rhat", "theta_trace", "theta_rank")
SAMPLER_PLOTS = {"hmc": ("acceptance",), "adjusted_mclmc": ("acceptance",), "mclmc": ("energy_hist",), "sgld": ("mala_accept",)}
SAMPLER_STAT_PLOT = {"acceptance": "acceptance", "energy_hist": "mclmc_energy", "mala_accept": "mala_acceptance"}  # file part -> plots function


def run_outputs():
    """Every per-run file the report shows: summary and figures of each planned run."""
    out = []
    for run_id in PLAN.runs:
        sampler = run_id.rsplit("-", 1)[0]
        names = RUN_PLOTS + SAMPLER_PLOTS.get(sampler, ())
        out.append(f"results/runs/{run_id}/summary.md")
        out += [f"results/runs/{run_id}/{sampler}_{name}.png" for name in names]
    return out


def experiment_label(run_id):
    """Report category of a run: the experiment(s) it belongs to."""
    return "Experiment " + ", ".join(name for name, e in PLAN.experiments.items() if run_id in e["runs"].values())


def code(*modules):
    """Package modules a rule's results depend on: editing one re-runs its jobs."""
    return [str(PKG / m) for m in modules]


STOCHASTIC_GRADIENT = ("sgld", "sghmc", "sgnht")  # these also use samplers/minibatch.py


def sampler_code(sampler):
    """The modules a sampler's runs depend on: its own, the shared loop, the posterior."""
    shared = ["samplers/driver.py", "posterior.py", "model.py", "stages.py"]
    return code(f"samplers/{sampler}.py", *shared, *(["samplers/minibatch.py"] if sampler in STOCHASTIC_GRADIENT else []))


def print_summary():
    import pandas as pd

    table = pd.read_csv(SWEEP_CSV)
    cols = ["experiment", "sampler", "llc", "llc_se", "rhat", "ess", "status"]
    print(f"\nLLC estimates ({SWEEP_CSV}):")
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nResults are in {Path(RESULTS).resolve()}/: the sweep table {SWEEP_CSV}, per-run NetCDF and plots under results/runs/<run_id>/, the ID index {INDEX_CSV}.")


def run_report(name, caption):
    """A per-run figure in the report, grouped by experiment, then sampler."""
    return report(
        f"results/runs/{{sampler}}-{{hash}}/{{sampler}}_{name}.png",
        caption=f"../workflow/report/{caption}.rst",
        category=lambda wc: experiment_label(f"{wc.sampler}-{wc.hash}"),
        subcategory=lambda wc: wc.sampler,
    )


def readme_run(sampler):
    """The run ID of ``sampler`` in the first experiment (source of the README figures)."""
    return next(iter(PLAN.experiments.values()))["runs"][sampler]


def step_size_calibration():
    """The SGLD step-size figure, asked for when the sweep varies that step size."""
    axes = config.get("sweep", {}).get("axes", {})
    return ["results/plots/sgld_step_size.png"] if "samplers.sgld.step_size" in axes else []
