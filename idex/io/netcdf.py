"""netCDF-4 / HDF5 output: lossless, compressed, reopened by ``xarray.open_dataset`` as it was written.

xarray writes each variable from one array, so a waveform variable kept lazily
(:mod:`idex.model.waveform_rows`: rows of fill values, rows unpacked on reading) would be built whole. The
writer hands xarray a zero-cost stand-in for every multi-dimensional variable (xarray still defines it, with
its attributes and compression) and fills it on disk in blocks of whole HDF5 chunks, so memory stays bounded
whatever the number of events, and the file holds the same values as writing the arrays at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import NetCDF4DataStore
from xarray.backends.common import ArrayWriter

from idex._typing import PathLike
from idex.atomic import atomic_path
from idex.exceptions import ExportError
from idex.io.cdf import DEFAULT_COMPRESSION
from idex.model.dataset import stored_form

__all__ = ["to_hdf5", "to_netcdf"]

_STORABLE_KINDS = "biufMUSO"
_TRANSFORMING = frozenset({"_FillValue", "missing_value", "scale_factor", "add_offset", "dtype"})  # of integers
_CHUNK_BYTES = 1 << 22  # HDF5 chunks of block-filled variables: whole rows, about this many bytes


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
        _write(ds, temporary, encoding)
    return Path(path)


def _write(ds: xr.Dataset, path: Path, encoding: dict[Any, dict[str, Any]]) -> None:
    """``ds.to_netcdf(path, engine="netcdf4", encoding=encoding)``, multi-dimensional numeric variables filled
    in blocks of rows (see the module docstring)."""
    by_blocks = {
        str(name): v.variable
        for name, v in ds.data_vars.items()
        if v.ndim >= 2 and v.dtype.kind in "iu" and v.shape[0] and _TRANSFORMING.isdisjoint({*v.encoding, *v.attrs})
    }
    stand_ins = ds.assign(
        {
            name: xr.Variable(v.dims, np.broadcast_to(np.zeros((), v.dtype), v.shape), v.attrs, v.encoding)
            for name, v in by_blocks.items()
        }
    )
    chunked = {
        name: {**encoding.get(name, {}), "chunksizes": _chunk_shape(v)}
        for name, v in by_blocks.items()
        if not {"chunksizes", "contiguous"} & {*v.encoding, *encoding.get(name, {})}  # a file's own layout stays
    }
    store = NetCDF4DataStore.open(path, mode="w", format="NETCDF4")
    try:
        stand_ins.dump_to_store(
            store,
            writer=_BlockWriter(by_blocks),
            encoding={**encoding, **chunked},
            unlimited_dims=ds.encoding.get("unlimited_dims"),
        )
    finally:
        store.close()


def _chunk_shape(variable: xr.Variable) -> tuple[int, ...]:
    """HDF5 chunks of whole rows, about ``_CHUNK_BYTES`` each (netCDF's own choice grows with the variable)."""
    row_bytes = max(variable.size // variable.shape[0] * variable.dtype.itemsize, 1)
    return (max(1, min(variable.shape[0], _CHUNK_BYTES // row_bytes)), *variable.shape[1:])


class _BlockWriter(ArrayWriter):
    """xarray's array writer, filling the named variables from their own (lazy) data in blocks of rows."""

    __slots__ = ("by_blocks",)

    def __init__(self, by_blocks: dict[str, xr.Variable]) -> None:
        super().__init__()
        self.by_blocks = by_blocks

    def add(self, source: Any, target: Any, region: Any = None) -> None:
        variable = self.by_blocks.get(getattr(target, "variable_name", ""))
        if variable is None:
            super().add(source, target, region)
            return
        if not isinstance(source, np.ndarray) or any(source.strides) or source.dtype != variable.dtype or region:
            raise ExportError(f"variable {target.variable_name!r} was encoded on its way to netCDF; not written")
        on_disk = target.get_array()
        chunking = on_disk.chunking()
        rows = chunking[0] if isinstance(chunking, list) else _chunk_shape(variable)[0]  # whole chunks per block
        on_disk.set_var_chunk_cache(size=1, nelems=1)  # whole chunks straight to the file (not 64 MiB cached)
        for start in range(0, variable.shape[0], rows):
            target[start : start + rows] = variable[start : start + rows].values


def to_hdf5(ds: xr.Dataset, path: PathLike, *, overwrite: bool = False, compression: int = DEFAULT_COMPRESSION) -> Path:
    """Write ``ds`` as an HDF5 file (netCDF-4 layout, readable by h5py and by ``xarray.open_dataset``)."""
    return to_netcdf(ds, path, overwrite=overwrite, compression=compression)
