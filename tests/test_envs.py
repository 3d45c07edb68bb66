"""envs/llcbench.yaml (for --sdm conda) pins the same versions as uv.lock."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_conda_env_pins_every_direct_dependency_at_its_locked_version():
    locked = {_norm(p["name"]): p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    direct = [
        re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    env = yaml.safe_load((ROOT / "envs/llcbench.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for line in pip:
        m = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)$", line)
        if m:
            pins[_norm(m.group(1))] = m.group(3)
    assert {_norm(d) for d in direct} == set(pins)
    for name, version in pins.items():
        assert locked[name] == version, f"{name}: env pins {version}, uv.lock has {locked[name]}"
    assert "python=3.12" in env["dependencies"]
