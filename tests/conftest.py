import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

# Tests run on 2 cores: keep XLA to one thread per test process.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests/configs/tiny.yaml"
WORKFLOW_FILES = ("Snakefile", "rules", "workflow", "config", "profiles", "envs", "src")


def snakemake(workdir, *args, snakefile=None, timeout=600):
    """Run the snakemake CLI (as users type it) in ``workdir``."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile or Path(workdir) / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def job_counts(output: str) -> Counter:
    """Rule -> job count from Snakemake's 'Job stats' table (empty when nothing is to be done)."""
    counts, inside = Counter(), False
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Job stats"):
            inside, counts = True, Counter()
        elif inside and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                inside = False
            else:
                counts[parts[0]] = int(parts[1])
    return counts


def job_outputs(output: str, rule: str) -> list[str]:
    """Outputs of every scheduled job of ``rule`` in a dry-run listing."""
    out, current = [], None
    for line in output.splitlines():
        if line.startswith(("rule ", "localrule ")):
            current = line.split()[1].rstrip(":")
        elif current == rule and line.strip().startswith("output:"):
            out += [p.strip() for p in line.split(":", 1)[1].split(",")]
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A copy of the workflow with the tiny config run to completion in it:
    experiments ``a`` and ``b`` differ only in the SGLD step size."""
    wd = tmp_path_factory.mktemp("workflow")
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, wd / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, wd / name)
    res = snakemake(wd, "--cores", "2", "--configfile", str(TINY))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return wd, res
