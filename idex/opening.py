"""One front door, ``idex.open(path)``: any file idex reads, recognised by its content, as the event model.

Content and how it is recognised, then what reads it:

- netCDF / HDF5 written by idex (the netCDF or HDF5 signature): xarray, the ``events`` group of a tree written
  with ``--all-groups``;
- CDF written by idex (CDF signature and a ``tof_high``-style event model inside): :func:`idex.io.cdf.read_cdf`;
- official IDEX science CDF (CDF signature and ``TOF_High``): :func:`idex.io.official.read_official`;
- LeCroy trace, ``.trc`` (``WAVEDESC`` in its first 64 bytes): :func:`idex.scope.shots.open_trc`;
- raw telemetry (anything else that frames as CCSDS packets): :func:`idex.decode.raw.open_raw`.

Every command that takes files and the viewer open them through here. Anything else (CSV tables, event-
message products, files that are not telemetry) is refused with a :class:`~idex.exceptions.ProductError`
that names the file and says what it is. ``idex.open_products(paths)`` opens many files this way as one lazy
(dask) collection.
"""

from __future__ import annotations

import builtins
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import IdexWarning, ProductError
from idex.extras import require
from idex.io.preflight import check_structure
from idex.model.dataset import waveform_channels, with_trigger_clocks
from idex.model.versions import combine_versions
from idex.model.waveform_rows import read_rows

__all__ = ["CAPTURE_SUFFIXES", "kind_of", "open", "open_products", "open_scalars", "require_packets"]

CAPTURE_SUFFIXES = (".pkts", ".bin", ".dat", ".ccsds")
"""File name endings of raw captures (by convention; :func:`kind_of` judges the content)."""

_NETCDF = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
_CDF = (bytes.fromhex("cdf30001"), bytes.fromhex("cdf26002"), bytes.fromhex("0000ffff"))


def kind_of(path: PathLike) -> str:
    """What ``path`` holds: ``"netcdf"``, ``"cdf"``, ``"trc"``, ``"csv"`` or ``"telemetry"`` (by content).

    Examples
    --------
    >>> import idex
    >>> kind_of(idex.testing.sample_capture())
    'telemetry'
    """
    with builtins.open(path, "rb") as handle:
        head = handle.read(64)
    if head.startswith(_NETCDF):
        return "netcdf"
    if head.startswith(_CDF):
        return "cdf"
    if b"WAVEDESC" in head:
        return "trc"
    if Path(path).suffix.lower() in (".csv", ".txt") or (head and all(32 <= b < 127 or b in b"\t\r\n" for b in head)):
        return "csv" if Path(path).suffix.lower() == ".csv" else "text"
    return "telemetry"


def open(path: PathLike, *, schema: str | PathLike | None = None, strict: bool = False) -> xr.Dataset:  # noqa: A001
    """Open any file idex reads as the event model (see the module docstring for what is recognised).

    Parameters
    ----------
    path : str or path
        A raw capture, a netCDF/HDF5 or CDF file written by idex, an official IDEX science CDF, or a
        LeCroy trace.
    schema : str or path, optional
        Packet schema for raw telemetry (default: chosen from the capture).
    strict : bool
        Raw telemetry: raise at the first decoding problem instead of flagging it.

    Returns
    -------
    xarray.Dataset
        The event model, loaded into memory.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ProductError
        If the file is none of the above, naming it and what it appears to be.

    Examples
    --------
    >>> import idex
    >>> idex.open(idex.testing.sample_capture()).sizes["event"]
    14
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    kind = kind_of(path)
    if kind == "netcdf":
        return _open_netcdf(path)
    if kind == "cdf":
        return _open_cdf(path)
    if kind == "trc":
        from idex.scope import open_trc

        return open_trc(path)
    if kind in ("csv", "text"):
        raise ProductError(
            f"{path}: a {'CSV table' if kind == 'csv' else 'text file'}, not an event file idex can "
            "read (CSV is an export for spreadsheets; open the .nc, .h5 or .cdf instead)"
        )
    from idex.decode.raw import open_raw

    return require_packets(open_raw(path, schema=schema, strict=strict), path)["events"].to_dataset()


def require_packets(tree: xr.DataTree, path: PathLike) -> xr.DataTree:
    """``tree`` (decoded from ``path``), or a :class:`~idex.exceptions.ProductError` if no packet framed in it."""
    if tree["packets"].sizes["packet"] == 0:
        raise ProductError(f"{path}: no CCSDS packet found: not a telemetry capture")
    return tree


def open_scalars(path: PathLike) -> xr.Dataset:
    """The per-event scalars (variables and coordinates of dimension ``event`` alone) of any file :func:`open`
    reads; the waveforms of a netCDF/HDF5 file are never loaded (``idex table`` of a file of 60 000
    waveform-less events took 3.8 GB loading their fill-value rows)."""
    path = Path(os.fspath(path))
    ds = _open_netcdf(path, scalars_only=True) if path.is_file() and kind_of(path) == "netcdf" else open(path)
    return ds[[name for name, v in {**ds.coords, **ds.data_vars}.items() if v.dims == ("event",)]]


def _open_netcdf(path: Path, *, scalars_only: bool = False) -> xr.Dataset:
    check_structure(path)  # declared sizes against what the file stores, before anything is loaded
    with xr.open_datatree(path) as tree:
        node = tree["events"] if "events" in tree.children else tree
        ds = node.to_dataset()
        if scalars_only and "event" in ds.dims:
            ds = ds[[name for name, v in ds.variables.items() if v.dims == ("event",)]]
        waveforms = {name: _stored_waveform(ds.variables[name]) for name in waveform_channels(ds)}
        loaded = ds.drop_vars(waveforms).load()
        ds = xr.Dataset(  # the file's order of variables
            {name: waveforms[str(name)] if name in waveforms else loaded.variables[name] for name in ds.data_vars},
            coords=loaded.coords,
            attrs=loaded.attrs,
        )
        ds.encoding = loaded.encoding
    if "event" not in ds.dims and ds.attrs.get("idex_product") == "rates":  # rates and maps (io.rate_products)
        return ds
    if "event" not in ds.dims:
        raise ProductError(f"{path}: a netCDF/HDF5 file without an 'event' dimension: not an idex event file")
    return with_trigger_clocks(ds)


def _stored_waveform(variable: xr.Variable) -> xr.Variable:
    """A waveform of the file read as decoding holds it (rows of fill values not built, :func:`read_rows`)."""
    fill = variable.attrs.get("fill_value_used")
    if fill is None or variable.dtype.kind not in "iu":  # not idex's integer samples: read as stored
        return variable.load()
    rows = read_rows(variable, int(fill))
    return xr.Variable(variable.dims, rows.data(), variable.attrs, encoding=variable.encoding)


def _open_cdf(path: Path) -> xr.Dataset:
    from idex.io.products import open_cdf

    return open_cdf(path)


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
        one file (impact times within :data:`idex.io.products.SAME_EVENT`, e.g. the L1a and L1b products of one
        day, whose epochs differ by 32 ns), also reported with a warning. Files holding no events (event-message
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
    MissingExtraError
        If dask is not installed (the ``idex[dask]`` extra).
    """
    from idex.io.products import SAME_EVENT, expand_paths, unique_events

    require("dask.array", "idex.open_products (a lazy collection of many files)")
    files = expand_paths(paths)
    if not files:
        raise FileNotFoundError(f"no product matches {paths!r}")
    datasets, skipped = [], []
    for path in files:
        try:
            ds = open(path)
        except ProductError as error:
            skipped.append(str(error))
            continue
        if "event" in ds.dims:
            datasets.append(ds.chunk({} if chunks is None else {"event": chunks}))
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
