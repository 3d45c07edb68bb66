import copy
from pathlib import Path

import pytest
import yaml

from llcbench.config import resolve_experiments
from llcbench.plan import build_plan, content_id

ROOT = Path(__file__).resolve().parents[1]


def test_empty_config_gives_the_default_experiment():
    exps = resolve_experiments({})
    assert list(exps) == ["default"]
    e = exps["default"]
    assert e["model"]["activation"] == "relu" and e["data"]["in_dim"] == 32
    assert e["model"]["target_params"] == 10_000
    assert e["run_samplers"] == ["sgld", "hmc", "mclmc"]
    assert all(e["samplers"][s]["chains"] == 4 for s in ("sgld", "hmc", "mclmc"))


def test_config_yaml_spells_out_the_schema_defaults():
    # config/config.yaml documents the default run; it must not drift from the schema.
    written = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert resolve_experiments(written) == resolve_experiments({})
    assert set(written["base"]) == set(resolve_experiments({})["default"])


@pytest.mark.parametrize("preset", sorted((ROOT / "config/presets").glob("*.yaml")), ids=lambda p: p.name)
def test_presets_are_valid(preset):
    assert resolve_experiments(yaml.safe_load(preset.read_text()))


# Malformed configs: tests/test_config_catalogue.py.


def test_ids_are_stable_and_nested():
    exps = resolve_experiments({"experiments": {"a": {}, "b": {"samplers": {"sgld": {"step_size": 2e-5}}}, "c": {"seed": 1}}})
    plan = build_plan(exps)
    a, b, c = (plan.experiments[k] for k in "abc")
    # b differs only in an SGLD setting: shares data, ERM and the HMC/MCLMC runs
    assert a["data_id"] == b["data_id"] and a["erm_id"] == b["erm_id"]
    assert a["runs"]["hmc"] == b["runs"]["hmc"] and a["runs"]["sgld"] != b["runs"]["sgld"]
    # c has another seed: nothing shared
    assert c["data_id"] != a["data_id"] and c["erm_id"] != a["erm_id"]
    assert len(plan.data) == 2 and len(plan.erm) == 2 and len(plan.runs) == 7
    # IDs are hashes of canonical JSON: key order does not matter, values do
    assert content_id({"x": 1, "y": [1, 2]}) == content_id({"y": [1, 2], "x": 1})
    assert content_id({"x": 1}) != content_id({"x": 1.5})
    again = build_plan(resolve_experiments(copy.deepcopy({"experiments": {"a": {}}})))
    assert again.experiments["a"]["runs"] == a["runs"]


def test_command_line_strings_are_read_as_numbers():
    # `--config 'base={"seed": 3, ...}'` reaches the workflow with every scalar a string.
    e = resolve_experiments(
        {"base": {"seed": "3", "samplers": {"sgld": {"step_size": "2.0e-5"}}, "model": {"activation": "tanh", "widths": "null"}}}
    )["default"]
    assert e["seed"] == 3 and e["samplers"]["sgld"]["step_size"] == 2e-5
    assert e["model"]["activation"] == "tanh" and e["model"]["widths"] is None


def test_one_at_a_time_sweep_varies_each_axis_around_base():
    exps = resolve_experiments({"sweep": {"axes": {"model.depth": [1, 3], "data.noise": ["gaussian", "outliers"]}, "seeds": [0, 1]}})
    # base (depth 3, gaussian) + depth=1 + noise=outliers; values equal to base are not repeated
    assert sorted(exps) == sorted(f"{p}_s{s}" for p in ("base", "model.depth=1", "data.noise=outliers") for s in (0, 1))
    assert exps["model.depth=1_s1"]["model"]["depth"] == 1 and exps["model.depth=1_s1"]["seed"] == 1
    assert exps["data.noise=outliers_s0"]["model"]["depth"] == 3
    assert exps["model.depth=1_s0"]["sweep_axis"] == "model.depth"
    assert exps["model.depth=1_s0"]["sweep_values"] == {"model.depth": 1, "data.noise": "gaussian"}


def test_grid_sweep_is_a_cartesian_product_sharing_jobs():
    exps = resolve_experiments(
        {"sweep": {"mode": "grid", "axes": {"model.activation": ["relu", "tanh"], "samplers.sgld.step_size": [1e-5, 2e-5, 3e-5]}}}
    )
    assert len(exps) == 6
    plan = build_plan(exps)
    assert len(plan.data) == 1 and len(plan.erm) == 2
    assert sum(r.startswith("sgld") for r in plan.runs) == 6 and sum(r.startswith("hmc") for r in plan.runs) == 2


def test_sweep_yaml_reproduces_the_original_sweep_space():
    exps = resolve_experiments(yaml.safe_load((ROOT / "config/sweep.yaml").read_text()))
    axes = {e["sweep_axis"] for e in exps.values()}
    assert axes == {"base", "model.depth", "model.widths", "model.activation", "data.x_dist", "data.noise"}
    assert {e["seed"] for e in exps.values()} == {0, 1, 2}
