"""Load test: a sweep of 200 tiny SGLD runs (tests/configs/load.yaml) on
`--cores 2`, up to the sweep CSV, one thread per sampler job (tiny models gain
nothing from two) so two sampler jobs run side by side.

Measures wall time, the peak memory of snakemake and all its jobs together (RSS
summed over the process tree, sampled every 0.5 s), the peak number of open file
descriptors of the snakemake process, and checks that the CSV has exactly one row
per (experiment, sampler). Writes JSON.

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", help="where results/ goes (default: a new temporary folder)")
    ap.add_argument("--out", default="results/benchmarks/load_sweep.json")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="llcbench-load-"))
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
        str(args.cores),
        "--set-threads",
        "sample=1",
        "--configfile",
        str(CONFIG),
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
    rows_per_pair = table.groupby(["experiment", "sampler"]).size() if len(table) else pd.Series(dtype=int)
    result = {
        "returncode": proc.returncode,
        "cores": args.cores,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(peak_rss / 2**20),
        "peak_open_fds": peak_fds,
        "rows": len(table),
        "one_row_per_experiment_sampler": bool(len(table) and (rows_per_pair == 1).all()),
        # health flags by kind ("rhat 1.2 > 1.05;ess 8 < 10" counts once for rhat and once for ess)
        "flags": (table["status"].str.split(";").explode().str.split().str[0].value_counts().to_dict() if len(table) else {}),
        "workdir": str(workdir),
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    sys.exit(0 if proc.returncode == 0 and result["one_row_per_experiment_sampler"] and len(table) == 200 else 1)


if __name__ == "__main__":
    main()
