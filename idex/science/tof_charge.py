"""Impact charge from the TOF signal: the highest unsaturated gain, integrated over the impact, baseline removed.

The TOF detector collects the ions of the impact plasma, so the integral of its current over the impact is
a charge, independent of the target's. For every event, the first channel of ``defs/tof_charge.yaml``'s
``channels`` (highest gain first) whose ``<channel>_saturation_flag`` is 0 is used — never a saturated gain.
Its calibrated current (mA) minus the mean of the baseline window is summed over the integration window
times the sample period: ``Q = Σ (I − Ī_baseline) Δt`` (1 mA·µs = 1000 pC).

The standard error combines the noise of the integrated samples and the error of the subtracted baseline
mean, and, when the file states it, the gain calibration's relative error. IDEX's TOF noise is not white
(it rings and wanders: neighbouring samples are correlated), so the variance of a sum of ``N`` samples is
``σ² N g(N)`` with ``g(N) = 1 + 2 Σ_k (1 − k/N) w_k ρ_k``: ρ the autocorrelation of the event's own baseline
samples (:func:`idex.science.line_fit.autocorrelation`) up to ``noise_max_lag`` samples, ``w_k`` a Bartlett
taper that keeps the estimate non-negative. The charge's variance is ``σ² Δt² (N g(N) + N² g(N_b) / N_b)``.
Correlation longer than ``noise_max_lag`` samples is not seen by this estimate.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import xarray as xr

from idex.exceptions import InputError, MissingKeyError
from idex.model.timing import time_from_trigger
from idex.resources import data_dir, read_yaml
from idex.science.line_fit import autocorrelation
from idex.units import PICOCOULOMB_PER_MILLIAMP_MICROSECOND

__all__ = ["STATUS_MEANINGS", "settings", "tof_charge"]

STATUS_MEANINGS = "ok all_gains_saturated no_valid_samples negative_integral"
"""``tof_impact_charge_status`` codes 0, 1, 2, 3 (3: the integral is below zero by more than
``negative_limit_sigmas`` standard errors; an ion current cannot be negative, so the baseline moved during the
record and a flat baseline does not hold)."""


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
                f"no {name!r} in the event model: the TOF impact charge needs every TOF gain and its flag")
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
        q, dq = _integrate(ds, name, np.flatnonzero(chosen), config)
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
    values = (ds[name].isel(event=rows) * ds[name].attrs["calibration_factor"]).values.astype(np.float64)
    t = np.broadcast_to(np.asarray(time_from_trigger(ds, name).isel(event=rows).values, dtype=np.float64), values.shape)
    valid = np.isfinite(values) & np.isfinite(t)
    quiet = valid & (t >= config["baseline_us"][0]) & (t <= config["baseline_us"][1])
    window = valid & (t >= config["integrate_us"][0]) & (t <= config["integrate_us"][1])
    dt = np.nanmedian(np.diff(t, axis=1), axis=1)
    n_quiet, n_window = quiet.sum(axis=1), window.sum(axis=1)
    lags = int(config["noise_max_lag"])
    with np.errstate(all="ignore"):
        baseline = np.where(quiet, values, 0.0).sum(axis=1) / n_quiet
        sigma = np.sqrt(np.where(quiet, (values - baseline[:, None]) ** 2, 0.0).sum(axis=1) / (n_quiet - 1))
        scale = dt * PICOCOULOMB_PER_MILLIAMP_MICROSECOND
        charge = np.where(window, values - baseline[:, None], 0.0).sum(axis=1) * scale
        rho = np.array([autocorrelation(row[mask], lags) for row, mask in zip(values, quiet, strict=True)])
        variance_factor = (
            n_window * _correlation_gain(rho, n_window) + n_window**2 * _correlation_gain(rho, n_quiet) / n_quiet
        )
        error = sigma * scale * np.sqrt(variance_factor)
    gain = config.get("gain_relative_uncertainty")
    if gain is not None:
        error = np.hypot(error, float(gain) * charge)
    ok = (n_quiet >= 2) & (n_window >= 1)
    return np.where(ok, charge, np.nan), np.where(ok, error, np.nan)


def _correlation_gain(rho: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``g(N)``: the variance of a sum of ``N`` correlated samples over that of ``N`` independent ones.

    Examples
    --------
    >>> _correlation_gain(np.array([[1.0, 0.0, 0.0]]), np.array([100])).round(6).tolist()  # white noise
    [1.0]
    >>> _correlation_gain(np.array([[1.0, 0.5, 0.0]]), np.array([100])).round(4).tolist()  # 1 + 2 x 0.99 x 2/3 x 0.5
    [1.66]
    """
    lags = np.arange(1, rho.shape[1])
    taper = 1.0 - lags / rho.shape[1]  # Bartlett: a non-negative estimate of the spectrum at zero frequency
    weights = np.clip(1.0 - lags[None, :] / np.maximum(n, 1)[:, None], 0.0, None) * taper
    return np.clip(1.0 + 2.0 * np.sum(weights * rho[:, 1:], axis=1), 0.0, None)
