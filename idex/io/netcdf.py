"""netCDF-4 / HDF5 output: lossless, compressed, reopened by ``xarray.open_dataset`` as it was written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.atomic import atomic_path
from idex.exceptions import ExportError
from idex.io.cdf import DEFAULT_COMPRESSION
from idex.model.dataset import stored_form

__all__ = ["to_hdf5", "to_netcdf"]

_STORABLE_KINDS = "biufMUSO"


def check_netcdf(ds: xr.Dataset) -> None:
    """Fail before writing if a variable's type or an attribute cannot be stored in netCDF-4."""
    for name, variable in ds.variables.items():
        if variable.dtype.kind not in _STORABLE_KINDS:
            raise ExportError(f"variable {name!r} has dtype {variable.dtype}, which netCDF cannot store")
        if variable.dtype.kind == "O" and variable.size and not isinstance(variable.values.flat[0], str):
            raise ExportError(f"variable {name!r} holds Python objects, not strings")
        for key, value in variable.attrs.items():
            _check_attr(str(name), key, value)
    for key, value in ds.attrs.items():
        _check_attr("<global>", key, value)


def _check_attr(variable: str, key: str, value: object) -> None:
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, dict):
        raise ExportError(f"attribute {key!r} of {variable!r} is {value!r}, which netCDF cannot store")


def to_netcdf(
    ds: xr.Dataset, path: PathLike, *, overwrite: bool = False, compression: int = DEFAULT_COMPRESSION
) -> Path:
    """Write ``ds`` as compressed netCDF-4 (an HDF5 file).

    Parameters
    ----------
    ds : xarray.Dataset
        Event model (with fit outputs, if any).
    path : str or path
        Output file.
    overwrite : bool
        Replace an existing file.
    compression : int
        zlib level, 0 (none) to 9, with the byte-shuffle filter; the default (1) is the fast end.

    Returns
    -------
    pathlib.Path
    """
    ds = stored_form(ds)
    check_netcdf(ds)
    encoding = {
        name: {"zlib": True, "complevel": compression, "shuffle": True}
        for name, v in ds.data_vars.items()
        if v.dtype.kind in "biuf" and v.ndim > 0 and compression > 0
    }
    with atomic_path(path, overwrite=overwrite) as temporary:
        ds.to_netcdf(temporary, engine="netcdf4", encoding=encoding)
    return Path(path)


def to_hdf5(ds: xr.Dataset, path: PathLike, *, overwrite: bool = False, compression: int = DEFAULT_COMPRESSION) -> Path:
    """Write ``ds`` as an HDF5 file (netCDF-4 layout, readable by h5py and by ``xarray.open_dataset``)."""
    return to_netcdf(ds, path, overwrite=overwrite, compression=compression)
