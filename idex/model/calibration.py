"""Waveforms in physical units: raw counts times the per-channel factor declared in the schema."""

from __future__ import annotations

from collections.abc import Iterable

import xarray as xr

from idex.exceptions import MissingKeyError
from idex.model.provenance import schema_of

# schema_of lives in idex.model.provenance; named here too, where it was first published
__all__ = ["calibrated", "schema_of"]


def calibrated(ds: xr.Dataset, channels: Iterable[str] | None = None) -> xr.Dataset:
    """Convert waveform channels to physical units (pC for charge, mA for TOF).

    Each channel carries its factor and units as the attributes ``calibration_factor`` and
    ``calibration_units`` (set from the schema or scope setup when the data were read).

    Parameters
    ----------
    ds : xarray.Dataset
        Event model from :func:`~idex.decode.raw.open_raw`.
    channels : iterable of str, optional
        Channels to convert (default: every channel with a calibration factor).

    Returns
    -------
    xarray.Dataset
        ``float64`` waveforms (fill-value samples become NaN) with ``units``; works lazily on
        dask-backed data.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> ds.idex.calibrated()["target_low"].attrs["units"]
    'pC'
    """
    names = (
        list(channels)
        if channels is not None
        else [name for name, v in ds.data_vars.items() if "calibration_factor" in v.attrs]
    )
    out = {}
    for name in names:
        raw = ds[name]
        if "calibration_factor" not in raw.attrs:
            raise MissingKeyError(f"{name!r} has no calibration_factor attribute (its schema declares no calibration)")
        factor, units = raw.attrs["calibration_factor"], raw.attrs["calibration_units"]
        values = raw.where(raw != raw.attrs["fill_value_used"]) if "fill_value_used" in raw.attrs else raw
        values = values * factor
        values.attrs = {**raw.attrs, "units": units}  # xarray's labels add the units: "long name [mA]"
        values.attrs.pop("fill_value_used", None)
        out[name] = values
    return xr.Dataset(out, attrs=ds.attrs)
