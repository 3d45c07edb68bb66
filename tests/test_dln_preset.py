"""Settings of the deep-linear-network preset (config/presets/dln.yaml) that its accuracy
against the analytic λ depends on (README, "Ground truth: deep linear networks")."""

from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from conftest import ROOT
from llcbench.config import check_config

PRESET = ROOT / "config/presets/dln.yaml"
# HMC's chains start at w* (after a window adaptation of adapt_steps from there) and λ̂ climbs for
# about a thousand steps while they spread along the flat directions of the true-parameter set.
# Measured on dln_32x24x16x24x32_r4 (λ = 222), 2 seeds each: −2.7 % ± 0.3 % with burn_in 0,
# −1.2 % ± 0.3 % with burn_in 1000 (README, "Ground truth: deep linear networks").
HMC_BURN_IN = 1000
HMC_DRAWS = 1000  # steps after burn-in: the preset's earlier 1000-step chains, kept


def preset_experiments() -> dict[str, dict]:
    """The preset's experiments as the workflow resolves them (config/config.yaml, then the preset)."""
    config = load_configfile(str(ROOT / "config/config.yaml"))
    update_config(config, load_configfile(str(PRESET)))
    return check_config(config).experiments


def test_every_dln_hmc_run_burns_in_after_its_tuning():
    runs = {name: e["samplers"]["hmc"] for name, e in preset_experiments().items() if "hmc" in e["run_samplers"]}
    assert len(runs) == 6  # the six cases; the *_psgld experiments run SGLD only
    for name, hmc in runs.items():
        assert hmc["burn_in"] >= HMC_BURN_IN, f"{name}: hmc burn_in {hmc['burn_in']} < {HMC_BURN_IN}"
        assert hmc["steps"] - hmc["burn_in"] >= HMC_DRAWS, f"{name}: {hmc['steps'] - hmc['burn_in']} hmc steps after burn-in"
