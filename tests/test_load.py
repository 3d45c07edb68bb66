"""The 200-run load sweep (tests/configs/load.yaml) plans as it should: one data
set, one w*, 200 sampler runs and 200 estimates feeding one CSV. Running it takes
8 to 35 minutes on 2 cores, by machine, so it is a benchmark (benchmarks/load_sweep.py),
not a test; this checks the plan it runs."""

from conftest import ROOT, job_counts, snakemake


def test_load_sweep_plans_200_runs_on_shared_data(tmp_path):
    res = snakemake(
        tmp_path,
        "results/llc_sweep_results.csv",
        "-n",
        "--cores",
        "2",
        "--configfile",
        str(ROOT / "tests/configs/load.yaml"),
        snakefile=ROOT / "Snakefile",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert job_counts(res.stdout + res.stderr) == {"data": 1, "erm": 1, "sample": 200, "llc": 200, "aggregate": 1}
