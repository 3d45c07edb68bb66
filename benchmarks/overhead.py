"""Workflow overhead: the fixed cost of a job (interpreter start, imports,
compilation, file I/O) against its sampling time, on the quick preset, and the
wall time of a re-run with nothing to do.

Copies the workflow into a temporary directory, runs
``snakemake --cores N --configfile config/presets/quick.yaml`` there, then reads
Snakemake's per-job benchmark tables (``results/benchmarks/<rule>/<id>.tsv``:
wall s, CPU s, peak RSS) and each ``trace.nc``'s ``sampling_seconds``,
``compile_seconds`` and ``tuning_seconds``. Per sample job, ``other`` = job wall
− sampling − chain-loop compile − tuning (tuning includes its own compilation):
interpreter start, imports, reading inputs, building the posterior, writing the
trace. ``fixed`` = compile + other. Each rule's start-up cost (process start to first useful work)
is also timed directly: a fresh interpreter importing what Snakemake's script preamble imports
(``snakemake.script``) and the import statements of the rule's adapter in ``workflow/scripts/``,
given as a ratio to a bare ``python -c pass`` timed in the same run; the light rules (``run:``
blocks: estimates, tables, sweep figures) run inside the snakemake process, so they have no
start-up of their own and their job seconds are their whole cost. Finally the same command runs
again (nothing to do).

    uv run python benchmarks/overhead.py [--tiny] [--cores 2] [--workdir DIR] [--out results/benchmarks/overhead.json]

``--workdir DIR`` reads a workflow copy already run with the same config file
(only the no-op re-run is executed there, after a dry run has confirmed there is
nothing to do; a copied directory does not qualify, Snakemake records inputs by
absolute path); ``--tiny`` uses tests/configs/tiny.yaml.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib


def startup_seconds(code: str, repeats: int = 3) -> float:
    """Best wall time of ``python -c code`` (a fresh interpreter)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def script_imports(script: Path) -> str:
    """The import statements of a workflow adapter script, as one line of code."""
    tree = ast.parse(script.read_text())
    return "; ".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def rule_startup(repeats: int) -> dict[str, float]:
    """Script name -> best wall seconds of a fresh interpreter importing what a job of that
    rule imports before its first useful work (Snakemake's preamble, then the adapter's imports)."""
    scripts = sorted((benchlib.ROOT / "workflow/scripts").glob("*.py"))
    return {s.stem: startup_seconds("import snakemake.script; " + script_imports(s), repeats) for s in scripts if s.stem != "copy_files"}


def job_table(workdir: Path) -> list[dict]:
    """One row per job with a benchmark table; sample jobs get the trace timings."""
    import pandas as pd

    from llcbench import files

    rows = []
    for tsv in sorted((workdir / "results/benchmarks").glob("*/*.tsv")):
        rule, job = tsv.parent.name, tsv.stem
        b = pd.read_csv(tsv, sep="\t").iloc[-1]
        row = {"rule": rule, "job": job, "seconds": float(b["s"]), "cpu_seconds": float(b["cpu_time"]), "max_rss_mb": float(b["max_rss"])}
        trace = workdir / "results/runs" / job / "trace.nc"
        if rule == "sample" and trace.exists():
            a = files.open_datatree(str(trace)).attrs
            row.update(
                sampler=a["sampler"],
                d=int(a["d"]),
                n=int(a["n"]),
                **{k: float(a[k]) for k in ("sampling_seconds", "compile_seconds", "tuning_seconds")},
            )
            row["other_seconds"] = row["seconds"] - row["sampling_seconds"] - row["compile_seconds"] - row["tuning_seconds"]
            row["fixed_seconds"] = row["other_seconds"] + row["compile_seconds"]
            row["fixed_over_sampling"] = row["fixed_seconds"] / row["sampling_seconds"]
        rows.append(row)
    return rows


def main() -> None:
    def add(ap):
        ap.add_argument("--cores", type=int, default=os.cpu_count())
        ap.add_argument("--workdir", help="an already-run workflow copy to read instead of running one")
        ap.add_argument("--configfile", help="default: config/presets/quick.yaml (tests/configs/tiny.yaml with --tiny)")

    args = benchlib.parse_args("overhead", __doc__, add)
    config_name = args.configfile or ("tests/configs/tiny.yaml" if args.tiny else "config/presets/quick.yaml")
    configfile = benchlib.ROOT / config_name
    tmp = None
    if args.workdir:
        workdir, run_wall = Path(args.workdir), None
        if "Nothing to be done" not in benchlib.snakemake(workdir, configfile, 1, "-n")[1]:
            raise SystemExit(f"{workdir} is not up to date for {config_name}: run it first (or leave out --workdir)")
    else:
        tmp = tempfile.mkdtemp(prefix="llcbench-overhead-")
        workdir = Path(tmp)
        run_wall, _ = benchlib.snakemake(workdir, configfile, args.cores)
    try:
        noop_wall, noop_out = benchlib.snakemake(workdir, configfile, args.cores)
        jobs = job_table(workdir)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    k = 1 if args.tiny else 3
    startup = {
        "python": startup_seconds("pass", k),
        "python_import_jax": startup_seconds("import jax, jax.numpy", k),
    }
    per_rule = rule_startup(k)
    rules = {}
    for j in jobs:
        r = rules.setdefault(j["rule"], {"jobs": 0, "seconds": 0.0, "cpu_seconds": 0.0})
        r["jobs"] += 1
        r["seconds"] += j["seconds"]
        r["cpu_seconds"] += j["cpu_seconds"]
    samples = [j for j in jobs if "sampling_seconds" in j]
    totals = {
        k: sum(j[k] for j in samples)
        for k in ("seconds", "sampling_seconds", "compile_seconds", "tuning_seconds", "other_seconds", "fixed_seconds")
    }
    summary = {
        "workflow_wall_seconds": run_wall,
        "noop_rerun_wall_seconds": noop_wall,
        "noop_nothing_to_be_done": "Nothing to be done" in noop_out,
        "job_seconds_total": sum(j["seconds"] for j in jobs),
        "sample_jobs": totals,
        "sample_fixed_over_sampling": totals["fixed_seconds"] / totals["sampling_seconds"] if samples else None,
        "startup_seconds": startup,
        "rule_startup_seconds": per_rule,
        "rule_startup_over_python": {r: v / startup["python"] for r, v in per_rule.items()},
    }
    print(
        f"\n{config_name} on --cores {args.cores}: workflow "
        + (f"{run_wall:.1f} s wall, " if run_wall else "")
        + f"no-op re-run {noop_wall:.1f} s"
    )
    print(
        benchlib.table(
            jobs,
            [
                ("rule", "rule", "s"),
                ("job", "job", "s"),
                ("seconds", "job s", ".1f"),
                ("cpu_seconds", "CPU s", ".1f"),
                ("max_rss_mb", "RSS MB", ".0f"),
                ("sampling_seconds", "sampling s", ".2f"),
                ("compile_seconds", "compile s", ".2f"),
                ("tuning_seconds", "tuning s", ".2f"),
                ("other_seconds", "other s", ".2f"),
                ("fixed_over_sampling", "(compile+other) / sampling", ".2f"),
            ],
        )
    )
    print("start-up (fresh interpreter): " + ", ".join(f"{k} {v:.2f} s" for k, v in startup.items()))
    print(
        benchlib.table(
            [{"rule": r, "seconds": v, "ratio": v / startup["python"]} for r, v in per_rule.items()],
            [("rule", "job script", "s"), ("seconds", "start-up s", ".2f"), ("ratio", "× bare python", ".1f")],
        )
    )
    if samples:
        print(
            f"sample jobs: {totals['seconds']:.1f} s in all, of which sampling {totals['sampling_seconds']:.1f} s, "
            f"compile {totals['compile_seconds']:.1f} s, tuning {totals['tuning_seconds']:.1f} s, "
            f"other {totals['other_seconds']:.1f} s; fixed (compile + other) / sampling = {summary['sample_fixed_over_sampling']:.2f}"
        )
    benchlib.write_json(
        {
            "benchmark": "overhead",
            "tiny": args.tiny,
            "configfile": config_name,
            "cores": args.cores,
            "machine": benchlib.machine(),
            "jobs": jobs,
            "rules": rules,
            "summary": summary,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
