"""CSV output: one row per event with every per-event scalar, units in a sidecar JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from idex._typing import PathLike
from idex.atomic import atomic_path
from idex.exceptions import ExportError

__all__ = ["to_csv"]


def to_csv(ds: xr.Dataset, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write every variable on the ``event`` axis alone (header fields, housekeeping, fit outputs, flags).

    The first columns are ``event`` and ``epoch`` (ISO 8601, ns). Units and descriptions go to
    ``<path>.units.json`` (column -> {"units", "long_name"}), so the CSV stays plain for
    ``pandas.read_csv``. Floats are written with 17 significant digits, so they read back exactly.

    Returns
    -------
    pathlib.Path
        The CSV path.
    """
    columns = [name for name, v in {**ds.coords, **ds.data_vars}.items() if v.dims == ("event",)]
    for name in columns:
        values = ds[name].values
        if values.dtype.kind not in "biufMU" and not all(isinstance(v, str) for v in values):
            raise ExportError(f"variable {name!r} has dtype {values.dtype} with non-text objects; CSV cannot hold it")
    table = ds[columns].reset_coords().to_dataframe()
    if "epoch" in table:
        table["epoch"] = table["epoch"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + table["epoch"].dt.nanosecond.map(
            lambda ns: f"{ns:03d}"
        )
    sidecar = Path(str(path) + ".units.json")
    units = {
        name: {"units": str(ds[name].attrs.get("units", "")), "long_name": str(ds[name].attrs.get("long_name", ""))}
        for name in ["event", *table.columns]
    }
    with atomic_path(path, overwrite=overwrite) as temporary:
        table.to_csv(temporary, float_format="%.17g")
        with atomic_path(sidecar, overwrite=True) as side:
            side.write_text(json.dumps(units, indent=1), encoding="utf-8")
    return Path(path)
