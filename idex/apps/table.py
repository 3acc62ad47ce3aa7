"""Combine the per-event scalars of many decoded or fitted files into one table (one row per event)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from idex._typing import PathLike
from idex.io.products import unique_events
from idex.opening import open as open_any

__all__ = ["combine"]


def combine(paths: Iterable[PathLike]) -> pd.DataFrame:
    """Per-event scalars of every file, with provenance columns ``source_file`` and ``event`` first.

    Parameters
    ----------
    paths : iterable of str or path
        Any file :func:`~idex.opening.open` reads: raw captures (decoded on the fly), idex's netCDF/HDF5/CDF
        products, official IDEX science CDFs.

    Returns
    -------
    pandas.DataFrame
        Columns missing from some files (different packet versions, fitted or not) are empty there. An
        event found in several files (impact times within :data:`idex.io.products.SAME_EVENT`) keeps the row
        of the first file.
    """
    frames = []
    for path in map(Path, paths):
        ds = open_any(path)
        scalars = [name for name, v in {**ds.coords, **ds.data_vars}.items() if v.dims == ("event",)]
        frame = ds[scalars].reset_coords().to_dataframe().reset_index()
        frame.insert(0, "source_file", str(path))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["source_file", "event"])
    table = pd.concat(frames, ignore_index=True, sort=False)
    return table.iloc[unique_events(table["epoch"].to_numpy())].reset_index(drop=True)
