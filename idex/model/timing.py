"""Spacecraft clock (MET) to UTC ``datetime64``.

IMAP's mission elapsed time counts SI seconds since its epoch (2010-01-01T00:00:00 UTC, declared in
each schema's ``time.met_epoch``); the fine field counts 20 µs ticks. UTC is that epoch plus the
elapsed seconds *minus the leap seconds inserted since* (``defs/leap_seconds.csv``), which is what
the mission's TT2000 conversion gives, without needing SPICE kernels. ``datetime64`` cannot hold a
23:59:60: a time inside an inserted leap second maps onto the second before it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from idex.exceptions import MissingKeyError
from idex.resources import data_dir

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["leap_second_dates", "met_to_utc", "time_from_trigger"]


@lru_cache(maxsize=1)
def leap_second_dates() -> np.ndarray:
    """UTC dates (``datetime64[ns]``) at whose start a leap second had just been inserted."""
    lines = (data_dir("defs") / "leap_seconds.csv").read_text(encoding="utf-8").splitlines()
    rows = [line.split(",")[0] for line in lines if line and not line.startswith(("#", "date"))]
    return np.array(rows, dtype="datetime64[ns]")


def met_to_utc(coarse: np.ndarray, fine: np.ndarray, *, epoch: np.datetime64, fine_tick_s: float) -> np.ndarray:
    """Convert MET (whole seconds + fine ticks) to UTC.

    Parameters
    ----------
    coarse, fine : numpy.ndarray
        Whole seconds and fine ticks since ``epoch``.
    epoch : numpy.datetime64
        UTC instant of MET zero.
    fine_tick_s : float
        Length of one fine tick in seconds.

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]`` UTC times.

    Examples
    --------
    >>> met_to_utc(np.array([0]), np.array([50000]), epoch=np.datetime64("2010-01-01", "ns"), fine_tick_s=20e-6)
    array(['2010-01-01T00:00:01.000000000'], dtype='datetime64[ns]')
    """
    elapsed_ns = coarse.astype(np.int64) * 1_000_000_000 + np.rint(fine.astype(np.float64) * fine_tick_s * 1e9).astype(
        np.int64
    )
    leaps = leap_second_dates()
    leaps = leaps[leaps > epoch]
    # Leap second k (counted from 0 after the epoch) occupies elapsed time (date_k - epoch) + k seconds.
    thresholds = (leaps - epoch).astype(np.int64) + np.arange(leaps.size, dtype=np.int64) * 1_000_000_000
    inserted = np.searchsorted(thresholds, elapsed_ns, side="right")
    return epoch + (elapsed_ns - inserted * 1_000_000_000).astype("timedelta64[ns]")


def time_from_trigger(ds: xr.Dataset, channel: str) -> xr.DataArray:
    """Sample times of ``channel`` relative to each event's trigger (µs), shape ``(event, sample)`` (``ds.idex.time``).

    The channel's ``time`` and ``trigger_time`` attributes name its sample clock and the event's trigger time.

    Raises
    ------
    MissingKeyError
        If ``channel`` is not in ``ds`` or does not name its clocks.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> time_from_trigger(ds, "tof_high").dims
    ('event', 'sample_high')
    """
    if channel not in ds:
        raise MissingKeyError(f"no waveform channel {channel!r} in the event model")
    attrs = ds[channel].attrs
    if "time" not in attrs or "trigger_time" not in attrs:
        raise MissingKeyError(f"{channel!r} names no sample clock (attributes 'time' and 'trigger_time')")
    relative = ds[attrs["time"]] - ds[attrs["trigger_time"]]
    relative.attrs = {"long_name": f"Time of {channel} relative to the trigger", "units": "us"}
    return relative.transpose("event", ...)
