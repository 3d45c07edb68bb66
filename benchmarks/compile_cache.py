"""Compile seconds of the sampler jobs with and without JAX's persistent
compilation cache, on a quick sweep: the quick preset over seeds 0, 1, 2
(3 data sets, 3 samplers each: 9 sampler jobs of three shapes).

Three runs of the workflow, each into a fresh folder up to the sweep CSV:
`off` (compile_cache: null), `cold` (an empty cache: seeds 1 and 2 reuse the
programs seed 0 compiled), `warm` (`--forcerun sample` over the cache `cold` left).
Reports the sum over jobs of `compile_seconds` (the chain loop) and
`tuning_seconds` (tuners, compilation included) from each trace.nc, and ratios to
`off`. Writes JSON.

    uv run python benchmarks/compile_cache.py [--out results/benchmarks/compile_cache.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
SWEEP = """
sweep: {seeds: [0, 1, 2], axes: {model.activation: [relu]}}
compile_cache: %s
"""


def run(workdir: Path, cache: str, *extra: str) -> dict:
    """One workflow run in ``workdir``; sums of the sampler jobs' compile and tuning seconds."""
    cfg = workdir / "sweep.yaml"
    cfg.write_text(SWEEP % cache)
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
        "2",
        *extra,
        "--configfile",
        str(ROOT / "config/presets/quick.yaml"),
        str(cfg),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    attrs = [xr.open_datatree(p).attrs for p in sorted((workdir / "results/runs").glob("*/trace.nc"))]
    return {
        "jobs": len(attrs),
        "wall_s": round(wall, 1),
        "compile_s": round(sum(a["compile_seconds"] for a in attrs), 2),
        "tuning_s": round(sum(a.get("tuning_seconds", 0.0) for a in attrs), 2),
        "sampling_s": round(sum(a["sampling_seconds"] for a in attrs), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/benchmarks/compile_cache.json")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="llcbench-cache-"))
    (base / "off").mkdir(), (base / "on").mkdir()
    result = {"off": run(base / "off", "null"), "cold": run(base / "on", "results/jax_cache")}
    result["warm"] = run(base / "on", "results/jax_cache", "--forcerun", "sample")
    print(f"{'cache':<6} {'sampler jobs':>12} {'compile s':>10} {'ratio':>6} {'tuning s':>9} {'sampling s':>11} {'wall s':>7}")
    for name, r in result.items():
        ratio = r["compile_s"] / result["off"]["compile_s"]
        print(
            f"{name:<6} {r['jobs']:>12} {r['compile_s']:>10.1f} {ratio:>6.2f} {r['tuning_s']:>9.1f} {r['sampling_s']:>11.1f} {r['wall_s']:>7.0f}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
