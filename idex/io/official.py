"""The mission's own L1a variable names and attributes (the ``official`` CDF profile), and back.

One declarative mapping, ``defs/official_l1a_profile.yaml`` (generated from an official L1a product),
lists every official variable with its CDF type, ISTP attributes and where its values live in the
event model (``source``) or how they are built from it (``derived``). The writer here and the
reader of official products both use it, so they cannot drift apart. Variables the profile lists
under ``not_produced`` (spare and sync/CRC words) are not written.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import ProductError
from idex.io.cdf_attributes import plain_attribute as _plain
from idex.io.preflight import read_checked
from idex.model.calibration import schema_of
from idex.model.quality import QualityFlag
from idex.model.timing import time_from_trigger
from idex.resources import data_dir, read_yaml

__all__ = ["official_dataset", "profile", "read_official"]

_DTYPES = {"CDF_INT8": np.int64, "CDF_UINT1": np.uint8, "CDF_DOUBLE": np.float64, "CDF_CHAR": str}


@lru_cache(maxsize=1)
def profile() -> dict[str, Any]:
    """The parsed ``defs/official_l1a_profile.yaml``."""
    return read_yaml(data_dir("defs") / "official_l1a_profile.yaml")


def official_dataset(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` under the official L1a names, types and attributes, ready for ``cdflib.xarray_to_cdf``."""
    schema = schema_of(ds)
    fields = {f.name: f for f in (*schema.subheader, *schema.header_fields) if f.name}
    variables: dict[str, Any] = {}
    for name, entry in profile()["variables"].items():
        attrs = dict(entry["attrs"])
        dims = [attrs[f"DEPEND_{axis}"] for axis in range(3) if f"DEPEND_{axis}" in attrs]
        if "source" in entry and entry["source"] not in ds:  # a field of another packet version: fill value
            values = np.full(ds.sizes["event"], attrs["FILLVAL"])
            attrs["VAR_NOTES"] = f"not in packet version {schema.name}: fill value"
        elif "source" in entry:
            values = _with_official_fill(ds[entry["source"]], attrs)
            field = fields.get(entry["source"])
            if field is not None and field.enumeration and entry["cdf_type"] == "CDF_CHAR":
                values = np.array([field.enumeration.get(int(v), " ") for v in values])
        else:
            kind, channel = entry["derived"].split(":")
            if kind == "time_from_trigger":
                values = time_from_trigger(ds, channel).values
            else:  # sample_index / sample_label
                values = np.arange(ds.sizes[schema.channels[channel].dim])
                values = values.astype(str) if kind == "sample_label" else values
            dims = dims or [name]
        if entry["cdf_type"] != "CDF_TIME_TT2000":
            values = np.asarray(values).astype(_DTYPES[entry["cdf_type"]])
        if name == "epoch":
            dims = ["epoch"]
        variables[name] = (dims, values, attrs)
    out = xr.Dataset(variables)
    out.attrs = dict(profile()["global_attributes"])
    return out


def _with_official_fill(variable: xr.DataArray, attrs: dict[str, Any]) -> np.ndarray:
    """The values of ``variable``, its events of a packet version lacking it (``fill_value_used``, see
    :func:`idex.model.versions.combine_versions`) holding the official FILLVAL instead."""
    values = variable.values
    if "fill_value_used" not in variable.attrs or "FILLVAL" not in attrs or variable.ndim != 1:
        return values
    fill = variable.attrs["fill_value_used"]
    missing = np.isnan(values) if values.dtype.kind == "f" and np.isnan(fill) else values == fill
    return np.where(missing, np.array(attrs["FILLVAL"]), values) if missing.any() else values


def read_official(path: PathLike) -> xr.Dataset:
    """Read an official IDEX L1a or L1b science CDF into the event model.

    L1a products are rebuilt exactly as :func:`~idex.decode.raw.open_raw` builds the model (same names, dtypes,
    derived values and attributes) from the header fields and raw waveforms they carry; L1b products
    give the waveforms back in counts (dividing by the schema's calibration factors, checked to be
    whole), the housekeeping in engineering units and the time axes. Variables idex has no name for
    are kept under their official names. The packet version is chosen by the data's date.

    Parameters
    ----------
    path : str or path
        ``imap_idex_l1a_sci*.cdf`` or ``imap_idex_l1b_sci*.cdf``.

    Returns
    -------
    xarray.Dataset
    """
    return read_checked(path, _read_official, "IDEX science CDF")


"""What reading a damaged CDF raises inside cdflib and NumPy (``gzip.BadGzipFile`` is an ``OSError``)."""


def _read_official(path: PathLike) -> xr.Dataset:
    import cdflib

    from idex.schema import loadable_schemas

    cdf = cdflib.CDF(str(path))
    names = set(cdf.cdf_info().zVariables)
    source = str(cdf.globalattsget().get("Logical_source", [""])[0])
    if "TOF_High" not in names or "epoch" not in names:
        raise ProductError(f"{path} is not an IDEX science CDF (Logical_source {source!r})")
    epoch = np.array(cdflib.cdfepoch.to_datetime(cdf.varget("epoch")), dtype="datetime64[ns]")
    schemas = loadable_schemas()
    schema = next(
        (s for s in sorted(schemas, key=lambda s: s.valid_from, reverse=True) if epoch.size and s.covers(epoch[0])),
        max(schemas, key=lambda s: s.valid_from),
    )
    official_of = {entry["source"]: name for name, entry in profile()["variables"].items() if "source" in entry}
    if "idx__txhdrevtnum" in names:
        ds = _l1a_model(cdf, schema, official_of, Path(str(path)).name)
        used = {official_of[n] for n in official_of if official_of[n] in names}
    else:
        ds, used = _l1b_model(cdf, schema, epoch, Path(str(path)).name)
    extras = {}
    for name in sorted(names - used - {"epoch"}):
        attrs = {k: _plain(v) for k, v in cdf.varattsget(name).items()}
        if attrs.get("DEPEND_0") != "epoch" or name.endswith(("_sample_rate", "_label", "_index")):
            continue
        values = cdf.varget(name)
        if values.dtype.kind == "f" and "FILLVAL" in attrs:  # ISTP fill value -> NaN
            values = np.where(values == attrs["FILLVAL"], np.nan, values)
        dims = ["event"] + [f"{name}_dim_{i}" for i in range(1, np.ndim(values))]
        extras[name] = (
            dims,
            values,
            {
                "long_name": attrs.get("CATDESC", name),
                "units": str(attrs.get("UNITS", "")).strip(),
                "official_name": name,
            },
        )
    ds = ds.assign(extras)
    ds.attrs.update(official_logical_source=source, source=Path(str(path)).name)
    return ds


def _l1a_model(cdf: Any, schema: Any, official_of: dict[str, str], source: str) -> xr.Dataset:
    """Rebuild the model from the header fields and waveforms an L1a product carries."""
    from idex.model.dataset import ScienceEvents, events_dataset
    from idex.model.waveform_rows import WaveformRows

    n = int(cdf.varinq("epoch").Last_Rec + 1)
    missing = []

    def field_values(field: Any) -> np.ndarray:
        name = official_of.get(field.name if field.name != schema.roles["event_number"] else "event")
        if name is None:  # the official product dropped this field: fill value, named in the attributes
            missing.append(field.name)
            return np.full(n, np.iinfo(field.dtype).max, dtype=field.dtype)
        raw = cdf.varget(name)
        if raw.dtype.kind in "US" and field.enumeration:
            codes = {label: code for code, label in field.enumeration.items()}
            raw = np.array([codes[str(v)] for v in raw])
        return raw.astype(field.dtype)

    subheader = {f.name: field_values(f) for f in schema.subheader if f.name and f.per_event}
    header = {f.name: field_values(f) for f in schema.header_fields if f.name}
    coarse, fine = schema.packet_time_fields
    events = ScienceEvents(
        has_header=np.ones(n, bool),
        packet_coarse=cdf.varget("shcoarse").astype(coarse.dtype),
        packet_fine=cdf.varget("shfine").astype(fine.dtype),
        subheader=subheader,
        header=header,
        waveforms={
            c.name: WaveformRows.dense(cdf.varget(official_of[c.name]).astype(np.uint16), c.fill_value)
            for c in schema.channels.values()
        },
        quality=np.zeros(n, np.uint16),
    )
    ds = events_dataset(events, schema, source=source)  # flags recomputed from the waveforms, as open_raw does
    for name in missing:
        ds[name].attrs["comment"] = "not in the official product: fill value"
    return ds


def _l1b_model(cdf: Any, schema: Any, epoch: np.ndarray, source: str) -> tuple[xr.Dataset, set[str]]:
    """Waveforms back in counts, housekeeping in engineering units, time axes and trigger times."""
    from idex.model.dataset import channel_attrs, source_coordinate, time_coordinate, with_trigger_clocks

    official = {
        c.name: name
        for name, entry in profile()["variables"].items()
        if (c := schema.channels.get(entry.get("source", ""))) is not None
    }
    data: dict[str, Any] = {}
    coords: dict[str, Any] = {
        "event": ("event", np.arange(1, epoch.size + 1), {"long_name": "Row in the product"}),
        "epoch": ("event", epoch, {"long_name": "Impact time (UTC)", "standard_name": "time"}),
        "source": source_coordinate(source, epoch.size),
    }
    used = set(official.values())
    for channel in schema.channels.values():
        values = cdf.varget(official[channel.name]) / channel.calibration_factor
        counts = np.rint(values)
        if not np.allclose(values, counts, rtol=0, atol=1e-6):
            raise ProductError(
                f"{source}: {official[channel.name]} / {channel.calibration_factor} is not whole: "
                "the product was calibrated with other factors"
            )
        data[channel.name] = (("event", channel.dim), counts.astype(np.uint16), channel_attrs(channel))
        coords[channel.time] = time_coordinate(channel.dim, channel.n_samples, channel.sample_period_us)
    for axis, entry in profile()["variables"].items():  # the official 2-D time axes give the trigger times
        kind, _, channel_name = entry.get("derived", "").partition(":")
        if kind == "time_from_trigger":
            trigger = schema.channels[channel_name].trigger_time
            data[trigger] = (
                "event",
                -cdf.varget(axis)[:, 0],
                {"long_name": "Trigger time from the record start", "units": "us"},
            )
            used.add(axis)
    for item in schema.housekeeping:
        data[item.name] = ("event", cdf.varget(item.name), dict(item.attrs))
        used.add(item.name)
    for name in ("shcoarse", "shfine"):
        data[name] = ("event", cdf.varget(name), {"long_name": name})
        used.add(name)
    if "dead_time" in cdf.cdf_info().zVariables:  # official seconds -> the model's microseconds
        data["dead_time"] = (
            "event",
            cdf.varget("dead_time") * 1e6,
            {"long_name": "Dead time after the event", "units": "us"},
        )
        used.add("dead_time")
    for name, entry in profile()["variables"].items():  # the mission's event flags, copied through from L1a
        if entry.get("source") == name and name.endswith("_flag") and name in cdf.cdf_info().zVariables:
            data[name] = (
                "event",
                cdf.varget(name).astype(np.uint8),
                {"long_name": entry["attrs"]["CATDESC"], "flag_values": [0, 1]},
            )
            used.add(name)
    data["quality_flags"] = (
        "event",
        np.zeros(epoch.size, np.uint16),  # an L1b product carries no per-event flags
        {"long_name": "Event quality flags", **QualityFlag.flag_attributes()},
    )
    ds = xr.Dataset(data, coords=coords, attrs={"idex_schema": schema.name, "title": "IDEX dust-impact events"})
    return with_trigger_clocks(ds), used
