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
that names the file and says what it is.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import xarray as xr

from idex._typing import PathLike
from idex.exceptions import ProductError
from idex.model.dataset import with_trigger_clocks

__all__ = ["kind_of", "open"]

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
        raise ProductError(f"{path}: a {'CSV table' if kind == 'csv' else 'text file'}, not an event file idex can "
                           "read (CSV is an export for spreadsheets; open the .nc, .h5 or .cdf instead)")
    from idex.decode.raw import open_raw

    tree = open_raw(path, schema=schema, strict=strict)
    if tree["packets"].sizes["packet"] == 0:
        raise ProductError(f"{path}: no CCSDS packet found: not a telemetry capture")
    return tree["events"].to_dataset()


def _open_netcdf(path: Path) -> xr.Dataset:
    with xr.open_datatree(path) as tree:
        node = tree["events"] if "events" in tree.children else tree
        ds = node.to_dataset().load()
    if "event" not in ds.dims:
        raise ProductError(f"{path}: a netCDF/HDF5 file without an 'event' dimension: not an idex event file")
    return with_trigger_clocks(ds)


def _open_cdf(path: Path) -> xr.Dataset:
    from idex.io.products import open_cdf

    return open_cdf(path)
