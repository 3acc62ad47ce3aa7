"""Structure checks of a netCDF/HDF5/CDF file before anything is loaded from it.

A file of a few kB can declare a variable of gigabytes that it never stores: an HDF5 dataset never
written reads back as fill values, and CDF records past the last one written (sparse records) are
padded by the reader. Loading either would allocate the declared size. An HDF5 file can also make its
reader read other files (external storage, virtual datasets, external links: any path, ``/etc/passwd``
included), which a data file may never do. Each reader therefore calls
:func:`check_structure` first: it reads only the metadata (dimensions, record counts, declared and
stored sizes) and refuses, naming the file and the variable, any variable that declares far more
than the file stores for it. The limits are in ``defs/file_limits.yaml``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from idex._typing import PathLike
from idex.exceptions import IdexError, ProductError
from idex.resources import data_dir, read_yaml

__all__ = ["CORRUPTION", "check_structure", "read_checked"]

T = TypeVar("T")

_HDF5 = b"\x89HDF\r\n\x1a\n"
_NETCDF3 = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


CORRUPTION: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,
    EOFError,
    MemoryError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    ZeroDivisionError,
    struct.error,
    zlib.error,
    UnicodeDecodeError,
)
"""What cdflib raises on damaged bytes: whatever error the bytes lead it to."""


def read_checked(path: PathLike, read: Callable[[PathLike], T], what: str) -> T:
    """``read(path)`` after :func:`check_structure`; a damaged file is refused with a
    :class:`~idex.exceptions.ProductError` naming it.

    Parameters
    ----------
    path : str or path
        The file.
    read : callable
        The reader; its own :class:`~idex.exceptions.IdexError` pass through unchanged.
    what : str
        What the file should be, for the message (``"IDEX science CDF"``).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    check_structure(path)  # declared sizes against what the file stores, before anything is loaded
    try:
        return read(path)
    except IdexError:
        raise
    except CORRUPTION as error:
        raise ProductError(
            f"{path}: not a readable {what} (truncated or corrupted: {type(error).__name__}: {error})"
        ) from error


@cache
def _limits() -> dict[str, Any]:
    return dict(read_yaml(data_dir("defs") / "file_limits.yaml"))


def check_structure(path: PathLike) -> None:
    """Refuse ``path`` if a variable declares far more data than the file stores for it.

    Parameters
    ----------
    path : str or path
        A netCDF-3, netCDF-4/HDF5 or CDF file (other files are left to their readers).

    Each variable is compared with what the file stores for it, and all of them together with the file's
    size (many variables each within the limit, never written, add up as one large one would).

    Raises
    ------
    ProductError
        Naming the file, the variable (the largest one for the total), its declared shape and size, and what
        the file stores.
    """
    path = Path(os.fspath(path))
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(_HDF5):
        sizes = _hdf5_sizes(path)
    elif head.startswith(_NETCDF3):
        sizes = _netcdf3_sizes(path)
    elif head[:4] in (bytes.fromhex("cdf30001"), bytes.fromhex("cdf26002"), bytes.fromhex("0000ffff")):
        sizes = _cdf_sizes(path)
    else:
        return
    limits = _limits()
    for name, shape, declared, stored in sizes:
        if declared > limits["always_allowed_bytes"] and declared > limits["max_expansion"] * max(stored, 1):
            raise ProductError(
                f"{path}: variable {name!r} declares {' x '.join(map(str, shape))} values ({declared / 1e9:.2f} GB) "
                f"but the file stores {stored} bytes for it: not loaded (a crafted or damaged file)"
            )
    total, size = sum(declared for *_, declared, _ in sizes), path.stat().st_size
    if total > limits["always_allowed_bytes"] and total > limits["max_expansion"] * max(size, 1):
        name, shape, largest, _ = max(sizes, key=lambda entry: entry[2])
        raise ProductError(
            f"{path}: its {len(sizes)} variables declare {total / 1e9:.2f} GB in all (the largest, {name!r}, "
            f"{' x '.join(map(str, shape))} values: {largest / 1e9:.2f} GB) but the file has {size} bytes: "
            "not loaded (a crafted or damaged file)"
        )


def _hdf5_sizes(path: Path) -> list[tuple[str, tuple, int, int]]:
    import h5py

    sizes: list[tuple[str, tuple, int, int]] = []
    elsewhere: list[tuple[str, str]] = []  # (name, how): what the file would read from other files

    def link(name: str, info: Any) -> None:
        if isinstance(info, h5py.ExternalLink):
            elsewhere.append((name, "an external link"))

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            if item.external or item.is_virtual:
                elsewhere.append((name, "external storage" if item.external else "a virtual dataset"))
            declared = int(np.prod(item.shape, dtype=np.float64) * item.dtype.itemsize)
            sizes.append((name, item.shape, declared, int(item.id.get_storage_size())))

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems_links(link)
            if not elsewhere:  # external links are not followed
                handle.visititems(visit)
    except (OSError, ValueError) as error:
        raise ProductError(f"{path}: not a readable HDF5/netCDF-4 file ({type(error).__name__})") from None
    if elsewhere:  # a data file never names a path that idex would read
        name, how = elsewhere[0]
        raise ProductError(
            f"{path}: {name!r} reads from another file ({how}; {len(elsewhere)} such object(s)): not loaded "
            "(a data file may not make idex read other files)"
        )
    return sizes


def _netcdf3_sizes(path: Path) -> list[tuple[str, tuple, int, int]]:
    import netCDF4

    size = path.stat().st_size
    try:
        with netCDF4.Dataset(path) as handle:
            return [
                (name, var.shape, int(np.prod(var.shape, dtype=np.float64) * var.dtype.itemsize), size)
                for name, var in handle.variables.items()
                if isinstance(var.dtype, np.dtype)
            ]
    except OSError as error:
        raise ProductError(f"{path}: not a readable netCDF-3 file ({type(error).__name__})") from None


def _cdf_sizes(path: Path) -> list[tuple[str, tuple, int, int]]:
    import cdflib

    size, type_bytes = path.stat().st_size, _limits()["cdf_type_bytes"]
    try:
        cdf = cdflib.CDF(str(path))
        sizes = []
        for name in cdf.cdf_info().zVariables:
            info = cdf.varinq(name)
            shape = (info.Last_Rec + 1 if info.Rec_Vary else 1, *info.Dim_Sizes)
            item = type_bytes.get(info.Data_Type, 16) * info.Num_Elements
            sizes.append((name, shape, int(np.prod(shape, dtype=np.float64) * item), size))
    except Exception as error:  # noqa: BLE001 - cdflib reports damage with whatever error the bytes lead to
        raise ProductError(f"{path}: not a readable CDF ({type(error).__name__})") from None
    return sizes
