"""Writers of the event model: CDF (ISTP), netCDF/HDF5 and CSV, each safe against partial files.

``to_file(ds, path)`` picks the format from the suffix; every writer validates the Dataset first
(naming the variable and attribute at fault) and writes to a temporary name that is renamed into
place only when complete.

Layer 7, above :mod:`idex.science`: owns the writers (:mod:`~idex.io.cdf`, :mod:`~idex.io.netcdf`,
:mod:`~idex.io.csv`), the readers of our own and the official products (:mod:`~idex.io.official`,
:mod:`~idex.io.products`), the mission's L2A product both ways (:mod:`~idex.io.l2a`) and the LeCroy ``.trc``
reader (:mod:`~idex.io.trc`). It may import every layer below it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import xarray as xr

from idex._typing import PathLike
from idex.exceptions import ExportError
from idex.io.cdf import to_cdf
from idex.io.csv import to_csv
from idex.io.netcdf import to_hdf5, to_netcdf

__all__ = ["FORMATS", "to_cdf", "to_csv", "to_file", "to_hdf5", "to_netcdf"]

FORMATS: dict[str, Callable[..., Path]] = {
    ".cdf": to_cdf,
    ".nc": to_netcdf,
    ".h5": to_hdf5,
    ".hdf5": to_hdf5,
    ".csv": to_csv,
}
"""Writer per file suffix."""


def to_file(ds: xr.Dataset, path: PathLike, *, compression: int | None = None, **options: object) -> Path:
    """Write ``ds`` in the format its suffix names (``.cdf``, ``.nc``, ``.h5``/``.hdf5``, ``.csv``).

    ``compression`` (0-9) overrides the writer's default level; CSV has none.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"unknown output format {suffix!r} for {path}; choose one of {sorted(FORMATS)}")
    if compression is not None:
        if suffix == ".csv":
            raise ExportError(f"{path}: CSV is written uncompressed; drop the compression level")
        if not 0 <= compression <= 9:
            raise ExportError(f"compression level {compression} is not between 0 and 9")
        options["compression"] = compression
    return FORMATS[suffix](ds, path, **options)
