"""Waveforms in physical units: raw counts times the per-channel factor declared in the schema."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import xarray as xr

from idex._typing import PathLike
from idex.exceptions import MissingKeyError, SchemaError, ValidationResult
from idex.schema import Schema, load_schema, registered_name, schema_from_text

__all__ = ["calibrated", "schema_of"]


def schema_of(ds: xr.Dataset, schema: str | PathLike | Schema | None = None) -> Schema:
    """The schema an event Dataset was decoded with, or ``schema`` when one is given.

    A dataset carries its schema's YAML text (``idex_schema_yaml``, with its hash ``idex_schema_sha256``)
    through every writer, so the very schema it was decoded with is used, wherever it came from and
    whatever files now share its name. Datasets without the text (official products, files from before
    it was kept) fall back to the schema named by ``idex_schema``.

    Raises
    ------
    KeyError
        If the dataset names no schema (it was not made by idex).
    SchemaError
        If the embedded text does not match its hash (or has none) or is not a valid schema, or
        ``idex_schema`` names no shipped or registered schema (a data attribute never names a file).
    """
    if schema is not None:
        return load_schema(schema)
    text = ds.attrs.get("idex_schema_yaml")
    if text:
        expected = ds.attrs.get("idex_schema_sha256")
        if hashlib.sha256(str(text).encode("utf-8")).hexdigest() != expected:  # checked before it is even parsed
            result = ValidationResult("the 'idex_schema_yaml' attribute of the data")
            result.add("hash", "idex_schema_yaml", "does not match its hash 'idex_schema_sha256' (edited, or no hash)")
            raise SchemaError(result)
        return schema_from_text(str(text), source=f"<schema {ds.attrs.get('idex_schema', '')!s} carried by the data>")
    name = ds.attrs.get("idex_schema")
    if not name:
        raise MissingKeyError("the dataset has no 'idex_schema' attribute: it was not made by idex.open_raw")
    return load_schema(registered_name(name, "idex_schema"))


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
