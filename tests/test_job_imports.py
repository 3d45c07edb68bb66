"""Light jobs. A job of a `script:` rule is a fresh Python process, so what its adapter script
imports is paid once per job: it imports only the heavy packages its stage uses (no JAX where
nothing is computed with it, no ArviZ or SciPy where no diagnostic is computed, no matplotlib
where no figure is drawn). Each adapter's import statements run in a fresh interpreter (after
what Snakemake's script preamble imports) and the heavy packages that ended up loaded are
compared with what the stage may use. The light rules (estimates, tables, sweep figures) run
inside the snakemake process instead (`run:`, llcbench.runtime.in_process); that they do is
checked on the tiny run (tests/test_workflow.py)."""

import ast
import subprocess
import sys

from conftest import ROOT

HEAVY = ("jax", "optax", "blackjax", "scipy", "arviz_base", "arviz_stats", "arviz_plots", "matplotlib")
# script -> heavy packages its stage uses (and so may import)
USES = {
    "data": {"jax"},  # data are drawn with jax.random
    "erm": {"jax", "optax"},
    "sample": {"jax", "optax", "blackjax", "arviz_base"},  # arviz_base: the trace's DataTree (from_dict)
    # ArviZ's ESS and R-hat on the figures (arviz_base loads jax: llcbench.diagnostics' doc)
    "plot_run": {"arviz_base", "arviz_stats", "arviz_plots", "scipy", "jax", "matplotlib"},
}


def imports_of(script) -> str:
    tree = ast.parse(script.read_text())
    return "; ".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def test_every_adapter_script_is_listed():
    assert {p.stem for p in (ROOT / "workflow/scripts").glob("*.py")} - {"copy_files"} == set(USES)


def test_a_job_imports_only_the_heavy_packages_its_stage_uses():
    probes = {}
    for script in USES:  # one fresh interpreter per script, all at once
        code = (
            f"import snakemake.script; {imports_of(ROOT / 'workflow/scripts' / f'{script}.py')}\n"
            f"import sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
        )
        probes[script] = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    extra = {}
    for script, proc in probes.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, (script, err[-2000:])
        if set(out.split()) - USES[script]:
            extra[script] = sorted(set(out.split()) - USES[script])
    assert extra == {}, f"jobs import packages their stage does not use: {extra}"
