"""TOF peaks: find them in every event and fit each with the area-parameterised EMG, all in one call.

Peaks are found on the baseline-subtracted spectrum (prominence above a robust noise estimate); each
gets a window of ±``half_width_us`` around it (all windows cut at once, :func:`peak_windows`), and every
window of every event becomes one row of a single batched fit (:mod:`idex.fit.engine`) with the ``emg`` model,
from four starts, the best polished. Unlike the official pipeline's unit-area
EMG, the ``area`` parameter carries the peak's integral, and windows are wide enough to constrain the
tail. Results sit on an ``(event, peak)`` grid, padded with NaN.

Samples at the ADC limit (``2**sample_bits - 1``) take no part in a fit, and their peak is flagged
saturated. A peak counts as a success only when its fit reached a determined optimum (no parameter
on a bound) centred inside its window; only successful peaks get a mass, taken at the fitted
profile's maximum, the feature the mass calibration (:mod:`idex.science.mass`) locates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import xarray as xr
from scipy.signal import find_peaks

from idex.fit.engine import levenberg_marquardt
from idex.fit.models import MODELS
from idex.model.calibration import calibrated
from idex.model.quality import FitStatus
from idex.model.statistics import robust_sigma
from idex.model.timing import time_from_trigger

__all__ = ["PeakWindows", "fit_peaks", "peak_windows"]


def fit_peaks(
    ds: xr.Dataset, channel: str = "tof_high", *, max_peaks: int = 20, half_width_us: float = 0.1, min_snr: float = 6.0
) -> xr.Dataset:
    """Find and fit the TOF peaks of every event.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model (with a ``mass`` coordinate from ``ds.idex.mass()`` to get peak masses).
    channel : str
        TOF channel.
    max_peaks : int
        Keep the most prominent peaks per event.
    half_width_us : float
        Half width of each fit window, µs.
    min_snr : float
        Prominence threshold in units of the robust baseline noise (1.4826 MAD of the pre-trigger samples).

    Returns
    -------
    xarray.Dataset
        ``<channel>_peak_center`` (µs from the trigger), ``_sigma`` (µs), ``_decay_rate`` (1/µs),
        ``_area`` (physical units × µs), their ``_stderr``, ``_chisqr``, ``_status``
        (:class:`~idex.model.quality.FitStatus`), ``_success`` (a determined optimum with a positive area centred
        inside its window), ``_maximum_time`` (µs from the trigger, successful peaks only),
        ``_saturated`` and, with a mass calibration, ``_mass`` (u, successful peaks only), on
        ``(event, peak)``; ``<channel>_peaks_saturated`` per event.
    """
    windows = peak_windows(ds, channel, max_peaks=max_peaks, half_width_us=half_width_us, min_snr=min_snr)
    n_events = ds.sizes["event"]
    names = ("center", "sigma", "decay_rate", "area")
    shape = (n_events, max_peaks)
    grid = {f"{channel}_peak_{n}": np.full(shape, np.nan) for n in names}
    grid.update({f"{channel}_peak_{n}_stderr": np.full(shape, np.nan) for n in names})
    grid[f"{channel}_peak_chisqr"] = np.full(shape, np.nan)
    grid[f"{channel}_peak_maximum_time"] = np.full(shape, np.nan)
    success = np.zeros(shape, bool)
    status = np.full(shape, -1, np.int8)
    peak_saturated = np.zeros(shape, bool)
    if windows.rows.size:
        t, y = windows.t, windows.y
        result = levenberg_marquardt(MODELS["emg"], t, y, windows.p0, mask=np.isfinite(y), lower=windows.lower)
        index = (windows.rows, windows.slots)
        for i, n in enumerate(names):
            grid[f"{channel}_peak_{n}"][index] = result.params[:, i]
            grid[f"{channel}_peak_{n}_stderr"][index] = result.stderr[:, i]
        grid[f"{channel}_peak_chisqr"][index] = result.chisqr
        grid[f"{channel}_peak_maximum_time"][index] = _maximum_time(t, result.params)
        inside = (result.params[:, 0] >= t[:, 0]) & (result.params[:, 0] <= t[:, -1])
        success[index] = result.success & (result.params[:, 3] > 0) & inside
        status[index] = result.status
        peak_saturated[index] = windows.saturated
    units = {
        "center": "us",
        "sigma": "us",
        "decay_rate": "1/us",
        "maximum_time": "us",
        "area": f"{ds[channel].attrs.get('calibration_units', '')} us",
    }
    data: dict[str, tuple[Any, ...]] = {}
    for name, array in grid.items():
        key = name.removeprefix(f"{channel}_peak_").removesuffix("_stderr")
        data[name] = (
            ("event", "peak"),
            np.where(success, array, np.nan) if key == "maximum_time" else array,
            {"long_name": name.replace("_", " "), "units": units.get(key, "")},
        )
    data[f"{channel}_peak_success"] = (
        ("event", "peak"),
        success,
        {"long_name": f"{channel} peak fit reached a determined optimum in its window"},
    )
    data[f"{channel}_peak_status"] = (
        ("event", "peak"),
        status,
        {"long_name": f"{channel} peak fit status (-1: no peak)", **FitStatus.flag_attributes()},
    )
    data[f"{channel}_peak_saturated"] = (
        ("event", "peak"),
        peak_saturated,
        {"long_name": f"{channel} peak reaches the ADC limit (those samples not fitted)"},
    )
    data[f"{channel}_peaks_saturated"] = (
        "event",
        peak_saturated.any(axis=1),
        {"long_name": f"{channel} has a saturated peak"},
    )
    out = xr.Dataset(data, coords={"event": ds["event"]})
    if "mass_stretch" in ds:
        trigger = ds[ds[channel].attrs["trigger_time"]].values[:, None]
        flight = out[f"{channel}_peak_maximum_time"].values + trigger - ds["mass_shift"].values[:, None]
        with np.errstate(all="ignore"):
            masses = np.where(flight > 0, (flight / ds["mass_stretch"].values[:, None]) ** 2, np.nan)
        out[f"{channel}_peak_mass"] = (
            ("event", "peak"),
            masses,
            {
                "long_name": f"{channel} peak mass at the fitted maximum",
                "units": "u",
                "calibration": ds["mass_stretch"].attrs.get("calibration", ""),
            },
        )
    return out


class PeakWindows(NamedTuple):
    """The fit problems of :func:`fit_peaks`: one window per found peak, with its start and bounds."""

    rows: np.ndarray
    """Event (row) of each window."""
    slots: np.ndarray
    """Position of the peak among its event's peaks (in time order)."""
    t: np.ndarray
    """``(window, sample)`` µs from the trigger."""
    y: np.ndarray
    """``(window, sample)`` baseline-subtracted signal, NaN where saturated or beyond the record."""
    p0: np.ndarray
    """``(start, window, 4)`` starts of ``center, sigma, decay_rate, area``."""
    lower: np.ndarray
    """Lower bounds of the four parameters."""
    saturated: np.ndarray
    """Whether the window reaches the ADC limit."""


def peak_windows(
    ds: xr.Dataset, channel: str = "tof_high", *, max_peaks: int = 20, half_width_us: float = 0.1, min_snr: float = 6.0
) -> PeakWindows:
    """Find the peaks of every event and cut their fit windows (the parameters are :func:`fit_peaks`'s)."""
    values = calibrated(ds, [channel])[channel].values
    limit = 2 ** int(ds[channel].attrs.get("sample_bits", 16)) - 1
    clipped = ds[channel].values == limit
    time = time_from_trigger(ds, channel).values
    n_events = values.shape[0]
    dt = float(np.nanmedian(np.diff(time[0])))
    half = max(4, int(round(half_width_us / dt)))
    rows: list[int] = []
    slots: list[int] = []
    centres: list[int] = []
    levels = np.full(n_events, np.nan, values.dtype)
    for event in range(n_events):
        y, t = values[event], time[event]
        quiet = np.isfinite(y) & (t < -0.5)
        if quiet.sum() < 16:
            continue
        levels[event] = level = np.nanmedian(y[quiet])
        noise = robust_sigma(y[quiet])
        found, props = find_peaks(np.nan_to_num(y - level), prominence=max(min_snr * noise, 1e-12), distance=half)
        chosen = sorted(found[np.argsort(props["prominences"])[::-1][:max_peaks]])
        rows += [event] * len(chosen)
        slots += range(len(chosen))
        centres += chosen
    return _cut(
        values,
        time,
        clipped,
        levels,
        np.array(rows, np.int64),
        np.array(slots, np.int64),
        np.array(centres, np.int64),
        half,
        dt,
    )


def _cut(
    values: np.ndarray,
    time: np.ndarray,
    clipped: np.ndarray,
    levels: np.ndarray,
    rows: np.ndarray,
    slots: np.ndarray,
    centres: np.ndarray,
    half: int,
    dt: float,
) -> PeakWindows:
    """Windows of ``2 * half + 1`` samples from ``centre - half`` (clipped to the record, padded at the end),
    all peaks at once; windows shorter than 8 samples inside the record are dropped."""
    n = values.shape[1]
    lo, hi = np.maximum(centres - half, 0), np.minimum(centres + half + 1, n)
    keep = hi - lo >= 8
    rows, slots, centres, lo, hi = rows[keep], slots[keep], centres[keep], lo[keep], hi[keep]
    offsets = np.arange(2 * half + 1)
    inside = offsets[None, :] < (hi - lo)[:, None]
    position = np.minimum(lo[:, None] + offsets[None, :], hi[:, None] - 1)  # the end padding repeats the last time
    signal = np.nan_to_num(values[rows[:, None], position] - levels[rows][:, None])
    at_limit = clipped[rows[:, None], position] & inside
    y = np.where(inside & ~at_limit, signal, np.nan)  # the ADC limit is no measurement
    height = np.where(inside, signal, -np.inf).max(axis=1)
    width = np.sum(inside & (signal > height[:, None] / 2), axis=1) * dt / 2.355
    area = np.array([row[:size].sum() for row, size in zip(signal, hi - lo, strict=True)])  # NumPy's 1-D summation
    found = np.column_stack([time[rows, centres], np.maximum(dt, width), area * dt])
    return PeakWindows(
        rows,
        slots,
        time[rows[:, None], position],
        y,
        _starts(found),
        np.array([-np.inf, dt / 10, 1e-3 / dt, 0.0]),
        at_limit.any(axis=1),
    )


def _starts(found: np.ndarray) -> np.ndarray:
    """EMG starts from each peak's position, Gaussian width and area: the guess itself, with a four times
    sharper and a four times longer tail, and a narrower profile centred on the maximum. From one start the
    fit ended above lmfit's optimum (from the same start) in 7 of the bundled capture's 116 windows; with these
    four, in 3, all of them flagged undetermined."""
    center, sigma, area = found.T
    guess = np.column_stack([center - 0.5 * sigma, sigma, 1 / (2 * sigma), np.maximum(area, 1e-12)])
    sharper, longer, narrower = guess.copy(), guess.copy(), guess.copy()
    sharper[:, 2] *= 4
    longer[:, 2] /= 4
    narrower[:, 0] += 0.5 * sigma
    narrower[:, 1] *= 0.5
    return np.stack([guess, sharper, narrower, longer])


def _maximum_time(t: np.ndarray, params: np.ndarray, oversample: int = 20) -> np.ndarray:
    """Time of each fitted EMG profile's maximum, on a grid ``oversample`` times finer than the window's samples."""
    fine = np.linspace(t[:, :1], t[:, -1:], oversample * t.shape[1], axis=1)[..., 0]
    with np.errstate(all="ignore"):
        profile = MODELS["emg"].function(fine, np.nan_to_num(params, nan=1.0))
    return fine[np.arange(t.shape[0]), np.argmax(profile, axis=1)]
