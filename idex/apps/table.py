"""Combine the per-event scalars of many decoded or fitted files into one table (one row per event)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from idex._typing import PathLike
from idex.io.products import unique_events
from idex.opening import open_scalars

__all__ = ["combine", "without_duplicates"]


def combine(paths: Iterable[PathLike], *, keep_duplicates: bool = False) -> pd.DataFrame:
    """Per-event scalars of every file, with provenance columns ``source_file`` and ``event`` first.

    Parameters
    ----------
    paths : iterable of str or path
        Any file :func:`~idex.opening.open` reads: raw captures (decoded on the fly), idex's netCDF/HDF5/CDF
        products, official IDEX science CDFs.

    Returns
    -------
    keep_duplicates : bool
        Keep every row of an event found in several files.

    Returns
    -------
    pandas.DataFrame
        Columns missing from some files (different packet versions, fitted or not) are empty there. An
        event found in several files (impact times within :data:`idex.io.products.SAME_EVENT`) keeps the row
        of the first file unless ``keep_duplicates``; ``attrs["duplicates_dropped"]`` counts the rows dropped.
    """
    frames = []
    for path in map(Path, paths):
        frame = open_scalars(path).reset_coords().to_dataframe().reset_index()
        frame.insert(0, "source_file", str(path))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["source_file", "event"])
    return without_duplicates(pd.concat(frames, ignore_index=True, sort=False), keep=keep_duplicates)


def without_duplicates(table: pd.DataFrame, *, keep: bool = False) -> pd.DataFrame:
    """``table`` with one row per impact time (the first), counted in ``attrs["duplicates_dropped"]``."""
    kept = table if keep or table.empty else table.iloc[unique_events(table["epoch"].to_numpy())]
    out = kept.reset_index(drop=True)
    out.attrs["duplicates_dropped"] = len(table) - len(out)
    return out
