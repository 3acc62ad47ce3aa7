"""Many files as one event model: finding them, telling repeated events, reading CDF products.

The collection itself is opened by :func:`idex.opening.open_products` (it reads every kind of file the front
door reads); ``idex.io.products.open_products`` still resolves there, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import glob
import importlib
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import ProductError
from idex.io.cdf import read_cdf
from idex.io.l2a import is_l2a, read_l2a
from idex.io.official import read_official

__all__ = ["SAME_EVENT", "expand_paths", "open_cdf", "unique_events"]

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
    """Open an IDEX science CDF as the event model: an official L1a/L1b product
    (:func:`idex.io.official.read_official`) or one idex wrote (:func:`idex.io.cdf.read_cdf`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ProductError
        If the file is not a readable CDF, or holds no science events (event-message products), naming it.
    """
    import cdflib

    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        info = cdflib.CDF(str(path))
        names = set(info.cdf_info().zVariables)
        attributes = info.globalattsget()
    except Exception as error:  # noqa: BLE001 - cdflib reports damage with whatever error the bytes lead to
        raise ProductError(f"{path}: not a readable CDF ({type(error).__name__}: {error})") from error
    if is_l2a(names):
        return read_l2a(path)
    if "TOF_High" in names:
        return read_official(path)
    if "tof_high" in names or "idex_schema" in attributes or "idex_scope_setup" in attributes:
        return read_cdf(path)
    source = str(attributes.get("Logical_source", [""])[0])
    if source.startswith(("imap_idex_l2b", "imap_idex_l2c")):  # rates and maps (L2B/L2C profiles)
        from idex.io.rate_products import read_rates

        return read_rates(path)
    raise ProductError(
        f"{path}: a CDF without IDEX science events (Logical_source {source!r}); event-message "
        "and higher-level products are not event files"
    )


def expand_paths(paths: str | PathLike | Iterable[PathLike]) -> list[str]:
    """The files named by ``paths``: a glob pattern (``**`` recursive, top-level files included), a folder
    (every file under it) or a file, or an iterable of these; duplicates removed, order kept.

    Examples
    --------
    >>> import idex
    >>> [Path(p).name for p in expand_paths(str(idex.testing.sample_capture().parent / "**" / "*1214*.pkts"))]
    ['imap_idex_l0_raw_20231214_v001.pkts']
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found: list[str] = []
    for item in map(str, items):
        if glob.has_magic(item):
            found += sorted(p for p in glob.glob(item, recursive=True) if Path(p).is_file())
        elif Path(item).is_dir():
            found += sorted(str(p) for p in Path(item).rglob("*") if p.is_file())
        else:
            found.append(item)
    return list(dict.fromkeys(found))


def __getattr__(name: str) -> object:
    """``open_products`` moved to :mod:`idex.opening` (it opens every kind of file); the old name still works."""
    if name == "open_products":
        warnings.warn(
            "idex.io.products.open_products moved: use idex.open_products (idex.opening.open_products)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("idex.opening"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
