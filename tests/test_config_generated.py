"""Generated malformed configs: for every leaf of config/config.yaml, a value of the
wrong kind, NaN, +inf and -1 (numbers only: every numeric setting must be >= 0), each
written as a user's own ``--configfile`` and checked as the Snakefile checks it
(``llcbench.config.check_config`` on Snakemake's merge of the files). Each must be
rejected with one line ``config error at <its key path>: ...; allowed: ...``. A
sample of the cases also goes through the real CLI (``snakemake -n``): exit 1, that
line, no traceback, no job (tests/test_config_catalogue.py has the hand-written cases)."""

import math

import pytest
import yaml

from conftest import ROOT, snakemake
from llcbench.config import ConfigError, check_config, load_schema
from test_config_catalogue import SNAKEMAKE_NOTICES, snakemake_config

SCHEMA = load_schema()
# config/config.yaml spells out base and compile_cache; health's defaults live in the schema only
DEFAULTS = {
    **yaml.safe_load((ROOT / "config/config.yaml").read_text()),
    "health": {k: v["default"] for k, v in SCHEMA["properties"]["health"]["properties"].items()},
}


def leaves(d, prefix=()):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from leaves(v, (*prefix, k))
        else:
            yield (*prefix, k), v


def wrong_kind(value):
    """A value of another JSON kind than ``value``'s (and of no kind its key accepts)."""
    if isinstance(value, bool):
        return "maybe"
    if isinstance(value, (int, float)):
        return "many"
    if isinstance(value, str):
        return {"not": "a string"}
    if isinstance(value, list):
        return {"not": "a list"}
    return {"not": "null"}  # nullable settings take a number, a string or a list, never a mapping


def nested(path, value):
    for key in reversed(path):
        value = {key: value}
    return value


def cases():
    out = []
    for path, value in leaves(DEFAULTS):
        out.append((path, "kind", wrong_kind(value)))
        if isinstance(value, (int, float)) and not isinstance(value, bool) or value is None and path[-1] in NULLABLE_NUMBERS:
            out += [(path, "nan", math.nan), (path, "inf", math.inf), (path, "minus-one", -1)]
    return out


# Nullable settings whose non-null values are numbers: NaN, inf and -1 must be rejected there too.
NULLABLE_NUMBERS = {"rank", "target_params", "beta", "prior_radius", "batch_size"}
CASES = cases()
IDS = [f"{'.'.join(p)}-{kind}" for p, kind, _ in CASES]


def write(tmp_path, path, value):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(nested(path, value)))  # PyYAML writes NaN and infinities as .nan, .inf
    return bad


def test_every_leaf_gets_every_applicable_case():
    numeric = [p for p, v in leaves(DEFAULTS) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert len(numeric) > 50 and len(CASES) >= len(list(leaves(DEFAULTS))) + 3 * len(numeric)


@pytest.mark.parametrize("path,kind,value", CASES, ids=IDS)
def test_generated_bad_value_is_rejected_naming_its_key(tmp_path, path, kind, value):
    bad = write(tmp_path, path, value)
    with pytest.raises(ConfigError) as err:
        check_config(snakemake_config(bad), [bad])
    msg = str(err.value)
    key = ".".join(path)
    # the message names the key (a list's element or the key itself) and what is allowed, on one line
    assert msg.startswith(f"config error at {key}") and "; allowed" in msg and "\n" not in msg, msg


CLI_SAMPLE = [
    "base.samplers.sgld.step_size-nan",
    "base.data.noise_sd-inf",
    "base.samplers.hmc.chains-minus-one",
    "base.model.widths-kind",
    "health.ess_min-nan",
    "compile_cache-kind",
]


@pytest.mark.parametrize("case", CLI_SAMPLE)
def test_cli_rejects_a_sample_of_them_in_one_line(tmp_path, case):
    path, kind, value = CASES[IDS.index(case)]
    bad = write(tmp_path, path, value)
    res = snakemake(tmp_path / "wd", "-n", "--cores", "1", "--configfile", str(bad), snakefile=ROOT / "Snakefile")
    lines = [line for line in res.stderr.splitlines() if not line.startswith(SNAKEMAKE_NOTICES)]
    assert res.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"config error at {'.'.join(path)}"), res.stderr
    assert "Traceback" not in res.stdout + res.stderr and not (tmp_path / "wd/results").exists()


def test_non_finite_numbers_in_sweeps_experiments_and_command_line_overrides(tmp_path):
    for text, key in [
        ("sweep:\n  axes: {samplers.sgld.step_size: [1.0e-5, .nan]}\n", "sweep.axes.samplers.sgld.step_size.1"),
        ("experiments:\n  a: {posterior: {gamma: .inf}}\n", "experiments.a.posterior.gamma"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=rf"^config error at {key}: (nan|inf) is not a finite number"):
            check_config(snakemake_config(bad), [bad])
    # --config values arrive as strings; ".nan" must not slip through as a number
    res = snakemake(
        tmp_path / "wd",
        "-n",
        "--cores",
        "1",
        "--config",
        'base={"samplers": {"sgld": {"step_size": ".nan"}}}',
        snakefile=ROOT / "Snakefile",
    )
    assert res.returncode == 1 and "config error at base.samplers.sgld.step_size: nan is not a finite number" in res.stderr, res.stderr
