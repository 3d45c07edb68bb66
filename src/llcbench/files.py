"""Result files in and out: atomic writes, provenance attributes, clear read errors."""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from llcbench.plan import canonical_json

if TYPE_CHECKING:
    import xarray as xr
# xarray is imported where files are read: the Snakefile imports this module (check_output_dir)
# when it plans a run, and every snakemake command would otherwise pay for xarray and pandas.

VERSIONED_PACKAGES = ("llcbench", "jax", "jaxlib", "blackjax", "optax", "arviz", "xarray", "netCDF4", "numpy", "snakemake")


def by_parent(paths) -> dict[str, str]:
    """``results/<kind>/<id>/<file>`` paths as {id: path}."""
    return {Path(p).parent.name: str(p) for p in paths}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results, plus Python's."""
    out = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(settings: dict, **extra) -> dict:
    """NetCDF attributes recording the settings that made a file and the versions
    that ran. Dicts become JSON strings; booleans become 0/1; None becomes ""."""
    attrs = {"settings_json": canonical_json(settings), "versions_json": canonical_json(package_versions())}
    for k, v in extra.items():
        attrs[k] = canonical_json(v) if isinstance(v, (dict, list)) else int(v) if isinstance(v, bool) else "" if v is None else v
    return attrs


def _temporary_beside(path: Path) -> str:
    """A new empty file next to ``path`` with the permissions of a normal new file. Temporary
    files of ``path`` left by an earlier writer that was killed before its rename are removed
    first (one job writes a given output at a time, so none of them is in use)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files
    return tmp


def _atomic(write, path) -> None:
    """Run ``write(tmp)`` on a temporary file beside ``path``, then rename it to
    ``path``. A crash never leaves a partial file under ``path``. A failed write
    (read-only or full disk, a file where a directory should be) raises an
    ``OSError`` naming ``path``; NetCDF's own message there is only "HDF error"."""
    path, tmp = Path(path), None
    try:
        tmp = _temporary_beside(path)
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        raise OSError(
            f"cannot write {path}: {err}{_free_space(path)}. Check that {path.parent} is a writable "
            "directory on a disk with free space, then re-run snakemake."
        ) from err
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def check_output_dir(path: str | os.PathLike) -> None:
    """Raise a one-line ``OSError`` naming ``path`` when it is a file, or a directory
    where a 4 KiB probe file cannot be written (read-only, full disk). A missing
    ``path`` passes: Snakemake creates it. Root ignores mode bits, so as root only a
    read-only mount or a full disk fails the probe."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OSError(
            f"output directory {path.resolve()} is a file, not a directory; move it away or run snakemake with --directory elsewhere"
        )
    if path.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe.") as probe:
                probe.write(bytes(4096))
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as err:
            raise OSError(
                f"output directory {path.resolve()} is not writable: {err}{_free_space(path / 'x')}; free space, "
                "fix its permissions or run snakemake with --directory elsewhere"
            ) from err


def _free_space(path: Path) -> str:
    """`` (<n> bytes free there)`` for the nearest existing directory above ``path``."""
    for parent in path.parents:
        if parent.is_dir():
            return f" ({shutil.disk_usage(parent).free} bytes free on {parent})"
    return ""


def write_netcdf(obj: xr.Dataset | xr.DataTree, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` atomically (see ``_atomic``)."""
    _atomic(lambda tmp: obj.to_netcdf(tmp, engine="netcdf4"), path)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text file atomically (see ``write_netcdf``)."""
    write_bytes(text.encode(), path)


def _open(opener, path, select=None, drop_variables=None):
    try:
        obj = opener(path, engine="netcdf4", **({"drop_variables": drop_variables} if drop_variables else {}))
        if select:  # read only these labels of these dimensions
            obj = obj.sel(select)
        return obj.load()
    except (OSError, ValueError, RuntimeError) as err:
        raise OSError(
            f"cannot read {path}: {err}. The file is missing, truncated or corrupt; regenerate it and what depends "
            f"on it: delete it and re-run snakemake, or re-run snakemake with --forcerun {path} as the last option."
        ) from err


def open_dataset(path, select: dict | None = None, drop_variables=None) -> xr.Dataset:
    """Read a NetCDF file into memory, with a message that names a corrupt file: all of it, or
    only the labels ``select`` ({dimension: labels}) picks, without ``drop_variables``."""
    import xarray as xr

    return _open(xr.open_dataset, path, select, drop_variables)


def open_datatree(path) -> xr.DataTree:
    """``open_dataset`` for files with groups (sampler traces)."""
    import xarray as xr

    return _open(xr.open_datatree, path)


def settings_of(obj) -> dict:
    """The settings dict recorded in a file's attributes."""
    return json.loads(obj.attrs["settings_json"])


def write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write a binary file atomically (see ``_atomic``)."""
    _atomic(lambda tmp: Path(tmp).write_bytes(data), path)
