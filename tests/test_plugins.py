"""Samplers as plug-ins.

1. Adding a sampler to the package is its module, its schema block and its config block,
   nothing else: in a workflow copy, SGLD's three are copied under the name ``langevin``
   (a snapshot of every file proves nothing else changed), and a tiny run gives it a CSV
   row, every per-run figure, a summary.md and its per-draw statistic (MALA acceptance);
   editing its module re-runs exactly its jobs.
2. A sampler from outside the package (``samplers.<name>.module``): the example
   examples/cyclical_sgld.py runs beside SGLD in the same tiny run, and its source is part of
   its run ID; dotted modules work too.
3. Bad plug-ins (no such module, no contract, a non-literal SPEC, settings the module's schema
   rejects) are one-line config errors naming the key, before any job starts.

One workflow run (tests/configs/plugin_tiny.yaml, module fixture ``run``) serves 1 and 2.
Jobs import the package of the copy they run in (PYTHONPATH = <copy>/src), as the copy's
own environment would: the copy's new module and schema are what the workflow must see.
"""

import contextlib
import hashlib
import math
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import jax
import pandas as pd
import pytest
import yaml
from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from conftest import ROOT, copy_of_tiny_run, job_counts, job_outputs, snakemake
from test_workflow import check_run_figures
from llcbench import samplers
from llcbench.config import ConfigError, check_config
from llcbench.plan import build_plan

CONFIG = ROOT / "tests/configs/plugin_tiny.yaml"
EXAMPLE = ROOT / "examples/cyclical_sgld.py"
NEW = "langevin"  # SGLD copied under a new name
SCHEMA = "workflow/schemas/config.schema.yaml"
DEFAULTS = "config/config.yaml"
NEW_MODULE = f"src/llcbench/samplers/{NEW}.py"
# Lines Snakemake itself prints before it reads the Snakefile.
SNAKEMAKE_NOTICES = ("Using workflow specific profile", "Creating specified working directory", "Config file ")


def snakemake_in(wd, *args):
    """The snakemake CLI in the workflow copy ``wd``, importing the copy's own package. The
    time limit only guards against a hang: a loaded 2-core machine needs minutes for a run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(wd / "src"), os.environ.get("PYTHONPATH")])))
        return snakemake(wd, *args, timeout=1800)


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root``."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def duplicated_block(lines: list[str], start: int, end: int, old: str, new: str) -> list[str]:
    """``lines`` with lines[start:end] repeated after themselves, the first key ``old:`` renamed ``new:``."""
    block = lines[start:end]
    return lines[:end] + [block[0].replace(f"{old}:", f"{new}:", 1), *block[1:]] + lines[end:]


def add_sampler_like_sgld(wd: Path, new: str) -> None:
    """What a developer does to add a sampler: copy SGLD's module (renaming its quoted
    name, if any), its schema block and its config block under the name ``new``."""
    src = wd / "src/llcbench/samplers/sgld.py"
    (wd / f"src/llcbench/samplers/{new}.py").write_text(src.read_text().replace('"sgld"', f'"{new}"').replace("'sgld'", f"'{new}'"))

    schema = (wd / SCHEMA).read_text().splitlines(keepends=True)
    starts = [i for i, line in enumerate(schema) if line == "      sgld:\n"]
    assert len(starts) == 1, "SGLD's block under samplers: properties: in the schema"
    end = starts[0] + 1
    while end < len(schema) and (not schema[end].strip() or len(schema[end]) - len(schema[end].lstrip()) > 6):
        end += 1
    (wd / SCHEMA).write_text("".join(duplicated_block(schema, starts[0], end, "sgld", new)))

    config = (wd / DEFAULTS).read_text().splitlines(keepends=True)
    starts = [i for i, line in enumerate(config) if line.startswith("    sgld: {")]
    assert len(starts) == 1, "SGLD's block under base: samplers: in config/config.yaml"
    end, depth = starts[0], 0
    while True:  # the flow mapping may span lines
        depth += config[end].count("{") - config[end].count("}")
        end += 1
        if depth == 0:
            break
    (wd / DEFAULTS).write_text("".join(duplicated_block(config, starts[0], end, "sgld", new)))


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_run):
    """The workflow copy with ``langevin`` added, after one run of plugin_tiny.yaml. The copy is
    of the finished tiny run: its data, w* and SGLD run are plugin_tiny.yaml's, not made again."""
    wd = copy_of_tiny_run(tmp_path_factory, tmp_path_factory.mktemp("plugins") / "wf")
    if not (wd / "examples").exists():  # the plug-in's path in plugin_tiny.yaml is relative to the working directory
        shutil.copytree(ROOT / "examples", wd / "examples")
    before = snapshot(wd)
    add_sampler_like_sgld(wd, NEW)
    after = snapshot(wd)
    res = snakemake_in(wd, "--cores", "2", "--configfile", str(CONFIG))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = pd.read_csv(wd / "results/llc_sweep_results.csv")
    return SimpleNamespace(wd=wd, before=before, after=after, res=res, table=table)


def row(table: pd.DataFrame, experiment: str, sampler: str) -> pd.Series:
    rows = table[(table.experiment == experiment) & (table.sampler == sampler)]
    assert len(rows) == 1, table[["experiment", "sampler"]]
    return rows.iloc[0]


@contextlib.contextmanager
def edited(path: Path):
    """``path`` with a comment appended and its mtime a minute ahead, restored after.
    (Snakemake ignores an input that is newer but unchanged, so a bare touch would prove nothing.)"""
    text, stat = path.read_text(), path.stat()
    path.write_text(text + "\n# an edit\n")
    os.utime(path, (stat.st_atime, time.time() + 60))
    try:
        yield
    finally:
        path.write_text(text)
        os.utime(path, (stat.st_atime, stat.st_mtime))


# 1. A sampler added to the package ------------------------------------------------------------


def test_adding_a_sampler_touches_only_its_module_schema_and_config_blocks(run):
    assert set(run.after) - set(run.before) == {NEW_MODULE}
    assert set(run.before) - set(run.after) == set()
    assert {p for p in run.before if run.before[p] != run.after[p]} == {SCHEMA, DEFAULTS}
    # the copies are SGLD's blocks under the new name, added, nothing else edited
    schema = yaml.safe_load((run.wd / SCHEMA).read_text())["$defs"]["samplers"]["properties"]
    assert schema[NEW] == schema["sgld"]
    defaults = yaml.safe_load((run.wd / DEFAULTS).read_text())["base"]["samplers"]
    assert defaults[NEW] == defaults["sgld"]


def test_new_sampler_gets_a_row_figures_summary_and_its_statistic(run, tmp_path):
    r = row(run.table, "accept", NEW)
    assert math.isfinite(r.llc) and r.llc > 0 and r.status == "ok", r
    assert 0 < r.mala_accept_mean <= 1
    # the same code, settings and seed as the built-in SGLD row: the same draws
    assert r.llc == pytest.approx(row(run.table, "plugin", "sgld").llc, rel=1e-6)
    run_dir = run.wd / "results/runs" / r.run_id
    assert r.run_id.startswith(f"{NEW}-")
    # every figure there and not blank; those of its llc.nc, draws and statistic redrawn, inspected
    # and compared with the workflow's PNGs pixel for pixel (the code every sampler shares is
    # checked on the tiny run in test_workflow.py)
    check_run_figures(run_dir, NEW, ["mala_accept"], tmp_path, ["llc_running", "L_trace", "mala_accept"])
    summary = (run_dir / "summary.md").read_text()
    assert "mala_accept_mean" in summary and r.run_id in summary


def test_editing_the_new_module_reruns_exactly_its_jobs(run):
    with edited(run.wd / NEW_MODULE):
        res = snakemake_in(run.wd, "-n", "--cores", "1", "--configfile", str(CONFIG))
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout + res.stderr
    assert job_counts(out) == {
        "sample": 1,
        "llc": 1,
        f"plot_run_{NEW}": 1,
        "aggregate": 1,
        "scoreboard": 1,
        "plot_scoreboard": 1,
        "plot_sweep": 1,
        "all": 1,
    }
    assert job_outputs(out, "sample") == [f"results/runs/{row(run.table, 'accept', NEW).run_id}/trace.nc"]


# 2. A sampler from outside the package ---------------------------------------------------------


def test_example_plugin_runs_beside_sgld(run, tmp_path):
    sgld, cyclic = row(run.table, "plugin", "sgld"), row(run.table, "plugin", "cyclic")
    for r in (sgld, cyclic):
        assert math.isfinite(r.llc) and r.llc > 0 and r.status == "ok", r
    # both sample the same posterior: λ̂ agree within their errors and SGLD's discretisation bias
    assert abs(cyclic.llc - sgld.llc) < 4 * math.hypot(cyclic.llc_se, sgld.llc_se) + 0.2 * sgld.llc
    # its per-step statistic: the mean of h/2·(cos + 1) over whole cycles is h/2 (h = 2e-4)
    assert cyclic.step_size_mean == pytest.approx(1.0e-4, rel=0.05)
    assert sgld.step_size_mean == pytest.approx(1.0e-4) and math.isnan(cyclic.mala_accept_mean)  # SGLD's fixed h
    # one minibatch gradient per step: 2400 steps x 2 chains x 64/256
    assert cyclic.grad_evals_fde == pytest.approx(1200, rel=1e-4)
    run_dir = run.wd / "results/runs" / cyclic.run_id
    check_run_figures(run_dir, "cyclic", ["step_size"], tmp_path, ["llc_running", "L_trace", "step_size"])  # as above
    assert "step_size_mean" in (run_dir / "summary.md").read_text()


def plugin_plan():
    """The plan of plugin_tiny.yaml's ``plugin`` experiment (built-ins and the example only),
    resolved in the working directory as the Snakefile resolves it."""
    config = load_configfile(ROOT / DEFAULTS)
    override = load_configfile(CONFIG)
    del override["experiments"]["accept"]  # langevin exists in the workflow copy only
    update_config(config, override)
    return build_plan(check_config(config).experiments)


def test_plugin_source_is_part_of_its_run_id(run, monkeypatch):
    monkeypatch.chdir(run.wd)  # module paths are relative to the working directory
    module = run.wd / "examples/cyclical_sgld.py"
    plan = plugin_plan()
    ids = plan.experiments["plugin"]["runs"]
    assert ids == {s: row(run.table, "plugin", s).run_id for s in ("sgld", "cyclic")}  # what the workflow ran
    assert plan.runs[ids["cyclic"]]["sampler_settings"]["source_sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()
    with edited(module):
        edited_ids = plugin_plan().experiments["plugin"]["runs"]
    assert edited_ids["sgld"] == ids["sgld"] and edited_ids["cyclic"] != ids["cyclic"]
    assert plugin_plan().experiments["plugin"]["runs"] == ids  # restored: the same run again


def test_example_plugin_recovers_quadratic_learning_coefficient(quadratic):
    from llcbench import llc
    from llcbench.samplers.driver import run_chains

    post, exact = quadratic
    s = {
        "module": str(EXAMPLE),
        "chains": 4,
        "steps": 15_000,
        "burn_in": 1_000,
        "eval_every": 10,
        "dtype": "float32",
        "step_size": 2e-5,
        "cycle_length": 1_000,
        "batch_size": 200,
    }
    spec, algorithm = samplers.instantiate("cyclic", s)
    trace = run_chains(
        "cyclic",
        algorithm,
        spec,
        post,
        jax.random.key(1),
        chains=4,
        steps=s["steps"],
        burn_in=s["burn_in"],
        eval_every=s["eval_every"],
        loss_star=0.0,
        projection_seed=0,
    )
    est = llc.estimate(trace.loss, 0.0, post.nbeta)
    assert est.chains_diverged == 0 and est.rhat < 1.05
    # as tests/test_samplers_quadratic.py: 4 SE plus 3% for the discretisation bias
    assert abs(est.llc - exact) < 4 * est.llc_se + 0.03 * exact, f"{est.llc:.3f} ± {est.llc_se:.3f} vs {exact:.3f}"
    assert trace.grads_sampling == pytest.approx(4 * 15_000 * 200 / post.n, rel=1e-3)
    # draws span 14 whole cycles: the mean step is h·(1/2 + 1/(2K)), h·(cos(πk/K) + 1)/2 averaged over k < K
    assert trace.stats["step_size"].mean() == pytest.approx(s["step_size"] * (0.5 + 0.5 / s["cycle_length"]), rel=1e-4)


def test_dotted_module_is_imported_and_validated(tmp_path, monkeypatch):
    (tmp_path / "my_pkg").mkdir()
    (tmp_path / "my_pkg/__init__.py").write_text("")
    shutil.copy(EXAMPLE, tmp_path / "my_pkg/my_sampler.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    checked = check_config(merged(base={"run_samplers": ["mine"], "samplers": {"mine": {"module": "my_pkg.my_sampler", **CHAIN}}}))
    assert checked.samplers["mine"].file.resolve() == (tmp_path / "my_pkg/my_sampler.py").resolve()
    assert [s.name for s in checked.samplers["mine"].spec.stats] == ["step_size"]
    settings = checked.experiments["default"]["samplers"]["mine"]
    assert settings["cycle_length"] == 1000 and settings["batch_size"] == 256  # the module's schema defaults
    spec, algorithm = samplers.instantiate("mine", settings)
    assert spec == checked.samplers["mine"].spec and algorithm.tune is None


def test_chain_settings_default_to_the_modules_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE, tmp_path / "mine.py")
    settings = check_config(merged(base={"run_samplers": ["mine"], "samplers": {"mine": {"module": "mine.py"}}})).experiments["default"]
    assert {k: settings["samplers"]["mine"][k] for k in samplers.CHAIN_SETTINGS} == {
        "chains": 4,
        "steps": 20000,
        "burn_in": 5000,
        "eval_every": 20,
        "dtype": "float32",
    }


OVERRIDE_IN = {
    "experiment": {"experiments": {"a": {}, "b": {"samplers": {"mine": {"step_size": 3.0e-5}}}}},
    "sweep": {"sweep": {"axes": {"samplers.mine.step_size": [1.0e-5, 3.0e-5]}}},
}


@pytest.mark.parametrize("where", list(OVERRIDE_IN))
def test_plugin_settings_are_overridden_like_a_builtins(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    shutil.copy(EXAMPLE, tmp_path / "mine.py")
    config = merged(base={"run_samplers": ["mine"], "samplers": {"mine": {"module": "mine.py", **CHAIN}}}, **OVERRIDE_IN[where])
    experiments = check_config(config).experiments
    assert sorted(e["samplers"]["mine"]["step_size"] for e in experiments.values())[-1] == 3.0e-5


# 3. Rejections -----------------------------------------------------------------------------------

CHAIN = {"chains": 2, "steps": 600, "burn_in": 100, "eval_every": 5, "dtype": "float32"}


def merged(**override) -> dict:
    """config/config.yaml with ``override`` merged over it, as `--configfile` does."""
    config = load_configfile(ROOT / DEFAULTS)
    update_config(config, override)
    return config


def variant(pattern: str, replacement: str, flags=0) -> str:
    """The example's source with ``pattern`` replaced (it must occur)."""
    text, n = re.subn(pattern, replacement, EXAMPLE.read_text(), flags=flags)
    assert n, pattern
    return text


MODULES = {  # file name -> source, in the working directory of each case
    "good.py": EXAMPLE.read_text(),
    "no_spec.py": variant(r"^SPEC = ", "DECLARATION = ", re.M),
    "no_build.py": variant(r"^def build\(", "def make(", re.M),
    "non_literal.py": variant(r"minibatch=True,", "minibatch=MINIBATCH,").replace("\nSPEC = ", "\nMINIBATCH = True\nSPEC = "),
    "no_schema.py": variant(r"    settings_schema=\{.*?\n    \},\n", "", re.S),
    "extra_parameter.py": variant(r"batch_size: int\) -> Algorithm", "batch_size: int, warmup: int) -> Algorithm"),
}


def plugin(module="good.py", **settings) -> dict:
    return {"base": {"run_samplers": ["sgld", "mine"], "samplers": {"mine": {"module": module, **CHAIN, **settings}}}}


REJECTED = [  # (id, config override, key path the message names, text the message holds)
    ("missing-file", plugin("plugins/missing.py"), "base.samplers.mine.module", "cannot use 'plugins/missing.py' (no file "),
    ("missing-module", plugin("no_such_pkg.sampler"), "base.samplers.mine.module", "No module named 'no_such_pkg'"),
    ("not-a-name", plugin(3), "base.samplers.mine.module", "3 is not a module name"),
    ("no-module-key", {"base": {"samplers": {"mine": dict(CHAIN)}}}, "base.samplers", "a block with a module key"),
    ("no-spec", plugin("no_spec.py"), "base.samplers.mine.module", "no module-level SPEC = SamplerSpec(...)"),
    ("no-build", plugin("no_build.py"), "base.samplers.mine.module", "defines no build(**settings) function"),
    ("non-literal-spec", plugin("non_literal.py"), "base.samplers.mine.module", "must use literals, SamplerSpec and Stat only"),
    ("no-settings-schema", plugin("no_schema.py"), "base.samplers.mine.module", "declares no settings_schema"),
    (
        "build-mismatch",
        plugin("extra_parameter.py"),
        "base.samplers.mine.module",
        "takes ['batch_size', 'cycle_length', 'step_size', 'warmup']",
    ),
    ("negative-step-size", plugin(step_size=-1.0e-4), "base.samplers.mine.step_size", "allowed: values > 0"),
    ("wrong-type", plugin(cycle_length="long"), "base.samplers.mine.cycle_length", "allowed: integer"),
    ("chain-setting", plugin(chains=0), "base.samplers.mine.chains", "allowed: values >= 1"),
    ("unknown-setting", plugin(stepsize=1.0e-4), "base.samplers.mine", "unknown key 'stepsize'; allowed keys: batch_size, burn_in"),
    ("cross-check", plugin(batch_size=10**6), "base.samplers.mine.batch_size", "exceeds data.n"),
    ("undeclared", {"base": {"run_samplers": ["sgld", "mine"]}}, "base.run_samplers.1", "unknown sampler 'mine'"),
    (
        "in-experiment",
        {"experiments": {"a": {"run_samplers": ["mine"], "samplers": {"mine": {"module": "good.py", **CHAIN, "step_size": 0}}}}},
        "experiments.a.samplers.mine.step_size",
        "allowed: values > 0",
    ),
]


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A working directory holding the good and the broken plug-in modules."""
    for name, text in MODULES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_good_plugin_module_is_accepted(plugin_dir):
    checked = check_config(merged(**plugin()))
    assert list(checked.experiments["default"]["run_samplers"]) == ["sgld", "mine"]
    assert checked.samplers["mine"].module == "good.py"


@pytest.mark.parametrize("override,path,words", [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_bad_plugin_is_one_line_naming_the_key(plugin_dir, override, path, words):
    with pytest.raises(ConfigError) as err:
        check_config(merged(**override))
    msg = str(err.value)
    assert msg.startswith(f"config error at {path}: "), msg
    assert words in msg and "; allowed" in msg and "\n" not in msg, msg


def test_cli_rejects_a_bad_plugin_setting_before_any_job(tmp_path):
    wd = tmp_path / "wd"
    (wd / "plugins").mkdir(parents=True)
    shutil.copy(EXAMPLE, wd / "plugins/cyclic.py")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "base": {
                    "run_samplers": ["sgld", "cyclic"],
                    "samplers": {"cyclic": {"module": "plugins/cyclic.py", **CHAIN, "step_size": -1.0e-4}},
                }
            }
        )
    )
    res = snakemake(wd, "-n", "--cores", "1", "--configfile", str(bad), snakefile=ROOT / "Snakefile")
    assert res.returncode == 1
    lines = [line for line in res.stderr.splitlines() if not line.startswith(SNAKEMAKE_NOTICES)]
    assert len(lines) == 1 and lines[0].startswith("config error at base.samplers.cyclic.step_size: "), res.stderr
    assert "allowed: values > 0" in lines[0]
    assert "Traceback" not in res.stdout + res.stderr and "Job stats" not in res.stdout
    assert not (wd / "results").exists()
