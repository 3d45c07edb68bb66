"""Load test: a sweep of 200 tiny SGLD runs (tests/configs/load.yaml) on
`--cores 2`, up to the sweep CSV, one thread per sampler job (tiny models gain
nothing from two) so two sampler jobs run side by side.

Baseline, measured first in the same invocation: the same workflow with the sweep cut to
its first point (one data, ERM, sample and llc job). Reported: the sweep's wall time, its
ratio to the baseline's, and the marginal seconds per run, (sweep − baseline) / 199: what
each further run of a sweep costs once data and w* exist. Also the peak memory of
snakemake and all its jobs together (RSS summed over the process tree, sampled every
0.5 s), the peak number of open file descriptors of the snakemake process, and whether
the CSV has exactly one row per (experiment, sampler). Writes JSON.

    uv run python benchmarks/load_sweep.py [--cores 2] [--workdir DIR] [--out results/benchmarks/load_sweep.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests/configs/load.yaml"


def tree_usage(proc: psutil.Process) -> tuple[int, int]:
    """(RSS bytes of ``proc`` and its descendants, open fds of ``proc``)."""
    rss = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return rss, proc.num_fds()


def one_point_config() -> str:
    """``--config`` value that cuts the load config's sweep to its first point (each axis's first value)."""
    sweep = yaml.safe_load(CONFIG.read_text())["sweep"]
    first = {**sweep, "axes": {axis: values[:1] for axis, values in sweep["axes"].items()}}
    return "sweep=" + yaml.safe_dump(first, default_flow_style=True, width=10_000).strip()  # YAML, as --config parses it


def run_workflow(workdir: Path, cores: int, extra: list[str]) -> dict:
    """Snakemake to the sweep CSV in ``workdir``: return code, wall seconds, peak RSS of
    the process tree and peak open fds of snakemake, and the CSV (empty on failure)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "results/llc_sweep_results.csv",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        "--set-threads",
        "sample=1",
        "--configfile",
        str(CONFIG),
        *extra,
    ]
    t0 = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        watched, peak_rss, peak_fds = psutil.Process(proc.pid), 0, 0
        while proc.poll() is None:
            try:
                rss, fds = tree_usage(watched)
            except psutil.NoSuchProcess:
                break
            peak_rss, peak_fds = max(peak_rss, rss), max(peak_fds, fds)
            time.sleep(0.5)
    wall = time.perf_counter() - t0
    table = pd.read_csv(workdir / "results/llc_sweep_results.csv") if proc.returncode == 0 else pd.DataFrame()
    return {"returncode": proc.returncode, "wall_s": wall, "peak_rss": peak_rss, "peak_fds": peak_fds, "table": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", help="where the two runs' results/ go (default: a new temporary folder)")
    ap.add_argument("--out", default="results/benchmarks/load_sweep.json")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="llcbench-load-"))
    base = run_workflow(workdir / "baseline", args.cores, ["--config", one_point_config()])
    if base["returncode"] != 0 or len(base["table"]) != 1:
        sys.exit(f"load_sweep: the one-run baseline failed (return code {base['returncode']}); see {workdir / 'baseline/snakemake.log'}")
    sweep = run_workflow(workdir / "sweep", args.cores, [])
    table = sweep["table"]
    rows_per_pair = table.groupby(["experiment", "sampler"]).size() if len(table) else pd.Series(dtype=int)
    runs = len(table)
    result = {
        "returncode": sweep["returncode"],
        "cores": args.cores,
        "wall_s": round(sweep["wall_s"], 1),
        "baseline_one_run_wall_s": round(base["wall_s"], 1),
        "ratio_to_baseline": round(sweep["wall_s"] / base["wall_s"], 2),
        "marginal_s_per_run": round((sweep["wall_s"] - base["wall_s"]) / max(runs - 1, 1), 2),
        "peak_rss_mb": round(sweep["peak_rss"] / 2**20),
        "peak_open_fds": sweep["peak_fds"],
        "rows": runs,
        "one_row_per_experiment_sampler": bool(runs and (rows_per_pair == 1).all()),
        # health flags by kind ("rhat 1.2 > 1.05;ess 8 < 10" counts once for rhat and once for ess)
        "flags": (table["status"].str.split(";").explode().str.split().str[0].value_counts().to_dict() if runs else {}),
        "workdir": str(workdir),
    }
    print(json.dumps(result, indent=2))
    print(
        f"200-run sweep {result['wall_s']:.0f} s = {result['ratio_to_baseline']:.1f} x the one-run baseline "
        f"({result['baseline_one_run_wall_s']:.0f} s); {result['marginal_s_per_run']:.2f} s per further run"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    sys.exit(0 if sweep["returncode"] == 0 and result["one_row_per_experiment_sampler"] and runs == 200 else 1)


if __name__ == "__main__":
    main()
