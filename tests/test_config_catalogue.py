"""Catalogue of malformed configs: each is rejected before any job starts, with exit
code != 0 and one line `config error at <key path>: ...; allowed: ...`.

Every case in CATALOGUE runs through `llcbench.config.check_config`, the function the
Snakefile calls, on the config Snakemake builds (config/config.yaml with the case
merged over it by Snakemake's own loader, as `--configfile` does): 50 cases in ~5 s.
One CLI call costs ~2.5 s on an idle machine and up to 10 s on a loaded 2-core one
(all 50 would take 2 to 8 minutes), so only the 4 cases in CLI_CASES also run
through the real CLI (`snakemake -n --configfile bad.yaml --directory <tmp>`), which
checks that the same line is what the user sees. Two malformations never reach our
code, because Snakemake rejects them while reading `--configfile`: YAML that does
not parse and a top level that is not a mapping (CLI only; Snakemake's message is
not ours and does not name the file, so `python -m llcbench.config FILE` is the
documented way to find the line).
"""

import pytest
import yaml
from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from conftest import ROOT, snakemake
from llcbench.config import ConfigError, check_config, main

DEFAULTS = ROOT / "config/config.yaml"
SGLD = "base:\n  samplers:\n    sgld: {%s}\n"
ALL_SAMPLERS = "sgld, hmc, mclmc, adjusted_mclmc, sghmc, sgnht"

# (id, YAML text, key path the message must name, text (or texts) its "allowed" part holds)
CATALOGUE = [
    # unknown keys, at every level
    ("unknown-top", "resuls: x\n", "<top level>", ("allowed keys: ", "base", "experiments", "sweep")),
    ("unknown-base", "base:\n  modle: {}\n", "base", ("allowed keys: ", "data", "model", "samplers")),
    ("unknown-data", "base:\n  data: {nn: 64}\n", "base.data", ("allowed keys: ", "in_dim", "x_dist")),
    ("unknown-teacher", "base:\n  data:\n    teacher: {width: [4]}\n", "base.data.teacher", ("allowed keys: ", "depth", "widths")),
    ("unknown-model", "base:\n  model: {width: [8]}\n", "base.model", ("allowed keys: ", "depth", "widths")),
    ("unknown-sampler-key", SGLD % "stepsize: 1.0e-5", "base.samplers.sgld", "step_size"),
    (
        "unknown-sampler-block",
        "experiments:\n  a:\n    samplers: {sgdl: {}}\n",
        "experiments.a.samplers",
        ("allowed keys: ", "hmc", "sgld"),
    ),
    ("unknown-sweep", "sweep:\n  axes: {model.depth: [1]}\n  mod: grid\n", "sweep", ("allowed keys: ", "axes", "mode")),
    ("unknown-health", "health: {rhat: 1.1}\n", "health", ("allowed keys: ", "ess_min", "rhat_max")),
    ("unknown-experiment-key", "experiments:\n  a: {modle: {}}\n", "experiments.a", ("allowed keys: ", "data", "model")),
    # wrong types
    ("type-steps", SGLD % "steps: many", "base.samplers.sgld.steps", "allowed: integer"),
    ("type-widths", "base:\n  model: {widths: 8}\n", "base.model.widths", "allowed: null or a list of integers >= 1"),
    ("type-experiments", "experiments: [a, b]\n", "experiments", "allowed: object"),
    ("type-experiment", "experiments:\n  a: 3\n", "experiments.a", "allowed: object"),
    ("type-run-samplers", "base: {run_samplers: sgld}\n", "base.run_samplers", "allowed: array"),
    ("type-boolean", SGLD % "bias_correction: maybe", "base.samplers.sgld.bias_correction", "allowed: boolean"),
    # out-of-range numbers and unknown values
    ("range-step-size", SGLD % "step_size: -1", "base.samplers.sgld.step_size", "allowed: a number > 0 or auto"),
    ("word-step-size", SGLD % "step_size: fast", "base.samplers.sgld.step_size", "allowed: a number > 0 or auto"),
    ("range-chains", "base:\n  samplers:\n    hmc: {chains: 0}\n", "base.samplers.hmc.chains", "allowed: values >= 1"),
    (
        "range-target-accept",
        "base:\n  samplers:\n    hmc: {target_accept: 1.5}\n",
        "base.samplers.hmc.target_accept",
        "allowed: values < 1",
    ),
    ("range-n", "base:\n  data: {n: 1}\n", "base.data.n", "allowed: values >= 2"),
    (
        "range-prior-radius-zero",
        "base:\n  posterior: {gamma: null, prior_radius: 0}\n",
        "base.posterior.prior_radius",
        "allowed: values > 0",
    ),
    ("range-rhat-max", "health: {rhat_max: 0.5}\n", "health.rhat_max", "allowed: values >= 1"),
    ("enum-activation", "base:\n  model: {activation: sigmoid}\n", "base.model.activation", "allowed: relu, tanh, gelu, identity"),
    (
        "enum-x-dist",
        "base:\n  data: {x_dist: uniform}\n",
        "base.data.x_dist",
        "allowed: isotropic, anisotropic, mixture, low_dim, heavy_tailed",
    ),
    ("enum-noise", "base:\n  data: {noise: laplace}\n", "base.data.noise", "allowed: gaussian, heteroscedastic, student_t, outliers"),
    ("unknown-sampler-name", "base: {run_samplers: [sgld, nuts]}\n", "base.run_samplers.1", f"allowed: {ALL_SAMPLERS}"),
    ("experiment-name", "experiments:\n  'a b': {}\n", "experiments", "allowed: names matching"),
    ("no-experiments", "experiments: {}\n", "experiments", "allowed: at least 1 entries"),
    # sweeps
    ("sweep-no-axes", "sweep: {mode: grid}\n", "sweep", "allowed: a mapping that includes axes"),
    ("sweep-empty-axes", "sweep: {axes: {}}\n", "sweep.axes", "allowed: at least 1 entries"),
    ("sweep-empty-values", "sweep:\n  axes: {model.depth: []}\n", "sweep.axes.model.depth", "allowed: at least 1 entries"),
    ("sweep-repeated-value", "sweep:\n  axes: {model.depth: [1, 1]}\n", "sweep.axes.model.depth", "allowed: distinct values"),
    ("sweep-repeated-seed", "sweep:\n  axes: {model.depth: [1]}\n  seeds: [0, 0]\n", "sweep.seeds", "allowed: distinct values"),
    ("sweep-mode", "sweep:\n  axes: {model.depth: [1]}\n  mode: random\n", "sweep.mode", "allowed: one_at_a_time, grid"),
    ("sweep-unknown-axis", "sweep:\n  axes: {model.dpth: [1]}\n", "sweep.axes.model.dpth", "allowed: model.depth"),
    (
        "sweep-bad-value",
        "sweep:\n  axes: {samplers.sgld.step_size: [-1]}\n",
        "sweep[samplers.sgld.step_size=-1_s0].samplers.sgld.step_size",
        "allowed: a number > 0 or auto",
    ),
    (
        "sweep-name-clash",
        "experiments: {base_s0: {}}\nsweep:\n  axes: {model.depth: [1]}\n",
        "experiments.base_s0",
        "allowed: any other name",
    ),
    # duplicate keys (YAML loaders silently keep the last)
    ("duplicate-experiment", "experiments:\n  a: {}\n  a: {seed: 1}\n", "experiments.a", "allowed: each key once per mapping"),
    (
        "duplicate-nested-key",
        SGLD % "step_size: 1.0e-5, step_size: 2.0e-5",
        "base.samplers.sgld.step_size",
        "allowed: each key once per mapping",
    ),
    # constraints between keys, on every resolved experiment
    (
        "cross-widths-vs-depth",
        "base:\n  model: {depth: 2, widths: [4, 4, 4]}\n",
        "base.model.widths",
        "allowed: a list of 2 (model.depth) integers",
    ),
    (
        "cross-teacher-widths",
        "base:\n  data:\n    teacher: {depth: 1, widths: [4, 4]}\n",
        "base.data.teacher.widths",
        "allowed: a list of 1",
    ),
    (
        "cross-manifold-vs-in-dim",
        "base:\n  data: {x_dist: low_dim, in_dim: 4, manifold_dim: 8}\n",
        "base.data.manifold_dim",
        "allowed: 1..4",
    ),
    (
        "cross-training-batch",
        "base:\n  data: {n: 100}\n  training: {batch_size: 101}\n",
        "base.training.batch_size",
        "allowed: 1..100 or null",
    ),
    (
        "cross-sampler-batch",
        "base:\n  data: {n: 100}\n  samplers:\n    sgld: {batch_size: 101}\n",
        "base.samplers.sgld.batch_size",
        "allowed: 1..100",
    ),
    ("cross-burn-in", SGLD % "steps: 100, burn_in: 100", "base.samplers.sgld.burn_in", "allowed: 0..steps − 2 = 98"),
    ("cross-draws", SGLD % "steps: 100, burn_in: 0, eval_every: 60", "base.samplers.sgld.eval_every", "allowed: 1..50"),
    ("cross-auto-adam", SGLD % "step_size: auto, precond: adam", "base.samplers.sgld.step_size", "precond: none | rmsprop"),
    (
        "cross-no-localisation",
        "base:\n  posterior: {gamma: null, prior_radius: null}\n",
        "base.posterior",
        "allowed: a number >= 0 for gamma",
    ),
    ("cross-radius-ignored", "base:\n  posterior: {prior_radius: 5}\n", "base.posterior.prior_radius", "set gamma: null"),
    (
        "cross-in-experiment",
        "experiments:\n  a:\n    samplers:\n      hmc: {steps: 10, burn_in: 9}\n",
        "experiments.a.samplers.hmc.burn_in",
        "allowed: 0..steps − 2 = 8",
    ),
    ("cross-in-sweep", "sweep:\n  axes: {data.n: [64]}\n", "sweep[data.n=64_s0].samplers.sgld.batch_size", "allowed: 1..64"),
]
CLI_CASES = ["unknown-top", "unknown-sampler-name", "duplicate-experiment", "cross-in-sweep"]
# Lines Snakemake itself prints before it reads the Snakefile.
SNAKEMAKE_NOTICES = ("Using workflow specific profile", "Creating specified working directory", "Config file ")


def snakemake_config(path):
    """The config Snakemake hands the Snakefile for `--configfile path`."""
    config = load_configfile(DEFAULTS)
    update_config(config, load_configfile(path))
    return config


def expected_error(tmp_path, text) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        check_config(snakemake_config(path), [path, DEFAULTS])
    return str(err.value)


def test_catalogue_is_large_and_names_are_unique():
    assert len(CATALOGUE) >= 25 and len({c[0] for c in CATALOGUE}) == len(CATALOGUE)
    assert set(CLI_CASES) <= {c[0] for c in CATALOGUE}


@pytest.mark.parametrize("text,path,allowed", [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_rejected_naming_key_path_and_allowed_values(tmp_path, text, path, allowed):
    msg = expected_error(tmp_path, text)
    assert msg.startswith(f"config error at {path}: "), msg
    assert "; allowed" in msg, msg
    for words in (allowed,) if isinstance(allowed, str) else allowed:
        assert words in msg[msg.index("; allowed") :], msg
    assert "\n" not in msg


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_prints_the_same_line_first_and_starts_no_job(tmp_path, case):
    text = next(c[1] for c in CATALOGUE if c[0] == case)
    expected = expected_error(tmp_path, text)
    res = snakemake(tmp_path / "wd", "-n", "--cores", "1", "--configfile", str(tmp_path / "bad.yaml"), snakefile=ROOT / "Snakefile")
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if not line.startswith(SNAKEMAKE_NOTICES)]
    assert lines == [expected], res.stderr
    assert "Job stats" not in res.stdout and "Traceback" not in res.stdout and not (tmp_path / "wd/results").exists()


@pytest.mark.parametrize(
    "text,message",
    [
        ("base:\n  model: {depth: [\n", "Config file is not valid JSON or YAML"),
        ("- a\n- b\n", "Config file must be given as JSON or YAML with keys at top level"),
    ],
    ids=["yaml-syntax", "not-a-mapping"],
)
def test_snakemake_rejects_unreadable_files_without_a_traceback(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    res = snakemake(tmp_path / "wd", "-n", "--cores", "1", "--configfile", str(bad), snakefile=ROOT / "Snakefile")
    assert res.returncode != 0 and message in res.stdout  # Snakemake prints its errors on stdout
    assert "Traceback" not in res.stdout + res.stderr and not (tmp_path / "wd").exists()


def test_offline_checker_names_file_and_line_of_a_yaml_syntax_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base:\n  model: {depth: 2\n  data: {}\n")
    assert main([str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"config error at {bad} line 3, column ") and ": not valid YAML (" in err and "; allowed: " in err
    assert main([str(ROOT / "tests/configs/tiny.yaml")]) == 0
    assert "config ok: 2 experiment(s)" in capsys.readouterr().out


def test_every_shipped_config_file_is_free_of_duplicate_keys():
    files = [DEFAULTS, ROOT / "config/sweep.yaml", *ROOT.glob("config/presets/*.yaml"), *ROOT.glob("tests/configs/*.yaml")]
    for path in files:
        yaml.safe_load(path.read_text())
        check_config({}, [path])  # raises on a duplicate key
