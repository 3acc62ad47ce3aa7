"""Impact charge from the TOF signal: the highest unsaturated gain, integrated over the impact, baseline removed.

The TOF detector collects the ions of the impact plasma, so the integral of its current over the impact is
a charge, independent of the target's. For every event, the first channel of ``defs/tof_charge.yaml``'s
``channels`` (highest gain first) whose ``<channel>_saturation_flag`` is 0 is used — never a saturated gain.
Its calibrated current (mA) minus the baseline under each sample is summed over the integration window
times the sample period: ``Q = Σ (I − I_baseline) Δt`` (1 mA·µs = 1000 pC).

**Baseline.** After an impact the TOF baseline sags by about half a digital number for tens of microseconds
(seen on every impact of the bundled captures). A flat pre-trigger baseline integrates that sag over the
record into a charge near zero or negative, larger in size than the ions' own. The baseline under each sample
is therefore local: the mean of the samples within ``local_baseline_us`` that are not ion peaks (samples
``peak_sigmas`` robust standard deviations above the quiet level, widened by ``peak_margin_us``). The ion peaks
(nanoseconds wide) are integrated whole; baseline shifts slower than the local window are not charge.

**Error.** The charge is linear in the samples, ``Q = Δt Σ c_i I_i`` with weights ``c`` fixed by the window and the
local baseline, so its variance is ``Δt² σ² cᵀRc``: σ and the correlation ``R`` (Toeplitz, lags up to
``noise_max_lag``, Bartlett-tapered so the form is non-negative) of the event's own quiet window
(:func:`idex.science.line_fit.autocorrelation`). IDEX's TOF noise is not white (it rings and wanders), hence the
correlation. Real TOF records also carry bursts and spikes that no stationary model holds: the error is scaled by
``noise_excess``, measured on null integrals of pre-trigger windows of the bundled captures; when the file states
it, the gain calibration's relative error is added."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import xarray as xr

from idex.exceptions import InputError, MissingKeyError
from idex.model.statistics import robust_sigma
from idex.model.timing import time_from_trigger
from idex.resources import data_dir, read_yaml
from idex.science.line_fit import autocorrelation
from idex.units import PICOCOULOMB_PER_MILLIAMP_MICROSECOND

__all__ = ["STATUS_MEANINGS", "settings", "tof_charge"]

STATUS_MEANINGS = "ok all_gains_saturated no_valid_samples negative_integral"
"""``tof_impact_charge_status`` codes 0, 1, 2, 3 (3: the integral is below zero by more than
``negative_limit_sigmas`` standard errors; an ion current cannot be negative, so the baseline moved during the
record and a flat baseline does not hold)."""


_BLOCK_EVENTS = 64
"""Events integrated at once: memory is a block of dense rows (4 MB per float64 temporary of a TOF channel),
whatever the number of events; every row is integrated on its own, so blocks change no number."""


@lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    """The parsed ``defs/tof_charge.yaml``."""
    return read_yaml(data_dir("defs") / "tof_charge.yaml")


def tof_charge(ds: xr.Dataset) -> xr.Dataset:
    """The TOF impact charge of every event, from its highest unsaturated gain.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model with the TOF channels and their ``<channel>_saturation_flag``.

    Returns
    -------
    xarray.Dataset
        ``tof_impact_charge`` (pC), ``tof_impact_charge_stderr`` (pC), ``tof_impact_charge_channel`` (the gain
        used, empty when none) and ``tof_impact_charge_status`` (0 ok, 1 every gain saturated, 2 no valid
        baseline or integration samples, 3 negative beyond its error: the baseline moved): NaN charge wherever
        the status is not 0.

    Raises
    ------
    KeyError
        Naming the channel or saturation flag the model lacks.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> out = tof_charge(ds)
    >>> out["tof_impact_charge_channel"].values[:2].tolist(), out["tof_impact_charge"].attrs["units"]
    (['tof_mid', 'tof_mid'], 'pC')
    """
    config = settings()
    channels = list(config["channels"])
    for name in [*channels, *(f"{c}_saturation_flag" for c in channels)]:
        if name not in ds:
            raise MissingKeyError(
                f"no {name!r} in the event model: the TOF impact charge needs every TOF gain and its flag"
            )
    n = ds.sizes["event"]
    charge, error = np.full(n, np.nan), np.full(n, np.nan)
    used = np.full(n, "", dtype="U16")
    status = np.ones(n, np.uint8)
    pending = np.ones(n, bool)
    for name in channels:
        chosen = pending & (ds[f"{name}_saturation_flag"].values == 0)
        if not chosen.any():
            continue
        units = ds[name].attrs.get("calibration_units")
        if units != config["units"]:
            raise InputError(f"{name} is calibrated in {units!r}; the TOF impact charge integrates {config['units']!r}")
        q, dq = np.full(n, np.nan), np.full(n, np.nan)  # NaN, status 2, for records without a trigger time
        timed = np.flatnonzero(chosen & np.isfinite(ds[ds[name].attrs["trigger_time"]].values.astype(np.float64)))
        for start in range(0, timed.size, _BLOCK_EVENTS):
            rows = timed[start : start + _BLOCK_EVENTS]
            q[rows], dq[rows] = _integrate(ds, name, rows, config)
        q, dq = q[chosen], dq[chosen]
        charge[chosen], error[chosen], used[chosen] = q, dq, name
        negative = q < -float(config["negative_limit_sigmas"]) * dq
        status[chosen] = np.select([~np.isfinite(q), negative], [2, 3], 0)
        pending &= ~chosen
    charge = np.where(status == 0, charge, np.nan)
    error = np.where(status == 0, error, np.nan)
    gain = config.get("gain_relative_uncertainty")
    note = "gain calibration error included" if gain is not None else "gain calibration error unknown: not included"
    method = (
        f"sum of (current - baseline mean) x sample period over {config['integrate_us']} us from the trigger, "
        f"baseline {config['baseline_us']} us; highest unsaturated gain of {channels}"
    )
    return xr.Dataset(
        {
            "tof_impact_charge": (
                "event",
                charge,
                {"long_name": "Impact charge from the TOF signal", "units": "pC", "method": method},
            ),
            "tof_impact_charge_stderr": (
                "event",
                error,
                {"long_name": f"Standard error of tof_impact_charge ({note})", "units": "pC"},
            ),
            "tof_impact_charge_channel": ("event", used, {"long_name": "TOF gain the impact charge comes from"}),
            "tof_impact_charge_status": (
                "event",
                status,
                {
                    "long_name": "Why tof_impact_charge is missing",
                    "flag_values": [0, 1, 2, 3],
                    "flag_meanings": STATUS_MEANINGS,
                },
            ),
        },
        coords={"event": ds["event"]},
    )


def _integrate(ds: xr.Dataset, name: str, rows: np.ndarray, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Charge and its standard error (pC) of channel ``name`` for events ``rows``."""
    block = ds.isel(event=rows)  # the clocks of these rows only: time_from_trigger of ds would build every row
    values = (block[name] * block[name].attrs["calibration_factor"]).values.astype(np.float64)
    t = np.broadcast_to(np.asarray(time_from_trigger(block, name).values, dtype=np.float64), values.shape)
    valid = np.isfinite(values) & np.isfinite(t)
    quiet = valid & (t >= config["baseline_us"][0]) & (t <= config["baseline_us"][1])
    window = valid & (t >= config["integrate_us"][0]) & (t <= config["integrate_us"][1])
    n_quiet, n_window = quiet.sum(axis=1), window.sum(axis=1)
    lags = int(config["noise_max_lag"])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without samples: NaN, then status 2 below
        dt = np.nanmedian(np.diff(t, axis=1), axis=1)
        baseline, weights = _local_baseline(values, valid, quiet, window, dt, config)
        scale = dt * PICOCOULOMB_PER_MILLIAMP_MICROSECOND
        charge = np.where(window, values - baseline, 0.0).sum(axis=1) * scale
        quiet_values = np.where(quiet, values, np.nan)
        sigma = np.nanstd(quiet_values, axis=1, ddof=1)
        rho = np.array([autocorrelation(row[mask], lags) for row, mask in zip(values, quiet, strict=True)])
        error = sigma * scale * np.sqrt(_quadratic_form(weights, rho)) * float(config["noise_excess"])
    gain = config.get("gain_relative_uncertainty")
    if gain is not None:
        error = np.hypot(error, float(gain) * charge)
    ok = (n_quiet >= 2) & (n_window >= 1)
    return np.where(ok, charge, np.nan), np.where(ok, error, np.nan)


def _local_baseline(
    values: np.ndarray, valid: np.ndarray, quiet: np.ndarray, window: np.ndarray, dt: np.ndarray, config: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The baseline under every sample, and the weights ``c`` with ``charge / (Δt scale) = Σ c y``.

    The baseline is the mean of the samples within ``local_baseline_us`` that are not ion peaks: samples more than
    ``peak_sigmas`` robust standard deviations of the quiet window above its median, widened by ``peak_margin_us``
    on each side. Where a whole neighbourhood is peaks, the quiet window's mean (whose weights are then left out).
    """
    level = np.nanmedian(np.where(quiet, values, np.nan), axis=1)
    sigma = robust_sigma(np.where(quiet, values, np.nan), axis=1)
    peak = valid & (values > (level + float(config["peak_sigmas"]) * sigma)[:, None])
    step = np.where(np.isfinite(dt), dt, np.inf)  # a record without a clock (no trigger time) has no neighbourhood
    margin = np.maximum(np.round(float(config["peak_margin_us"]) / step), 0).astype(np.int64)
    half = np.maximum(np.round(0.5 * float(config["local_baseline_us"]) / step), 1).astype(np.int64)
    use = valid & ~_widened(peak, margin)
    total = _window_sums(np.where(use, values, 0.0), half)
    count = _window_sums(use.astype(np.float64), half)
    fallback = np.nanmean(np.where(quiet, values, np.nan), axis=1)
    baseline = np.where(count > 0, total / np.maximum(count, 1), fallback[:, None])
    share = np.where(window & (count > 0), 1.0 / np.maximum(count, 1), 0.0)  # each window sample's baseline weights
    weights = np.where(window, 1.0, 0.0) - np.where(use, _window_sums(share, half), 0.0)
    return baseline, weights


def _quadratic_form(weights: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``cᵀ R c`` per row: ``R`` the Toeplitz correlation of lags ``0..L`` (Bartlett-tapered, so non-negative)."""
    n, m = weights.shape
    lags = rho.shape[1] - 1
    size = 1 << int(np.ceil(np.log2(m + lags + 1)))
    spectrum = np.fft.rfft(weights, size, axis=1)
    overlap = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)[:, : lags + 1]  # Σ_i c_i c_(i+k)
    taper = 1.0 - np.arange(lags + 1) / (lags + 1)
    form = overlap[:, 0] + 2.0 * np.sum((taper * rho)[:, 1:] * overlap[:, 1:], axis=1)
    return np.clip(form, 0.0, None)


def _widened(mask: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """``mask`` with every True run widened by ``margin[row]`` samples on each side."""
    return _window_sums(mask.astype(np.float64), margin) > 0


def _window_sums(x: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Sum of ``x[row, j - half[row] : j + half[row] + 1]`` at every sample (the record's ends truncate it)."""
    n, m = x.shape
    cumulative = np.concatenate([np.zeros((n, 1)), np.cumsum(x, axis=1)], axis=1)
    j = np.arange(m)[None, :]
    stop = np.minimum(j + half[:, None] + 1, m)
    start = np.maximum(j - half[:, None], 0)
    rows = np.arange(n)[:, None]
    return cumulative[rows, stop] - cumulative[rows, start]
