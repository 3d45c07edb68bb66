"""The quick preset runs as the README's command gives it, up to the LLC table (the per-run
figures are drawn by the code the tiny run's figure tests check; `readme_images`, which copies
the first experiment's figures, is tested on the tiny run in test_workflow.py)."""

import pandas as pd
import yaml

from conftest import ROOT, copy_workflow, parse_status, snakemake

QUICK = ROOT / "config/presets/quick.yaml"


def test_quick_preset_runs_to_its_llc_table(tmp_path):
    wd = copy_workflow(tmp_path)
    res = snakemake(wd, "results/llc_sweep_results.csv", "--cores", "2", "--configfile", str(QUICK))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = pd.read_csv(wd / "results/llc_sweep_results.csv").set_index("sampler")
    quick = yaml.safe_load(QUICK.read_text())["base"]
    assert sorted(table.index) == ["hmc", "mclmc", "sgld"]
    assert (table["n"] == quick["data"]["n"]).all()
    assert (abs(table["d"] / quick["model"]["target_params"] - 1) < 0.2).all()  # widths chosen to hit the target
    for sampler, row in table.iterrows():
        parse_status(row.status)  # the documented grammar, whatever flags the short chains raise
        # λ̂ of a local posterior at a minimum lies in (0, d/2]: d/2 for a regular model, less when singular
        assert 0 < row.llc <= row.d / 2, (sampler, row.llc)
