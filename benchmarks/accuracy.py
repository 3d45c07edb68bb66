"""Accuracy against ground truth: the deep-linear-network validation preset
(config/presets/dln.yaml), per sampler and case: the analytic λ (``true_llc``)
and its multiplicity m, λ̂ ± SE, the relative error (λ̂ − λ)/λ, the relative
difference to HMC at the same nβ and γ (λ̂ − λ̂_HMC)/λ̂_HMC (which separates a
sampler's own error from the estimator's finite-nβ bias, present even for an
exact sampler when m > 1), full-data-equivalent gradients and seconds; m = 1
cases and m > 1 cases in separate tables.

Goals (issue 13), on every m = 1 case at nβ ≥ 1e4: HMC, MCLMC and adjusted MCLMC within 3% of
λ, plain SGLD (the preset's ``step_size: auto``) and RMSProp-SGLD each within 6%. A goal is
judged on every such case that ran its sampler, whatever the run's status (a flagged run that
misses counts against it); SGLD runs are told apart by their preconditioner, read from
``index.csv`` (an SGLD run without that label is reported, not judged).

A case is one (data, w*, nβ, γ): the preset's ``<case>_psgld`` experiment (SGLD
with RMSProp) shares its case with ``<case>``. SGLD runs are labelled by their
preconditioner, read from ``index.csv`` beside the CSV when it is there (else
by their experiment's name).

SE calibration (issue 13): the preset runs with ``replicates: R`` (``--replicates``, default 4;
the tiny run 3), R runs of every sampler per case with independent seeds. Each table row is a
sampler's replicates pooled (``llcbench.scoreboard.pool_replicates``: mean λ̂, SE of that mean),
and per sampler the calibration ratio sd(λ̂ across replicates) / mean SE, for ArviZ's MCSE, the
bootstrap SE and the scoreboard's SE (each run's larger of the two), pooled over the cases whose
replicates are all ``ok``: √(Σ_c (R−1)·sd_c² / Σ_c (R−1)·SE_c²), with its sampling error
1/√(2·Σ_c (R−1)). Goal: the scoreboard's SE within [0.7, 1.4] for every sampler (the other two
are reported with their own verdicts).

    uv run python benchmarks/accuracy.py                     # run the preset here (results/), then tabulate
    uv run python benchmarks/accuracy.py --replicates 1      # the same without replicates (no calibration), 4x cheaper
    uv run python benchmarks/accuracy.py --csv results/llc_sweep_results.csv   # tabulate an existing sweep CSV
    uv run python benchmarks/accuracy.py --tiny              # one small case, short chains, 3 replicates, in a temp copy
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import benchlib

PRESET = "config/presets/dln.yaml"
NBETA_MIN = 1e4
TOLERANCE = {"hmc": 0.03, "mclmc": 0.03, "adjusted_mclmc": 0.03, "sgld (none)": 0.06, "sgld (rmsprop)": 0.06}  # issue 13
NEEDED = [
    "experiment",
    "run_id",
    "sampler",
    "llc",
    "llc_se",
    "nbeta",
    "gamma",
    "d",
    "data_id",
    "erm_id",
    "grad_evals_fde",
    "sampling_seconds",
    "tuning_seconds",
    "compile_seconds",
    "status",
    "true_llc",
    "true_llc_multiplicity",
    "rel_error",
]
CALIBRATION_GOAL = (0.7, 1.4)  # sd(λ̂) / mean SE, per sampler (issue 13)
TINY_CASE = "dln_8x4x4x8_r2"  # the preset's smallest m = 1 case (d = 80)
TINY = {
    "samplers": {
        "sgld": {"steps": 2000, "burn_in": 500, "eval_every": 10},
        "hmc": {"steps": 100, "burn_in": 20, "adapt_steps": 100},
        "mclmc": {"steps": 400, "tune_steps": 400},
    }
}


def preset_config(dest: Path, replicates: int) -> Path:
    """The preset with ``base.replicates`` set: a YAML file in ``dest``."""
    import yaml

    cfg = yaml.safe_load((benchlib.ROOT / PRESET).read_text())
    cfg.setdefault("base", {})["replicates"] = replicates
    path = dest / "dln_replicates.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def tiny_config(dest: Path, replicates: int = 1) -> Path:
    """The preset cut to ``TINY_CASE`` (else its first case) and that case's
    RMSProp SGLD run, HMC, MCLMC and SGLD only, short chains, ``replicates`` of each:
    a YAML file in ``dest``."""
    import yaml

    from llcbench.config import deep_merge

    cfg = yaml.safe_load((benchlib.ROOT / PRESET).read_text())
    case = TINY_CASE if TINY_CASE in cfg["experiments"] else next(iter(cfg["experiments"]))
    cfg["experiments"] = {k: v for k, v in cfg["experiments"].items() if k in (case, f"{case}_psgld")}
    cfg["base"] = deep_merge(cfg["base"], {**TINY, "run_samplers": ["sgld", "hmc", "mclmc"], "replicates": replicates})
    for name, e in cfg["experiments"].items():  # experiments override base: shorten theirs too
        if "samplers" in e:
            e["samplers"] = deep_merge(e["samplers"], {k: v for k, v in TINY["samplers"].items() if k in e["samplers"]})
    path = dest / "dln_tiny.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def sgld_labels(index_csv: Path) -> dict[str, str]:
    """run_id -> "sgld (<precond>)" for the SGLD runs listed in ``index_csv``."""
    import pandas as pd

    if not index_csv.exists():
        return {}
    index = pd.read_csv(index_csv)
    runs = index[(index["kind"] == "run") & index["id"].str.startswith("sgld-")]
    return {r.id: f"sgld ({json.loads(r.settings_json)['sampler_settings'].get('precond', 'none')})" for r in runs.itertuples()}


POOLED = [
    "replicates",
    "llc_sd_replicates",
    "llc_se_mean",
    "llc_se_bootstrap_mean",
    "llc_se_larger_mean",
    "calibration_mcse",
    "calibration_bootstrap",
    "calibration",
]
CALIBRATED_SES = {"mcse": "llc_se_mean", "bootstrap": "llc_se_bootstrap_mean", "scoreboard": "llc_se_larger_mean"}


def pool(df):
    """One row per (experiment, sampler): its replicates (the ``replicate`` column; none: each row
    is one) pooled by ``llcbench.scoreboard.pool_replicates`` (mean λ̂, SE of that mean, the spread
    across replicates, each mean SE and the calibration ratios), costs averaged per run, the
    relative error recomputed; the other columns are replicate 0's."""
    import pandas as pd

    from llcbench.scoreboard import pool_replicates

    if "replicate" not in df:
        df = df.assign(replicate=0)
    rows = []
    for _, g in df.groupby(["experiment", "sampler"], sort=False):
        g = g.sort_values("replicate")
        p = pool_replicates(g)
        row = {**g.iloc[0].to_dict(), **{k: p[k] for k in ("llc", "llc_se", "status", *POOLED)}}
        for col in ("grad_evals_fde", "sampling_seconds", "tuning_seconds", "compile_seconds"):
            row[col] = float(g[col].mean())
        row["rel_error"] = (row["llc"] - row["true_llc"]) / row["true_llc"]
        rows.append(row)
    return pd.DataFrame(rows)


def calibration(rows: list[dict]) -> dict:
    """Per sampler label: the SE calibration ratios pooled over its cases whose replicates are all
    ``ok`` (module doc), their sampling error and the goal's verdict."""
    out = {}
    for label in dict.fromkeys(r["label"] for r in rows):
        here = [r for r in rows if r["label"] == label and r["status"] == "ok" and r["replicates"] >= 2]
        here = [r for r in here if math.isfinite(r["llc_sd_replicates"])]
        if not here:
            continue
        dof = sum(r["replicates"] - 1 for r in here)
        var = sum((r["replicates"] - 1) * r["llc_sd_replicates"] ** 2 for r in here)
        entry = {
            "cases": len(here),
            "replicates": sorted({int(r["replicates"]) for r in here}),
            "rel_sampling_error": 1 / math.sqrt(2 * dof),
        }
        for se, col in CALIBRATED_SES.items():
            ratio = math.sqrt(var / sum((r["replicates"] - 1) * r[col] ** 2 for r in here))
            entry[se] = ratio
            entry[f"{se}_met"] = bool(CALIBRATION_GOAL[0] <= ratio <= CALIBRATION_GOAL[1])
        out[label] = entry
    return out


def tabulate(df, labels: dict[str, str]) -> tuple[list[dict], dict]:
    """Rows (one per sampler and case, replicates pooled) with labels, case names and differences
    to HMC; the goal verdicts and the SE calibration."""
    missing = [c for c in NEEDED if c not in df.columns]
    if missing:
        raise SystemExit(f"the CSV lacks the columns {missing}; it needs {NEEDED} (llcbench.aggregate.COLUMNS)")
    df = pool(df[df["true_llc"].notna()])
    df["case_key"] = list(zip(df["data_id"], df["erm_id"], df["nbeta"].round(6), df["gamma"].round(9)))
    names = df.groupby("case_key")["experiment"].agg(lambda e: min(e, key=len))
    hmc = df[df["sampler"] == "hmc"].groupby("case_key")["llc"].first()
    rows = []
    for r in df.to_dict("records"):
        key = r.pop("case_key")
        ref = hmc.get(key, math.nan)
        other = r["experiment"] != names[key]  # e.g. the case's _psgld experiment
        label = labels.get(r["run_id"], f"{r['sampler']} [{r['experiment']}]" if other else r["sampler"])
        rows.append(
            {
                **r,
                "case": names[key],
                "label": label,
                "seconds": r["tuning_seconds"] + r["compile_seconds"] + r["sampling_seconds"],
                "rel_diff_hmc": (r["llc"] - ref) / ref if r["sampler"] != "hmc" else math.nan,
                "abs_rel_error": abs(r["rel_error"]),
            }
        )
    rows.sort(key=lambda r: (r["true_llc_multiplicity"] > 1, r["d"], r["case"], r["label"]))
    verdicts = {}
    for case in dict.fromkeys(r["case"] for r in rows):
        here = [r for r in rows if r["case"] == case]
        if here[0]["true_llc_multiplicity"] != 1 or here[0]["nbeta"] < NBETA_MIN:
            continue
        errors = {goal: [r["abs_rel_error"] for r in here if goal in (r["sampler"], r["label"])] for goal in TOLERANCE}
        verdicts[case] = {
            k: {"abs_rel_error": e[0], "tolerance": TOLERANCE[k], "met": bool(e[0] <= TOLERANCE[k])} for k, e in errors.items() if e
        }
    goals = {
        k: {
            "tolerance": t,
            "cases": sum(k in v for v in verdicts.values()),
            "met": bool(verdicts) and all(v[k]["met"] for v in verdicts.values() if k in v),
        }
        for k, t in TOLERANCE.items()
    }
    calib = calibration(rows)
    return rows, {
        "cases": verdicts,
        "goals": goals,
        "all_met": bool(verdicts) and all(g["met"] and g["cases"] for g in goals.values()),
        "calibration_goal": list(CALIBRATION_GOAL),
        "calibration": calib,
        "calibration_met": bool(calib) and all(c["scoreboard_met"] for c in calib.values()),
    }


COLUMNS = [
    ("case", "case", "s"),
    ("d", "d", ".0f"),
    ("true_llc_multiplicity", "m", ".0f"),
    ("label", "sampler", "s"),
    ("true_llc", "λ", ".2f"),
    ("llc", "λ̂", ".2f"),
    ("llc_se", "± SE", ".2f"),
    ("replicates", "R", ".0f"),
    ("calibration_mcse", "sd/MCSE", ".2f"),
    ("calibration_bootstrap", "sd/boot", ".2f"),
    ("calibration", "sd/SE", ".2f"),
    ("rel_error", "rel. error", "+.3f"),
    ("rel_diff_hmc", "vs HMC", "+.3f"),
    ("grad_evals_fde", "FDE grads", ".3g"),
    ("seconds", "seconds", ".1f"),
    ("status", "status", "s"),
]


def main() -> None:
    def add(ap):
        ap.add_argument("--csv", help="a sweep CSV to tabulate instead of running the preset")
        ap.add_argument("--cores", type=int, default=None, help="snakemake --cores when running (default: all)")
        ap.add_argument("--replicates", type=int, default=None, help="runs per sampler and case (default: 4; --tiny: 3)")

    args = benchlib.parse_args("accuracy", __doc__, add)
    import os

    import pandas as pd

    cores = args.cores or os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        if args.csv:
            csv = Path(args.csv)
        elif args.tiny:
            workdir = Path(tmp)
            benchlib.snakemake(workdir, tiny_config(workdir, args.replicates or 3), cores)
            csv = workdir / "results/llc_sweep_results.csv"
        else:
            workdir = benchlib.ROOT / "results/benchmarks/accuracy_run"  # kept: a re-run only redoes what changed
            workdir.mkdir(parents=True, exist_ok=True)
            benchlib.snakemake(workdir, preset_config(workdir, args.replicates or 4), cores)
            csv = workdir / "results/llc_sweep_results.csv"
        rows, verdict = tabulate(pd.read_csv(csv), sgld_labels(csv.parent / "index.csv"))
    for title, part in (
        ("multiplicity m = 1", [r for r in rows if r["true_llc_multiplicity"] == 1]),
        (
            "multiplicity m > 1 (finite-nβ bias of the estimator expected; compare with HMC)",
            [r for r in rows if r["true_llc_multiplicity"] > 1],
        ),
    ):
        if part:
            print(f"\n{title}")
            print(benchlib.table(part, COLUMNS))
    lo, hi = CALIBRATION_GOAL
    print(f"\nSE calibration: sd of λ̂ across replicates / mean SE (1 ideal; goal {lo}..{hi}), cases whose replicates are all ok:")
    for label, c in verdict["calibration"].items():
        met = "met" if c["scoreboard_met"] else "NOT met"
        print(
            f"  {label:22s} scoreboard SE {c['scoreboard']:.2f}  (MCSE {c['mcse']:.2f}, bootstrap {c['bootstrap']:.2f}; "
            f"± {c['rel_sampling_error']:.0%}, {c['cases']} cases, R = {c['replicates']}): {met}"
        )
    if not verdict["calibration"]:
        print("  none: needs replicates >= 2 (--replicates)")
    print(f"\ngoals on m = 1 cases at nβ >= {NBETA_MIN:g}:")
    for k, g in verdict["goals"].items():
        verdict_text = ("met" if g["met"] else "NOT met") if g["cases"] else "no such case in the CSV"
        print(f"  {k:12s} |rel. error| <= {g['tolerance']:.0%} on {g['cases']} cases: {verdict_text}")
    keep = [
        "case",
        "label",
        "sampler",
        "experiment",
        "run_id",
        "d",
        "nbeta",
        "gamma",
        "true_llc",
        "true_llc_multiplicity",
        "llc",
        "llc_se",
        *POOLED,
        "rel_error",
        "rel_diff_hmc",
        "grad_evals_fde",
        "sampling_seconds",
        "seconds",
        "status",
    ]
    benchlib.write_json(
        {
            "benchmark": "accuracy",
            "tiny": args.tiny,
            "csv": str(csv),
            "nbeta_min": NBETA_MIN,
            "rows": [{k: r[k] for k in keep} for r in rows],
            **verdict,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
