"""Signal-to-noise ratio of a waveform (the official definition): peak above the pre-trigger baseline
in units of the baseline's standard deviation (``ddof = 1``). The baseline window is the mission's, from
``defs/snr.yaml``."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import xarray as xr

from idex.model.timing import time_from_trigger
from idex.resources import data_dir, read_yaml

__all__ = ["baseline_window", "snr", "snr_values"]


@lru_cache(maxsize=1)
def baseline_window() -> tuple[float, float]:
    """The official baseline window, µs from the trigger (``defs/snr.yaml``).

    >>> baseline_window()
    (-7.0, -5.0)
    """
    start, stop = read_yaml(data_dir("defs") / "snr.yaml")["baseline_window_us"]
    return float(start), float(stop)


def snr_values(signal: np.ndarray, time: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """SNR of each row of ``signal`` on times ``time`` (µs from the trigger).

    Parameters
    ----------
    signal, time : numpy.ndarray
        ``(n, m)`` (or ``(m,)``) waveforms and their times; NaN samples are ignored.
    window : tuple of float, optional
        Baseline window ``[start, stop]`` in µs relative to the trigger (inclusive); default
        :func:`baseline_window`.

    Returns
    -------
    numpy.ndarray
        ``(max(signal) - mean(baseline)) / std(baseline, ddof=1)``; NaN where the window holds
        fewer than two samples.

    Examples
    --------
    >>> snr_values(np.array([0, 0, 1, 2, 2, 10.0]), np.array([-7, -6.5, -6, -5.5, -5, 0.0]))
    array(9.)
    """
    window = baseline_window() if window is None else window
    signal = np.asarray(signal, dtype=np.float64)
    time = np.broadcast_to(np.asarray(time, dtype=np.float64), signal.shape)
    inside = (time >= window[0]) & (time <= window[1]) & np.isfinite(signal)
    baseline = np.where(inside, signal, np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(baseline, axis=-1)
        sigma = np.nanstd(baseline, axis=-1, ddof=1)
        peak = np.nanmax(signal, axis=-1)
    result = (peak - mean) / sigma
    return np.where(inside.sum(axis=-1) >= 2, result, np.nan)


def snr(ds: xr.Dataset, channel: str = "tof_high", *, window: tuple[float, float] | None = None) -> xr.DataArray:
    """SNR of ``channel`` for every event (lazy on dask-backed data).

    Parameters
    ----------
    ds : xarray.Dataset
        Event model.
    channel : str
        Waveform channel (default TOF High, as in the official L2A).
    window : tuple of float, optional
        Baseline window in µs relative to the trigger; default :func:`baseline_window` (the mission's).

    Returns
    -------
    xarray.DataArray
        ``<channel>_snr`` on the ``event`` axis.
    """
    window = baseline_window() if window is None else window
    dim = ds[channel].dims[-1]
    fill = ds[channel].attrs.get("fill_value_used")  # telemetry's missing samples; accelerator shots have NaN
    signal = ds[channel].where(ds[channel] != fill) if fill is not None else ds[channel]
    values = xr.apply_ufunc(
        snr_values,
        signal,
        time_from_trigger(ds, channel),
        kwargs={"window": window},
        input_core_dims=[[dim], [dim]],
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    if values.chunks is None and values.size and not np.isfinite(values.values).any():
        warnings.warn(f"no {channel} samples in the baseline window {window} us: SNR is NaN", stacklevel=2)
    values.attrs = {"long_name": f"{channel} signal-to-noise ratio", "units": "1", "baseline_window_us": list(window)}
    return values.rename(f"{channel}_snr")
