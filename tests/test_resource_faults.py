"""Resource faults give one clear message naming the path: a file where results/
should be, a full or read-only results directory, a truncated NetCDF input.

Tests run as root in CI, where a read-only mode bit (chmod) refuses nothing; a
full or read-only disk is a 64 KiB tmpfs mounted for the test, skipped with the
reason when mounting is not possible (not root, no CAP_SYS_ADMIN)."""

import os
import subprocess

import numpy as np
import pytest
import xarray as xr

from conftest import ROOT, snakemake
from llcbench import files
from llcbench.stages.estimate import estimate_llc


@pytest.fixture
def tmpfs(tmp_path):
    """A 64 KiB tmpfs at ``tmp_path/results``, unmounted afterwards."""
    mnt = tmp_path / "results"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def fill(directory):
    """Write zeros into ``directory`` until its filesystem is full."""
    with open(directory / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError:
            pass


def test_a_file_where_results_should_be_is_rejected_before_any_job(tmp_path):
    (tmp_path / "results").write_text("not a directory")
    res = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(ROOT / "tests/configs/tiny.yaml"), snakefile=ROOT / "Snakefile")
    assert res.returncode != 0 and "Traceback" not in res.stdout + res.stderr
    assert (
        res.stderr.splitlines()[-1]
        == f"output directory {tmp_path / 'results'} is a file, not a directory; move it away or run snakemake with --directory elsewhere"
    )


def test_full_disk_is_named_before_and_during_writes(tmpfs):
    files.check_output_dir(tmpfs)  # empty: the probe fits
    fill(tmpfs)
    with pytest.raises(OSError, match=rf"output directory {tmpfs} is not writable: .*No space left on device"):
        files.check_output_dir(tmpfs)
    target = tmpfs / "data" / "d0" / "data.nc"
    (tmpfs / "filler").unlink()
    with pytest.raises(OSError, match=rf"cannot write {target}: .*bytes free .*Check that {target.parent} is a writable directory"):
        files.write_netcdf(xr.Dataset({"x": ("i", np.zeros(100_000))}), target)  # 800 kB into 64 KiB: NetCDF says only "HDF error"
    assert os.listdir(target.parent) == []  # no partial file, no temporary left behind


def test_read_only_disk_is_named(tmpfs):
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(OSError, match=rf"output directory {tmpfs} is not writable: .*Read-only file system"):
        files.check_output_dir(tmpfs)
    with pytest.raises(OSError, match=rf"cannot write {tmpfs}/summary.md: .*Read-only file system"):
        files.write_text("x", tmpfs / "summary.md")


def test_truncated_intermediate_names_the_file_and_how_to_regenerate_it(tmp_path):
    trace = tmp_path / "results/runs/sgld-0123456789ab/trace.nc"
    files.write_netcdf(xr.Dataset({"L_n": (("chain", "draw"), np.ones((2, 5000)))}), trace)
    trace.write_bytes(trace.read_bytes()[: trace.stat().st_size // 2])  # what a killed copy or a full disk leaves
    for reader in (files.open_dataset, files.open_datatree):
        with pytest.raises(OSError) as err:
            reader(trace)
        msg = str(err.value)
        assert msg.startswith(f"cannot read {trace}: ") and "truncated" in msg
        assert f"--forcerun {trace}" in msg and "delete it and re-run snakemake" in msg
    with pytest.raises(OSError, match=rf"cannot read {trace}: .*--forcerun {trace}"):  # a stage reading it says the same
        estimate_llc(str(trace), str(tmp_path / "llc.nc"), str(tmp_path / "summary.md"), {"rhat_max": 1.05, "ess_min": 100})
