"""The quick preset runs end to end as the README's command gives it, and the README's
refresh command for its example figures (`readme_images`) copies the quick run's figures:
one run, `snakemake all readme_images --configfile config/presets/quick.yaml`."""

import re

import pandas as pd
import yaml

from conftest import ROOT, copy_workflow, parse_status, snakemake

QUICK = ROOT / "config/presets/quick.yaml"


def test_quick_preset_runs_and_refreshes_the_readme_figures(tmp_path):
    wd = copy_workflow(tmp_path)
    res = snakemake(wd, "all", "readme_images", "--cores", "2", "--configfile", str(QUICK))
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
    # the copy had no assets/: everything there is what readme_images wrote, among it the
    # figure the README embeds, and each is the quick run's own figure, byte for byte
    written = sorted(p.name for p in (wd / "assets/readme").iterdir())
    embedded = set(re.findall(r"assets/readme/((?:sgld|hmc|mclmc)_\w+\.png)", (ROOT / "README.md").read_text()))
    assert embedded and embedded <= set(written), written
    for name in written:
        sampler = name.split("_")[0]
        source = wd / "results/runs" / table.loc[sampler, "run_id"] / name
        assert (wd / "assets/readme" / name).read_bytes() == source.read_bytes(), name
