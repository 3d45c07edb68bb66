import os
import stat

import numpy as np
import pytest
import xarray as xr

from llcbench import files


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out.nc"

    class Boom(xr.Dataset):
        __slots__ = ()

        def to_netcdf(self, *a, **k):
            open(a[0], "w").write("half")
            raise RuntimeError("disk full")

    with pytest.raises(OSError, match=r"cannot write .*out\.nc: disk full.*bytes free"):
        files.write_netcdf(Boom({"a": ("x", np.arange(3))}), target)
    assert list(tmp_path.iterdir()) == []


def test_written_files_have_normal_permissions_and_roundtrip(tmp_path):
    target = tmp_path / "sub" / "out.nc"
    files.write_netcdf(xr.Dataset({"a": ("x", np.arange(3))}, attrs=files.provenance({"k": 1}, flag=True)), target)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    back = files.open_dataset(target)
    assert back.attrs["flag"] == 1 and files.settings_of(back) == {"k": 1}
    assert "jax" in back.attrs["versions_json"]


def test_corrupt_file_error_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "trace.nc"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(OSError, match=r"trace\.nc.*(delete it|forcerun)"):
        files.open_dataset(bad)


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "trace.nc"
    stale = tmp_path / ".trace.nc.k1ll3d.tmp"  # left by a job killed (SIGKILL) before its rename
    stale.write_text("half")
    other = tmp_path / ".llc.nc.x.tmp"  # another output's: not ours to remove
    other.write_text("half")
    files.write_netcdf(xr.Dataset({"a": ("x", np.arange(3))}), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".llc.nc.x.tmp", "trace.nc"]
