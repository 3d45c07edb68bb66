"""The data stage: teacher–student data set -> ``data.nc``."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from llcbench import files
from llcbench.data import failure, make_dataset, nonfinite_rows

log = logging.getLogger(__name__)


def make_data(settings: dict, out: str) -> None:
    """Teacher–student data set -> ``data.nc`` (x, y, y_clean, teacher_w)."""
    ds = make_dataset(settings["seed"], settings["data"])
    x, y = np.asarray(ds.x), np.asarray(ds.y)
    obj = xr.Dataset(
        {
            "x": (("sample", "in_dim"), x),
            "y": (("sample", "out_dim"), y),
            "y_clean": (("sample", "out_dim"), np.asarray(ds.y_clean)),
            "teacher_w": (("teacher_param",), np.asarray(ds.teacher_w)),
        },
        attrs=files.provenance(
            settings,
            teacher_layer_sizes=ds.teacher_sizes,
            teacher_rank=ds.teacher_rank,
            noise_var_realised=float(np.var(ds.y - ds.y_clean)),
            nonfinite_rows=nonfinite_rows(x, y),
        ),
    )
    files.write_netcdf(obj, out)
    log.info("data: n=%d, var(y)=%.4g, noise var=%.4g", ds.x.shape[0], float(np.var(ds.y)), obj.attrs["noise_var_realised"])
    problem = failure(obj.attrs["nonfinite_rows"], x.shape[0])
    if problem:
        log.warning(
            "data: %s (float32 overflow, e.g. Student-t draws with tiny degrees of freedom); every run on "
            "this data gets status data_nonfinite and λ̂ = NaN",
            problem,
        )
