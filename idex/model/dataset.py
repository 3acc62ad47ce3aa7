"""Build the event model (``xarray.Dataset`` with dimension ``event``) from assembled events.

Names, dimensions, units and descriptions all come from the schema. Waveforms stay compact
``uint16`` counts on their own sample dimension per sampling rate; each sample dimension has a 1-D
time coordinate (µs from the start of the record), and per-event trigger times give the time
relative to the trigger as lazy 2-D coordinates (``time_from_trigger_high``): computed only for the
rows that are looked at, so ``ds.tof_high.isel(event=0).plot(x="time_from_trigger_high")`` costs one row
and the capture's peak memory does not grow (:mod:`idex.model.trigger_clocks`). Writers drop them; readers attach
them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from idex._version import __version__
from idex.model.classify import classify
from idex.model.housekeeping import convert_housekeeping
from idex.model.provenance import schema_attributes
from idex.model.quality import QualityFlag
from idex.model.timing import met_to_utc
from idex.model.trigger_clocks import (
    EVENT,
    stored_form,
    trigger_clock,
    trigger_clock_name,
    waveform_channels,
    with_trigger_clocks,
)
from idex.model.waveform_rows import WaveformRows, constant_column, event_column
from idex.schema import Channel, Schema

# stored_form, trigger_clock, waveform_channels and with_trigger_clocks live in idex.model.trigger_clocks; named
# here too, where they were first published
__all__ = [
    "channel_attrs",
    "empty_events_dataset",
    "events_dataset",
    "source_coordinate",
    "stored_form",
    "time_coordinate",
    "trigger_clock",
    "waveform_channels",
    "with_trigger_clocks",
]


@dataclass(frozen=True)
class ScienceEvents:
    """Events assembled from science packets, one row per event, sorted by event time and number.

    What decoding hands to the builder (:func:`idex.decode.assembly.assemble_events` makes it); defined here,
    in the layer below decoding, so that the model does not depend on how the bytes were read.

    Attributes
    ----------
    has_header : numpy.ndarray
        True where the event's header packet was found.
    packet_coarse, packet_fine : numpy.ndarray
        Spacecraft MET of the header packet (or of the event's first packet when the header is missing).
    subheader : dict
        Per-event sub-header fields (from the header packet, else the first packet).
    header : dict
        Event-header fields of the events that have a header packet (``has_header``), in event order; the others'
        fields are the dtype's maximum (fill value) and are not stored.
    waveforms : dict
        ``(event, sample)`` ``uint16`` waveforms, one per channel, stored only for the events that carry the
        channel when most do not (:mod:`idex.model.waveform_rows`).
    quality : numpy.ndarray
        :class:`~idex.model.quality.QualityFlag` bits per event.
    """

    has_header: np.ndarray
    packet_coarse: np.ndarray
    packet_fine: np.ndarray
    subheader: dict[str, np.ndarray]
    header: dict[str, np.ndarray]
    waveforms: dict[str, WaveformRows]
    quality: np.ndarray


def events_dataset(events: ScienceEvents, schema: Schema, *, source: str = "") -> xr.Dataset:
    """Turn assembled events into the labelled event model.

    Parameters
    ----------
    events : ScienceEvents
        Output of :func:`idex.decode.assembly.assemble_events`.
    schema : Schema
        The schema the events were decoded with.
    source : str
        Name of the capture, recorded in the global attributes.

    Returns
    -------
    xarray.Dataset
    """
    rows = np.flatnonzero(events.has_header)  # header fields and what follows from them: only these events
    values = _field_values(events, schema, rows)
    number_field = schema.subheader_field("event_number")
    data: dict[str, Any] = {}
    coords: dict[str, Any] = {
        EVENT: (
            EVENT,
            events.subheader[str(number_field.name)],
            {"long_name": "Event number", **_field_attrs(number_field)},
        ),
        "epoch": (
            EVENT,
            _event_epoch(events, schema, values, rows),
            {
                "long_name": "Impact time (UTC)",
                "standard_name": "time",
                "description": "Trigger time stamped in the event header (sub-header event time when the header "
                "is missing), MET converted to UTC with leap seconds",
            },
        ),
        "source": source_coordinate(source, events.subheader[str(number_field.name)].size),
    }
    data["packet_epoch"] = (
        EVENT,
        _utc(events.packet_coarse, events.packet_fine, schema),
        {
            "long_name": "Spacecraft time of the event-header packet (UTC)",
            "description": "Secondary-header MET of the header packet converted to UTC with leap seconds",
        },
    )
    for field, array in zip(schema.packet_time_fields, (events.packet_coarse, events.packet_fine), strict=True):
        data[str(field.name)] = (EVENT, array, _field_attrs(field))
    for field in schema.subheader:
        if field.name and field.per_event and field.name != number_field.name:
            data[field.name] = (EVENT, events.subheader[field.name], _field_attrs(field))
    n_events = events.has_header.size
    for field in schema.header_fields:
        if field.name:
            column = event_column(events.header[field.name], rows, n_events, np.iinfo(field.dtype).max)
            data[field.name] = (EVENT, column, _field_attrs(field))
    for name, array, fill, attrs in [
        *_derived(schema, values, rows.shape),
        *convert_housekeeping(events.header, schema),
    ]:
        data[name] = (EVENT, event_column(array, rows, n_events, fill), attrs)
    for channel in schema.channels.values():
        data[channel.name] = ((EVENT, channel.dim), events.waveforms[channel.name].data(), channel_attrs(channel))
        coords[channel.time] = time_coordinate(channel.dim, channel.n_samples, channel.sample_period_us)
        if channel.trigger_time in data:  # the lazy trigger-relative clock, built with the rest (one merge)
            coords[trigger_clock_name(channel.time)] = trigger_clock(
                xr.Variable(*coords[channel.time][:2]),
                xr.Variable(*data[channel.trigger_time][:2]),
                channel.trigger_time,
            )
    data["quality_flags"] = (
        EVENT,
        events.quality,
        {"long_name": "Event quality flags", **QualityFlag.flag_attributes()},
    )
    if schema.classification is not None:  # the mission's event flags, in the same construction (one merge)
        data.update(classify(_classification_inputs(data, coords, schema), schema, events.waveforms))
    return xr.Dataset(data, coords=coords, attrs=_global_attrs(schema, source))


def _classification_inputs(data: Mapping[str, Any], coords: Mapping[str, Any], schema: Schema) -> xr.Dataset:
    """The few variables :func:`idex.model.classify.classify` reads, as a small Dataset."""
    spec = schema.classification
    assert spec is not None
    names = {
        spec.trigger_id,
        spec.pulser_threshold_field,
        *spec.trigger_modes.values(),
        *schema.channels,
        *(channel.trigger_time for channel in schema.channels.values()),
    }
    return xr.Dataset(
        {name: data[name] for name in names if name in data},
        coords={channel.time: coords[channel.time] for channel in schema.channels.values()},
    )


def source_coordinate(source: str, n_events: int) -> tuple[str, np.ndarray, dict[str, str]]:
    """The per-event ``source`` coordinate: the file each event was read from (kept through concatenation), one
    string filled lazily (a copy per event would cost 4 bytes a character, more than an event's other values)."""
    return (
        EVENT,
        constant_column(np.zeros(0, f"<U{max(len(source), 1)}"), n_events, source),
        {"long_name": "File the event was read from"},
    )


def channel_attrs(channel: Channel) -> dict[str, Any]:
    """Attributes of a waveform variable: the schema's, plus its fill value, clocks and calibration."""
    attrs = {
        **channel.attrs,
        "fill_value_used": channel.fill_value,
        "sample_bits": channel.sample_bits,
        "time": channel.time,
        "trigger_time": channel.trigger_time,
    }
    if channel.calibration_factor is not None:
        attrs.update(calibration_factor=channel.calibration_factor, calibration_units=channel.calibration_units)
    return attrs


def time_coordinate(dim: str, n_samples: int, period_us: float) -> tuple[str, np.ndarray, dict[str, Any]]:
    """A 1-D sample clock: µs from the start of the record (``arange``, not ``linspace``)."""
    return (
        dim,
        np.arange(n_samples) * period_us,
        {"long_name": f"Time from the start of the {dim} record", "units": "us", "sample_rate_mhz": 1 / period_us},
    )


def empty_events_dataset(schema: Schema, *, source: str = "") -> xr.Dataset:
    """An event model with zero events (for captures without science packets)."""
    header = {f.name: np.zeros(0, f.dtype) for f in schema.header_fields if f.name}
    events = ScienceEvents(
        has_header=np.zeros(0, bool),
        packet_coarse=np.zeros(0, np.uint32),
        packet_fine=np.zeros(0, np.uint16),
        subheader={f.name: np.zeros(0, f.dtype) for f in schema.subheader if f.name and f.per_event},
        header=header,
        waveforms={
            c.name: WaveformRows.dense(np.zeros((0, c.n_samples), np.uint16), c.fill_value)
            for c in schema.channels.values()
        },
        quality=np.zeros(0, np.uint16),
    )
    return events_dataset(events, schema, source=source)


def _field_attrs(field: Any) -> dict[str, Any]:
    attrs = dict(field.attrs)
    attrs.setdefault("bits", field.bits)
    return attrs


def _field_values(events: ScienceEvents, schema: Schema, rows: np.ndarray) -> dict[str, Any]:
    """Constants and every decoded field of the events ``rows`` (those with a header) as int64, the namespace of
    schema expressions."""
    every = rows.size == events.has_header.size
    values: dict[str, Any] = dict(schema.constants)
    values.update({name: array.astype(np.int64) for name, array in events.header.items()})
    values.update({name: (a if every else a[rows]).astype(np.int64) for name, a in events.subheader.items()})
    return values


def _utc(coarse: np.ndarray, fine: np.ndarray, schema: Schema) -> np.ndarray:
    return met_to_utc(coarse, fine, epoch=schema.met_epoch, fine_tick_s=schema.fine_tick_s)


def _event_epoch(events: ScienceEvents, schema: Schema, values: dict[str, Any], rows: np.ndarray) -> np.ndarray:
    """Impact time from the header's time fields (evaluated for the events ``rows``, which have one); sub-header
    event time where the header is missing."""
    coarse = np.broadcast_to(schema.event_coarse.evaluate(values), rows.shape)
    fine = np.broadcast_to(schema.event_fine.evaluate(values), rows.shape)
    fallback = events.subheader[schema.roles["event_time"]]
    met = fallback.astype(np.result_type(coarse, np.int64))
    met[rows] = coarse
    ticks = np.zeros(fallback.shape, np.result_type(fine, np.int64))
    ticks[rows] = fine
    return _utc(met, ticks, schema)


def _derived(
    schema: Schema, values: dict[str, Any], shape: tuple[int, ...]
) -> list[tuple[str, np.ndarray, Any, dict[str, Any]]]:
    """Evaluate the schema's derived quantities for the events of ``values`` (those with a header, ``shape``):
    ``(name, values, fill, attrs)``, the fill (NaN or the integer maximum) being the value of the events without a
    header."""
    values = dict(values)
    out = []
    with np.errstate(all="ignore"):
        for item in schema.derived:
            result = np.broadcast_to(np.asarray(item.expression.evaluate(values)), shape)
            values[item.name] = result
            dtype = item.dtype or (np.dtype(np.float64) if result.dtype.kind == "f" else np.dtype(np.int64))
            fill = np.nan if dtype.kind == "f" else np.iinfo(dtype).max
            out.append((item.name, result.astype(dtype), fill, {**item.attrs, "expression": item.expression.source}))
    return out


def _global_attrs(schema: Schema, source: str) -> Mapping[str, Any]:
    attrs = {
        "title": "IDEX dust-impact events",
        "source": source,
        **schema_attributes(schema),  # the schema itself: analyses use exactly the one the data were decoded with
        "idex_version": __version__,
        "Conventions": "CF-1.10",
    }
    attrs.update(schema.attrs)
    return attrs
