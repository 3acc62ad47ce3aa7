"""Official mission products (L1a/L1b science CDFs) as the event model, one file or a whole archive."""

from __future__ import annotations

import glob
import warnings
from collections.abc import Iterable

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import IdexWarning
from idex.io.official import read_official

__all__ = ["SAME_EVENT", "open_cdf", "open_products", "unique_events"]

SAME_EVENT = np.timedelta64(1, "us")
"""Impact times closer than this are one event seen twice (products and captures differ by up to 32 ns; the
instrument's dead time after an event is milliseconds)."""


def unique_events(epoch: np.ndarray, tolerance: np.timedelta64 = SAME_EVENT) -> np.ndarray:
    """Indices of the first occurrence of every event, events being impact times within ``tolerance``.

    Examples
    --------
    >>> t = np.array(["2023-12-14T10:00:00.000000000", "2023-12-14T10:00:00.000000032",
    ...               "2023-12-14T10:00:05"], dtype="datetime64[ns]")
    >>> unique_events(t).tolist()
    [0, 2]
    """
    epoch = np.asarray(epoch, dtype="datetime64[ns]")
    order = np.argsort(epoch, kind="stable")
    sorted_times = epoch[order]
    new = np.ones(order.size, bool)
    new[1:] = (sorted_times[1:] - sorted_times[:-1]) > tolerance
    group = np.cumsum(new) - 1
    first = np.full(int(group[-1]) + 1 if group.size else 0, order.size, dtype=np.int64)
    np.minimum.at(first, group, order)  # the earliest position in the input of each group
    return np.sort(first)


def open_cdf(path: PathLike) -> xr.Dataset:
    """Open an official IDEX L1a/L1b science CDF as the event model; see :func:`idex.io.official.read_official`.

    Examples
    --------
    >>> import idex
    >>> # ds = idex.open_cdf("imap_idex_l1a_sci-10days_20231214_v001.0001.cdf")
    """
    return read_official(path)


def open_products(paths: str | Iterable[PathLike], *, chunks: int | None = None) -> xr.Dataset:
    """Open many official products as one dask-backed event model, sorted by time, duplicates dropped.

    Parameters
    ----------
    paths : str or iterable of paths
        A glob pattern (``"archive/**/*.cdf"``, recursive) or the files themselves.
    chunks : int, optional
        Events per dask chunk (default: one chunk per file).

    Returns
    -------
    xarray.Dataset
        Lazy arrays; ``attrs["duplicates_dropped"]`` counts events seen in more than one file (impact
        times within :data:`SAME_EVENT`, e.g. the L1a and L1b products of one day, whose epochs differ
        by 32 ns), which are also reported with a warning. ``source`` names each event's file. When
        event numbers repeat across files, the index is ``epoch`` (unique once duplicates are dropped)
        instead of ``event``, and ``attrs["event_index"]`` says so.
    """
    files = sorted(glob.glob(paths, recursive=True)) if isinstance(paths, str) else [str(p) for p in paths]
    if not files:
        raise FileNotFoundError(f"no product matches {paths!r}")
    ds = xr.open_mfdataset(files, engine="idex", combine="nested", concat_dim="event", parallel=True,
                           data_vars="minimal", coords="minimal", compat="override", join="outer",
                           chunks={} if chunks is None else {"event": chunks})
    first = unique_events(ds["epoch"].values)
    duplicates = int(ds.sizes["event"] - first.size)
    if duplicates:
        warnings.warn(f"{duplicates} duplicate event(s) across {len(files)} files were dropped", IdexWarning,
                      stacklevel=2)
    order = first[np.argsort(ds["epoch"].values[first], kind="stable")]
    out = ds.isel(event=order)
    out.attrs.update(duplicates_dropped=duplicates, source_files=len(files))
    if not out.indexes["event"].is_unique:  # event numbers restart per capture: the impact time is the identity
        out = out.drop_indexes("event").set_xindex("epoch")
        out.attrs["event_index"] = "epoch (event numbers repeat across files; select with .sel(epoch=...))"
    return out
