# Config validation, the job plan (content-addressed IDs) and path helpers.
import sys
from pathlib import Path

from llcbench.config import ConfigError, build_plan, resolve_experiments

PKG = Path(workflow.basedir) / "src" / "llcbench"
RESULTS = "results"
DATA_NC = "results/data/{data_id}/data.nc"
ERM_NC = "results/erm/{erm_id}/erm.nc"
TRACE_NC = "results/runs/{run_id}/trace.nc"
LLC_NC = "results/runs/{run_id}/llc.nc"
RUNNING_PNG = "results/runs/{sampler}-{hash}/{sampler}_llc_running.png"
SWEEP_CSV = "results/llc_sweep_results.csv"
INDEX_CSV = "results/index.csv"

try:
    EXPERIMENTS = resolve_experiments(config)
except ConfigError as err:
    # One line naming the key and what is allowed; no traceback, no job started.
    sys.stderr.write(f"{err}\n")
    sys.exit(1)
PLAN = build_plan(EXPERIMENTS)


wildcard_constraints:
    data_id=r"d[0-9a-f]{12}",
    erm_id=r"e[0-9a-f]{12}",
    run_id=r"(sgld|hmc|mclmc)-[0-9a-f]{12}",
    sampler=r"sgld|hmc|mclmc",


def running_plots():
    """The running-LLC figure of every planned run."""
    return [RUNNING_PNG.format(sampler=r.split("-")[0], hash=r.split("-")[1]) for r in PLAN.runs]


def code(*modules):
    """Package modules a rule's results depend on: editing one re-runs its jobs."""
    return [str(PKG / m) for m in modules]


def print_summary():
    import pandas as pd

    table = pd.read_csv(SWEEP_CSV)
    cols = ["experiment", "sampler", "llc", "llc_se", "rhat", "ess", "status"]
    print(f"\nLLC estimates ({SWEEP_CSV}):")
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nResults are in {Path(RESULTS).resolve()}/: the sweep table {SWEEP_CSV}, per-run NetCDF and plots under results/runs/<run_id>/, the ID index {INDEX_CSV}.")
