"""Combine the per-event scalars of many decoded or fitted files into one table (one row per event)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import xarray as xr

from idex._typing import PathLike

__all__ = ["combine"]


def _open(path: Path) -> xr.Dataset:
    if path.suffix.lower() in (".nc", ".h5", ".hdf5"):
        with xr.open_dataset(path) as ds:
            return ds.load()
    from idex.raw import open_raw

    return open_raw(path, group="events")


def combine(paths: Iterable[PathLike]) -> pd.DataFrame:
    """Per-event scalars of every file, with provenance columns ``source_file`` and ``event`` first.

    Parameters
    ----------
    paths : iterable of str or path
        netCDF/HDF5 products of idex, or raw captures (decoded on the fly).

    Returns
    -------
    pandas.DataFrame
        Columns missing from some files (different packet versions, fitted or not) are empty there.
    """
    frames = []
    for path in map(Path, paths):
        ds = _open(path)
        scalars = [name for name, v in {**ds.coords, **ds.data_vars}.items() if v.dims == ("event",)]
        frame = ds[scalars].reset_coords().to_dataframe().reset_index()
        frame.insert(0, "source_file", str(path))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["source_file", "event"])
    return pd.concat(frames, ignore_index=True, sort=False)
