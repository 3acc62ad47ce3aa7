"""Waveforms in physical units: raw counts times the per-channel factor declared in the schema."""

from __future__ import annotations

from collections.abc import Iterable

import xarray as xr

from idex.schema import Schema, load_schema

__all__ = ["calibrated", "schema_of"]


def schema_of(ds: xr.Dataset) -> Schema:
    """The schema an event Dataset was decoded with (from its ``idex_schema`` attribute)."""
    name = ds.attrs.get("idex_schema")
    if not name:
        raise KeyError("the dataset has no 'idex_schema' attribute: it was not made by idex.open_raw")
    return load_schema(name)


def calibrated(ds: xr.Dataset, channels: Iterable[str] | None = None) -> xr.Dataset:
    """Convert waveform channels from counts to physical units (pC for charge, mA for TOF).

    Parameters
    ----------
    ds : xarray.Dataset
        Event model from :func:`idex.open_raw`.
    channels : iterable of str, optional
        Channels to convert (default: every channel with a calibration factor).

    Returns
    -------
    xarray.Dataset
        ``float64`` waveforms (fill-value samples become NaN) with ``units`` and
        ``calibration_factor`` attributes; works lazily on dask-backed data.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> ds.idex.calibrated()["target_low"].attrs["units"]
    'pC'
    """
    schema = schema_of(ds)
    names = list(channels) if channels is not None else [
        name for name, c in schema.channels.items() if c.calibration_factor is not None and name in ds]
    out = {}
    for name in names:
        channel = schema.channels[name]
        if channel.calibration_factor is None:
            raise KeyError(f"schema {schema.name!r} has no calibration factor for {name!r}")
        raw = ds[name]
        values = raw.where(raw != channel.fill_value) * channel.calibration_factor
        values.attrs = {**raw.attrs, "units": channel.calibration_units, "calibration_factor": channel.calibration_factor,
                        "long_name": f"{raw.attrs.get('long_name', name)} ({channel.calibration_units})"}
        values.attrs.pop("fill_value_used", None)
        out[name] = values
    return xr.Dataset(out, attrs=ds.attrs)
