"""Settings of the deep-linear-network preset (config/presets/dln.yaml) that its accuracy
against the analytic λ depends on (README, "Ground truth: deep linear networks")."""

from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from conftest import ROOT
from llcbench.config import check_config

PRESET = ROOT / "config/presets/dln.yaml"
# The chains start at w* (after their tuning from there) and λ̂ climbs while they spread along the
# flat directions of the true-parameter set (README, "Ground truth: deep linear networks"), measured
# on dln_32x24x16x24x32_r4 (λ = 222):
# - HMC, 2 seeds each: −2.7 % ± 0.3 % with 500 steps of adaptation and burn_in 0, −1.2 % ± 0.3 % with
#   1000 of burn-in; with 1500 of adaptation and no burn-in, 6 replicates, −1.7 % ± 0.1 %, and no
#   divergences where a step adapted in 500 steps near w* gave them in 14 of 24 runs on the small cases;
# - adjusted MCLMC (two integrator steps per transition, a random walk): −7.1 % ± 1.2 % with 2000
#   steps and burn_in 0, −4.2 % ± 0.5 % with 1000 draws after 1000, −2.6 % ± 0.6 % with 8000 after 4000.
# Per sampler: (the settings whose steps move its chains from w* before the draws, least such steps,
# least draws); HMC's chains also move during its window adaptation.
WARM_UP_AND_DRAWS = {"hmc": (("adapt_steps", "burn_in"), 1500, 1000), "adjusted_mclmc": (("burn_in",), 4000, 8000)}


def preset_experiments() -> dict[str, dict]:
    """The preset's experiments as the workflow resolves them (config/config.yaml, then the preset)."""
    config = load_configfile(str(ROOT / "config/config.yaml"))
    update_config(config, load_configfile(str(PRESET)))
    return check_config(config).experiments


def test_every_dln_hmc_and_adjusted_mclmc_run_moves_its_chains_from_w_star_before_its_draws():
    for sampler, (moving, warm_up, draws) in WARM_UP_AND_DRAWS.items():
        runs = {name: e["samplers"][sampler] for name, e in preset_experiments().items() if sampler in e["run_samplers"]}
        assert len(runs) == 6, sampler  # the six cases; the *_psgld experiments run SGLD only
        for name, s in runs.items():
            moved = sum(s[key] for key in moving)
            assert moved >= warm_up, f"{name}: {sampler} moves {moved} steps before its draws < {warm_up}"
            assert s["steps"] - s["burn_in"] >= draws, f"{name}: {s['steps'] - s['burn_in']} {sampler} steps after burn-in"


def test_every_dln_sgld_run_picks_its_step_by_the_pilot():
    """Plain and RMSProp-SGLD use ``step_size: auto``: hand-picked steps did not transfer to networks
    outside the preset (plain h = 1e-6: +18 % and +26 % on 2.8k and 5k networks; RMSProp h = 1e-4:
    +6.8 % on a 16x8x32x8x16 network, README "Ground truth"), the pilot's steps did."""
    runs = {name: e["samplers"]["sgld"] for name, e in preset_experiments().items() if "sgld" in e["run_samplers"]}
    assert {s["precond"] for s in runs.values()} == {"none", "rmsprop"} and len(runs) == 12
    for name, s in runs.items():
        assert s["step_size"] == "auto", f"{name}: SGLD ({s['precond']}) at a fixed h = {s['step_size']}"
