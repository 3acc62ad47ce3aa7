"""Many files as one event model: official products, captures and idex files, of any packet versions."""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import IdexWarning, ProductError
from idex.io.cdf import read_cdf
from idex.io.l2a import is_l2a, read_l2a
from idex.io.official import read_official
from idex.model.versions import combine_versions

__all__ = ["SAME_EVENT", "expand_paths", "open_cdf", "open_products", "unique_events"]

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

    Examples
    --------
    >>> import idex
    >>> # ds = idex.open_cdf("imap_idex_l1a_sci-10days_20231214_v001.0001.cdf")
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


def open_products(
    paths: str | PathLike | Iterable[PathLike], *, chunks: int | None = None, keep_duplicates: bool = False
) -> xr.Dataset:
    """Open many files of any kind idex reads as one dask-backed event model, sorted by time, duplicates dropped.

    Parameters
    ----------
    paths : str, path or iterable of paths
        A glob pattern (``"archive/**/*.cdf"``, recursive), a folder, or the files themselves: raw captures,
        idex's own products, official L1a/L1b science products, of any packet versions.
    chunks : int, optional
        Events per dask chunk (default: one chunk per file).
    keep_duplicates : bool
        Keep every copy of an event seen in several files.

    Returns
    -------
    xarray.Dataset
        Lazy arrays of every packet version (:func:`idex.model.versions.combine_versions`: the union of their
        fields, ``packet_schema`` per event). ``attrs["duplicates_dropped"]`` counts events seen in more than
        one file (impact times within :data:`SAME_EVENT`, e.g. the L1a and L1b products of one day, whose
        epochs differ by 32 ns), also reported with a warning. Files holding no events (event-message
        products, tables) are skipped with a warning naming each and why, and counted in
        ``attrs["files_skipped"]``. ``source`` names each event's file. When event numbers repeat across
        files, the index is ``epoch`` (unique once duplicates are dropped) instead of ``event``, and
        ``attrs["event_index"]`` says so.

    Raises
    ------
    FileNotFoundError
        If nothing matches ``paths``.
    ProductError
        If no file holds events (each file and reason named).
    """
    files = expand_paths(paths)
    if not files:
        raise FileNotFoundError(f"no product matches {paths!r}")
    datasets, skipped = [], []
    for path in files:
        try:
            ds = xr.open_dataset(path, engine="idex", chunks={} if chunks is None else {"event": chunks})
        except ProductError as error:
            skipped.append(str(error))
            continue
        if "event" in ds.dims:
            datasets.append(ds)
        else:  # e.g. the L2B/L2C rate products: counts and maps, not events
            skipped.append(f"{path}: no events (a {ds.attrs.get('Logical_source', 'non-event')} product)")
    if not datasets:
        raise ProductError(f"none of the {len(files)} files holds events: " + "; ".join(skipped))
    if skipped:
        warnings.warn(
            f"{len(skipped)} of {len(files)} files skipped (no events in them): " + "; ".join(skipped),
            IdexWarning,
            stacklevel=2,
        )
    ds = combine_versions(datasets)
    first = np.arange(ds.sizes["event"]) if keep_duplicates else unique_events(ds["epoch"].values)
    duplicates = int(ds.sizes["event"] - first.size)
    if duplicates:
        warnings.warn(
            f"{duplicates} duplicate event(s) across {len(datasets)} files were dropped (the same impact "
            f"time within {SAME_EVENT}; keep_duplicates=True keeps them)",
            IdexWarning,
            stacklevel=2,
        )
    order = first[np.argsort(ds["epoch"].values[first], kind="stable")]
    out = ds.isel(event=order)
    out.attrs.update(duplicates_dropped=duplicates, source_files=len(datasets), files_skipped=len(skipped))
    repeated = not out.indexes["event"].is_unique  # event numbers restart per capture: the impact time is the identity
    if repeated and out.indexes.get("epoch") is None and pd.Index(out["epoch"].values).is_unique:
        out = out.drop_indexes("event").set_xindex("epoch")
        out.attrs["event_index"] = "epoch (event numbers repeat across files; select with .sel(epoch=...))"
    return out
