"""The time of every sample from its channel's trigger, as lazy 2-D coordinates of the event model.

Each waveform names its 1-D record clock (``time``, µs from the start of the record) and its per-event trigger time
(``trigger_time``). ``time_from_trigger_*`` = clock - trigger is an ``(event, sample)`` coordinate computed only
for the rows that are looked at, through xarray's lazy indexing (``xarray.core.indexing``, the way its own backends
defer reads), so ``ds.tof_high.isel(event=0).plot(x="time_from_trigger_high")`` costs one row and the capture's
peak memory does not grow. Writers drop them (:func:`stored_form`); readers attach them again
(:func:`with_trigger_clocks`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

__all__ = [
    "EVENT",
    "stored_form",
    "trigger_clock",
    "trigger_clock_name",
    "waveform_channels",
    "with_trigger_clocks",
]

EVENT = "event"
"""The event dimension of the model."""


class _TriggerRelativeClock(BackendArray):
    """``clock[sample] - trigger[event]`` computed for the requested rows only (xarray's lazy indexing)."""

    def __init__(self, clock: np.ndarray, trigger: np.ndarray) -> None:
        self.shape = (trigger.size, clock.size)
        self.dtype = np.dtype(np.float64)
        self._clock, self._trigger = clock, trigger

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._outer)

    def _outer(self, key: tuple[Any, Any]) -> np.ndarray:
        rows, samples = key
        return np.add.outer(-np.asarray(self._trigger[rows], np.float64), self._clock[samples])


def trigger_clock_name(clock: str) -> str:
    """Name of the trigger-relative clock of a record clock: ``time_high`` -> ``time_from_trigger_high``."""
    return "time_from_trigger" + clock.removeprefix("time") if clock.startswith("time") else f"{clock}_from_trigger"


def with_trigger_clocks(ds: xr.Dataset) -> xr.Dataset:
    """Attach the lazy 2-D ``time_from_trigger_*`` coordinates (µs) of every sampling clock of ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model whose waveforms name their ``time`` (1-D record clock) and ``trigger_time``.

    Returns
    -------
    xarray.Dataset
        ``ds`` with one ``(event, sample)`` coordinate per clock, values ``time - trigger_time``.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> float(ds.tof_high.isel(event=0).time_from_trigger_high[0]) == -float(ds.trigger_time_high[0])
    True
    """
    variables = ds.variables
    clocks = {}
    for name in waveform_channels(ds):
        attrs = variables[name].attrs
        clock, trigger = variables[attrs["time"]], variables[attrs["trigger_time"]]
        if clock.ndim == 1 and trigger.dims == (EVENT,):
            clocks[trigger_clock_name(attrs["time"])] = trigger_clock(clock, trigger, attrs["trigger_time"])
    return ds.assign_coords(clocks)


def trigger_clock(clock: xr.Variable, trigger: xr.Variable, trigger_name: str) -> xr.Variable:
    """The lazy ``(event, sample)`` clock ``clock - trigger`` (µs) of one sampling rate."""
    lazy = indexing.LazilyIndexedArray(_TriggerRelativeClock(np.asarray(clock.values), np.asarray(trigger.values)))
    return xr.Variable(
        (EVENT, clock.dims[0]), lazy, {"long_name": f"Time from the trigger ({trigger_name})", "units": "us"}
    )


def stored_form(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without the derived trigger-relative clocks (what writers store; readers attach them again)."""
    derived = {trigger_clock_name(ds[name].attrs["time"]) for name in waveform_channels(ds)}
    return ds.drop_vars([name for name in ds.coords if name in derived and ds[name].ndim == 2])


def waveform_channels(ds: xr.Dataset) -> list[str]:
    """Names of the waveform variables of an event model (those that name their clock and trigger time)."""
    variables = ds.variables  # plain Variables: no DataArray built per name
    return [
        str(name)
        for name in ds.data_vars
        if variables[name].ndim == 2 and "time" in variables[name].attrs and "trigger_time" in variables[name].attrs
    ]
