"""TOF peaks: find them in every event and fit each with the area-parameterised EMG, all in one call.

Peaks are found on the baseline-subtracted spectrum (prominence above a robust noise estimate); each
gets a window of ±``half_width_us`` around it, and every window of every event becomes one row of a
single batched fit (:mod:`idex.lm`) with the ``emg`` model. Unlike the official pipeline's unit-area
EMG, the ``area`` parameter carries the peak's integral, and windows are wide enough to constrain the
tail. Results sit on an ``(event, peak)`` grid, padded with NaN.

Samples at the ADC limit (``2**sample_bits - 1``) take no part in a fit, and their peak is flagged
saturated. A peak counts as a success only when its fit reached a determined optimum (no parameter
on a bound) centred inside its window; only successful peaks get a mass, taken at the fitted
profile's maximum, the feature the mass calibration (:mod:`idex.mass`) locates.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.signal import find_peaks

from idex.lm import levenberg_marquardt
from idex.models import MODELS
from idex.quality import FitStatus

__all__ = ["fit_peaks"]


def fit_peaks(ds: xr.Dataset, channel: str = "tof_high", *, max_peaks: int = 20, half_width_us: float = 0.1,
              min_snr: float = 6.0) -> xr.Dataset:
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
        (:class:`idex.FitStatus`), ``_success`` (a determined optimum with a positive area centred
        inside its window), ``_maximum_time`` (µs from the trigger, successful peaks only),
        ``_saturated`` and, with a mass calibration, ``_mass`` (u, successful peaks only), on
        ``(event, peak)``; ``<channel>_peaks_saturated`` per event.
    """
    values = ds.idex.calibrated([channel])[channel].values
    limit = 2 ** int(ds[channel].attrs.get("sample_bits", 16)) - 1
    clipped = ds[channel].values == limit
    time = ds.idex.time(channel).values
    n_events = values.shape[0]
    dt = float(np.nanmedian(np.diff(time[0])))
    half = max(4, int(round(half_width_us / dt)))
    rows, slots, windows_t, windows_y, starts, saturated = [], [], [], [], [], []
    for event in range(n_events):
        y, t = values[event], time[event]
        quiet = np.isfinite(y) & (t < -0.5)
        if quiet.sum() < 16:
            continue
        level = np.nanmedian(y[quiet])
        noise = 1.4826 * np.nanmedian(np.abs(y[quiet] - level))
        signal = np.nan_to_num(y - level)
        found, props = find_peaks(signal, prominence=max(min_snr * noise, 1e-12), distance=half)
        order = np.argsort(props["prominences"])[::-1][:max_peaks]
        for slot, index in enumerate(sorted(found[order])):
            lo, hi = max(index - half, 0), min(index + half + 1, y.size)
            if hi - lo < 8:
                continue
            window_y = np.where(clipped[event, lo:hi], np.nan, signal[lo:hi])  # the ADC limit is no measurement
            rows.append(event)
            slots.append(slot)
            saturated.append(bool(clipped[event, lo:hi].any()))
            windows_t.append(np.pad(t[lo:hi], (0, 2 * half + 1 - (hi - lo)), mode="edge"))
            windows_y.append(np.pad(window_y, (0, 2 * half + 1 - (hi - lo)), constant_values=np.nan))
            height = signal[lo:hi].max()
            width = np.sum(signal[lo:hi] > height / 2) * dt / 2.355
            starts.append((t[index], max(dt, width), signal[lo:hi].sum() * dt))
    names = ("center", "sigma", "decay_rate", "area")
    shape = (n_events, max_peaks)
    grid = {f"{channel}_peak_{n}": np.full(shape, np.nan) for n in names}
    grid.update({f"{channel}_peak_{n}_stderr": np.full(shape, np.nan) for n in names})
    grid[f"{channel}_peak_chisqr"] = np.full(shape, np.nan)
    grid[f"{channel}_peak_maximum_time"] = np.full(shape, np.nan)
    success = np.zeros(shape, bool)
    status = np.full(shape, -1, np.int8)
    peak_saturated = np.zeros(shape, bool)
    if rows:
        t, y = np.array(windows_t), np.array(windows_y)
        center, sigma, area = np.array(starts).T
        p0 = np.column_stack([center - 0.5 * sigma, sigma, 1 / (2 * sigma), np.maximum(area, 1e-12)])
        result = levenberg_marquardt(MODELS["emg"], t, y, p0, mask=np.isfinite(y),
                                     lower=np.array([-np.inf, dt / 10, 1e-3 / dt, 0.0]))
        index = (np.array(rows), np.array(slots))
        for i, n in enumerate(names):
            grid[f"{channel}_peak_{n}"][index] = result.params[:, i]
            grid[f"{channel}_peak_{n}_stderr"][index] = result.stderr[:, i]
        grid[f"{channel}_peak_chisqr"][index] = result.chisqr
        grid[f"{channel}_peak_maximum_time"][index] = _maximum_time(t, result.params)
        inside = (result.params[:, 0] >= t[:, 0]) & (result.params[:, 0] <= t[:, -1])
        success[index] = result.success & (result.params[:, 3] > 0) & inside
        status[index] = result.status
        peak_saturated[index] = saturated
    units = {"center": "us", "sigma": "us", "decay_rate": "1/us", "maximum_time": "us",
             "area": f"{ds[channel].attrs.get('calibration_units', '')} us"}
    data = {}
    for name, array in grid.items():
        key = name.removeprefix(f"{channel}_peak_").removesuffix("_stderr")
        data[name] = (("event", "peak"), np.where(success, array, np.nan) if key == "maximum_time" else array,
                      {"long_name": name.replace("_", " "), "units": units.get(key, "")})
    data[f"{channel}_peak_success"] = (("event", "peak"), success,
                                       {"long_name": f"{channel} peak fit reached a determined optimum in its window"})
    data[f"{channel}_peak_status"] = (("event", "peak"), status,
                                      {"long_name": f"{channel} peak fit status (-1: no peak)",
                                       **FitStatus.flag_attributes()})
    data[f"{channel}_peak_saturated"] = (("event", "peak"), peak_saturated, {
        "long_name": f"{channel} peak reaches the ADC limit (those samples not fitted)"})
    data[f"{channel}_peaks_saturated"] = ("event", peak_saturated.any(axis=1),
                                          {"long_name": f"{channel} has a saturated peak"})
    out = xr.Dataset(data, coords={"event": ds["event"]})
    if "mass_stretch" in ds:
        trigger = ds[ds[channel].attrs["trigger_time"]].values[:, None]
        flight = out[f"{channel}_peak_maximum_time"].values + trigger - ds["mass_shift"].values[:, None]
        with np.errstate(all="ignore"):
            masses = np.where(flight > 0, (flight / ds["mass_stretch"].values[:, None]) ** 2, np.nan)
        out[f"{channel}_peak_mass"] = (("event", "peak"), masses,
                                       {"long_name": f"{channel} peak mass at the fitted maximum", "units": "u",
                                        "calibration": ds["mass_stretch"].attrs.get("calibration", "")})
    return out


def _maximum_time(t: np.ndarray, params: np.ndarray, oversample: int = 20) -> np.ndarray:
    """Time of each fitted EMG profile's maximum, on a grid ``oversample`` times finer than the window's samples."""
    fine = np.linspace(t[:, :1], t[:, -1:], oversample * t.shape[1], axis=1)[..., 0]
    with np.errstate(all="ignore"):
        profile = MODELS["emg"].function(fine, np.nan_to_num(params, nan=1.0))
    return fine[np.arange(t.shape[0]), np.argmax(profile, axis=1)]
