"""What writing a CDF builds in memory, checked before anything is built.

``cdflib.xarray_to_cdf``, the CDF writer, builds every variable whole (it replaces NaN by the fill value
in all of them, then converts each to bytes) and a CDF variable cannot be appended to once written, so
a CDF cannot be written in blocks of rows as the netCDF writer does. The event model holds some
variables lazily (:mod:`idex.model.waveform_rows`: rows of events that carry no packet of a channel, or a
one-word fragment; the trigger-relative clocks): a few kB of minimal packets, each a new event, declare
gigabytes of them (1 MB of one-fragment packets: 21 845 events, 358 MB per TOF channel).
:func:`check_cdf_memory` adds up what those variables become when built and refuses, before anything is
built or created, when that exceeds both ``cdf_lazy_max_ratio`` times what the data set holds and
``always_allowed_bytes`` (``defs/file_limits.yaml``), naming the variables and the figures.

Writing such rows as CDF sparse records (cdflib's ``write_var`` with ``Sparse: "pad_sparse"``) would not bound
it: ``xarray_to_cdf`` cannot be asked for them, the row of a one-fragment event is a record all the same, and
readers pad the missing records (cdflib builds them; idex's own reader refuses a file declaring far more than
it stores, :mod:`idex.io.preflight`). netCDF/HDF5 writes these variables in blocks of rows instead.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from xarray.core import indexing

from idex.exceptions import ExportError
from idex.resources import data_dir, read_yaml

__all__ = ["check_cdf_memory"]

_LAZY = (indexing.LazilyIndexedArray, indexing.LazilyVectorizedIndexedArray)
"""How the model holds variables filled on demand (a file opened lazily is wrapped differently: it is held)."""


def _built_bytes(variable: xr.Variable) -> int:
    """Bytes of ``variable`` as one array."""
    return int(variable.size) * variable.dtype.itemsize


def _filled_on_demand(variable: xr.Variable) -> bool:
    """True for a variable the model fills when read (its rows or clock built from less than their size)."""
    return isinstance(variable._data, _LAZY)  # xarray has no public test (.data would build it)


def check_cdf_memory(variables: xr.Dataset, target: Path) -> None:
    """Refuse to write ``target`` if cdflib would build far more than ``variables`` holds.

    Parameters
    ----------
    variables : xarray.Dataset
        The variables the CDF is made from (before the profile's renaming, which builds them).
    target : pathlib.Path
        The CDF file, for the message.

    Raises
    ------
    ExportError
        One line naming the file, the largest lazily held variables, what building them would take, the
        ceiling, and the netCDF output that writes them in blocks instead.
    """
    lazy = {str(name): _built_bytes(v) for name, v in variables.variables.items() if _filled_on_demand(v)}
    built = sum(lazy.values())
    held = sum(_built_bytes(v) for name, v in variables.variables.items() if str(name) not in lazy)
    limits = read_yaml(data_dir("defs") / "file_limits.yaml")  # the readers' limits too
    ceiling = max(int(limits["always_allowed_bytes"]), int(limits["cdf_lazy_max_ratio"]) * held)
    if built <= ceiling:
        return
    largest = sorted(lazy, key=lambda name: -lazy[name])
    named = ", ".join(f"{name} {_mb(lazy[name])}" for name in largest[:3])
    more = f" and {len(largest) - 3} more" if len(largest) > 3 else ""
    raise ExportError(
        f"cannot write {target.name}: cdflib would build {_mb(built)} of variables held lazily ({named}{more}; "
        f"{variables.sizes.get('event', 0)} events), over the ceiling of {_mb(ceiling)} "
        f"({limits['cdf_lazy_max_ratio']}x the {_mb(held)} the data hold, at least "
        f"{_mb(int(limits['always_allowed_bytes']))}); nothing written: write {target.with_suffix('.nc').name} "
        "instead (netCDF writes them in blocks of rows) or select fewer events"
    )


def _mb(size: int) -> str:
    """``size`` bytes in MB, to one decimal.

    Examples
    --------
    >>> _mb(357_781_410)
    '357.8 MB'
    """
    return f"{size / 1e6:.1f} MB"
