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

__all__ = ["open_cdf", "open_products"]


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
        Lazy arrays; ``attrs["duplicates_dropped"]`` counts events seen in more than one file
        (same epoch and event number), which are also reported with a warning.
    """
    files = sorted(glob.glob(paths, recursive=True)) if isinstance(paths, str) else [str(p) for p in paths]
    if not files:
        raise FileNotFoundError(f"no product matches {paths!r}")
    ds = xr.open_mfdataset(files, engine="idex", combine="nested", concat_dim="event", parallel=True,
                           data_vars="minimal", coords="minimal", compat="override", join="outer",
                           chunks={} if chunks is None else {"event": chunks})
    keys = np.stack([ds["epoch"].values.astype(np.int64), np.asarray(ds["event"].values, dtype=np.int64)], axis=1)
    _, first = np.unique(keys, axis=0, return_index=True)
    duplicates = int(ds.sizes["event"] - first.size)
    if duplicates:
        warnings.warn(f"{duplicates} duplicate event(s) across {len(files)} files were dropped", IdexWarning,
                      stacklevel=2)
    order = first[np.argsort(ds["epoch"].values[first], kind="stable")]
    out = ds.isel(event=order)
    out.attrs.update(duplicates_dropped=duplicates, source_files=len(files))
    return out
