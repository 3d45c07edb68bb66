"""The SLURM profile against a real SLURM cluster: experiment ``a`` of the tiny test config
(SGLD and HMC) through `snakemake --profile slurm` (the README's command, asking for the sweep
table: the figure jobs are local rules, run where snakemake runs, as without SLURM), every job
accounted by `sacct`, outputs identical to a local run's (the same files of the session's
tiny run, --cores 2: content-addressed IDs make them the same files).

Needs a running single-node cluster with accounting, which `.ci/run` starts with
tests/cluster/start-slurm.sh (root, Debian) and announces with LLCBENCH_TEST_SLURM=1.
Elsewhere the test is skipped with that reason.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from conftest import ROOT, TINY, assert_same_results, copy_workflow, job_counts

# .ci/run sets LLCBENCH_TEST_SLURM to 1 when it started a cluster and to "failed" when it could not:
# then the test fails, since CI is expected to have one. Unset (a developer's machine): skipped.
SLURM = os.environ.get("LLCBENCH_TEST_SLURM")
needs_slurm = pytest.mark.skipif(
    SLURM is None,
    reason="needs a SLURM cluster with accounting: `sudo bash tests/cluster/start-slurm.sh`, "
    "then `LLCBENCH_TEST_SLURM=1 uv run pytest tests/test_slurm.py` (.ci/run does both)",
)


def test_profile_is_found_by_its_short_name_and_requests_resources():
    """`--profile slurm` resolves to ./slurm, the link to profiles/slurm; the GPU
    layer asks for a GPU for sampler jobs only."""
    assert (ROOT / "slurm").resolve() == (ROOT / "profiles/slurm").resolve()
    profile = yaml.safe_load((ROOT / "slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["rerun-incomplete"] and profile["keep-going"]
    assert profile["set-resources"]["sample"]["runtime"].endswith(("m", "h"))  # unit strings, not bare numbers
    gpu = yaml.safe_load((ROOT / "profiles/slurm-gpu/config.yaml").read_text())["set-resources"]
    assert gpu["sample"]["gpu"] == 1 and "gpu" not in gpu["erm"]
    # the GPU layer restates every other per-rule resource (later profiles replace top-level keys)
    assert {k: {r: v for r, v in res.items() if r != "gpu"} for k, res in gpu.items()} == profile["set-resources"]


@needs_slurm
def test_tiny_config_through_slurm_equals_local_run(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["base"]["run_samplers"] = ["sgld", "hmc"]  # a minibatch and a full-batch sampler
    config["experiments"] = {"a": config["experiments"]["a"]}
    part = tmp_path / "a.yaml"
    part.write_text(yaml.safe_dump(config))
    if SLURM != "1" or shutil.which("sacct") is None:
        pytest.fail(
            f"a SLURM cluster was expected (LLCBENCH_TEST_SLURM={SLURM}) but did not start or has no sacct; "
            "see the lines .ci/run printed from tests/cluster/start-slurm.sh"
        )
    local, _ = tiny_run
    cluster = copy_workflow(tmp_path / "cluster")
    t0 = time.perf_counter()
    # the README's command, asking for the table only (the figures are local jobs, as in any run),
    # plus a hard kill: the plugin ignores SIGTERM when it hangs
    command = ["snakemake", "results/llc_sweep_results.csv", "--profile", "slurm", "--configfile", str(part)]
    res = subprocess.run(
        ["timeout", "-s", "KILL", "1500", sys.executable, "-m", *command],
        cwd=cluster,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "XLA_FLAGS"},
    )
    wall = time.perf_counter() - t0
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    run_uuid = re.search(r"SLURM run ID: (\S+)", out).group(1)
    remote = sum(n for rule, n in job_counts(out).items() if rule in ("data", "erm", "sample"))
    acct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--name", run_uuid, "--format", "JobID,State,AllocCPUS,Elapsed"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(f"SLURM, experiment a of the tiny config: {wall:.0f} s wall, sacct:\n" + "\n".join(acct))
    assert len(acct) == remote > 0 and all(line.split("|")[1] == "COMPLETED" for line in acct), acct
    assert remote == 1 + 1 + 2  # data, erm, 2 sampler jobs
    assert assert_same_results(cluster, local, subset=True) == 2 + 2 * 2  # data, erm, 2 runs × (trace, llc)
