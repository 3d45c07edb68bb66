"""A tiny deep-linear-network run through the workflow: the sweep CSV carries the
analytic LLC (the cases where it must be withheld are unit-tested in test_truth.py)."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import ROOT, copy_workflow, snakemake
from llcbench.truth import dln_learning_coefficient

DLN_TINY = ROOT / "tests/configs/dln_tiny.yaml"


def test_aligned_dln_run_carries_the_analytic_llc_into_the_sweep_csv(tmp_path):
    wd = copy_workflow(tmp_path)
    res = snakemake(wd, "--cores", "2", "results/llc_sweep_results.csv", "--configfile", str(DLN_TINY))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    row = pd.read_csv(wd / "results/llc_sweep_results.csv").set_index("experiment").loc["dln"]
    lam, m = dln_learning_coefficient([4, 2, 3], 1)
    assert (row["true_llc"], row["true_llc_multiplicity"]) == (lam, m) == (4.0, 1)
    assert np.isfinite(row["rel_error"]) and row["rel_error"] == pytest.approx((row["llc"] - lam) / lam)
    # nβ = 128·20/ln 128 ≈ 528, γ = 1, two short HMC chains: λ̂ lands within a third of λ = 4
    # (a truth computed for the wrong widths or rank, e.g. d/2 = 7 or r = 2 → 6.5, would not).
    assert abs(row["rel_error"]) < 0.33, row["llc"]
    erm = xr.open_dataset(wd / "results/erm" / row["erm_id"] / "erm.nc")
    assert json.loads(erm.attrs["layer_ranks"]) == [1, 1] and erm.attrs["product_rank"] == 1
    assert erm.attrs["teacher_rank"] == 1 and erm.attrs["truth_note"] == "ok" and erm.attrs["d"] == 4 * 2 + 2 * 3
