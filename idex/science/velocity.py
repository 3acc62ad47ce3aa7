"""Impact velocity and dust mass from the fitted target signals (the official L2A approach).

- velocity from the target rise time, by inverting the rise-time calibration curve (Brent's method
  on log10 v inside the bracket the calibration file gives);
- mass = Q / Y(v) from the impact charge and the charge-yield curve;
- an independent velocity from the ion-grid to target charge ratio.

A lab calibration (``idex calibrate``, :mod:`idex.science.lab_calibration`) also states the speed range its shots
covered and the curves' uncertainty (the mean curve's spread and one event's scatter about it):
velocities outside the range are NaN with ``<target>_velocity_status`` saying so (never extrapolated),
and ``*_velocity_stderr``/``*_mass_stderr`` combine the fits' errors with the calibration's
(first-order propagation in log10; files without those keys add no calibration uncertainty).

Only fits that earned it contribute: a channel whose fit did not reach a determined optimum
(``<channel>_fit_success`` False) gives NaN. The curves' parameters are data, never Python literals:
a calibration file states its ``status`` (``flight``, ``lab`` or ``test-parameters``) and ``source``,
every derived variable carries them in its ``calibration`` attribute, and curves that are not the
flight calibration raise a :class:`~idex.exceptions.CalibrationWarning`. The shipped
``defs/velocity_calibration.yaml`` holds the *unit-test* parameter sets of the mission pipeline, not
IDEX's flight curves (which are not public): use your own with ``load_calibration(path)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from idex.exceptions import CalibrationWarning
from idex.model.quality import VelocityStatus
from idex.science.velocity_calibration import (
    Band,
    BrokenPowerLaw,
    Calibration,
    ion_grid_law,
    load_calibration,
)
from idex.science.velocity_channels import velocity_channels

__all__ = ["Band", "BrokenPowerLaw", "Calibration", "estimate", "ion_grid_law", "load_calibration"]


def estimate(fits: xr.Dataset, *, calibration: Calibration | None = None) -> xr.Dataset:
    """Velocity and mass of every event from the output of :func:`idex.fit.events.fit`.

    Parameters
    ----------
    fits : xarray.Dataset
        Fit outputs (or an event Dataset they were merged into) with ``target_*_fit_rise_time``
        and ``*_impact_charge``.
    calibration : Calibration, optional
        Curves to use (default: :func:`load_calibration`).

    Returns
    -------
    xarray.Dataset
        ``<target>_velocity`` and ``<target>_mass`` per target channel fitted; ``ion_grid_velocity``
        and ``ion_grid_mass`` (target charge from Target High, else Target Low) when the ion grid
        was fitted, with ``ion_grid_velocity_status`` (ok, no successful fit, or a charge ratio or velocity
        outside the law's calibrated range: never extrapolated). NaN wherever a fit they need did not succeed;
        each carries a ``calibration`` attribute naming the curves' status and source.

    Warns
    -----
    CalibrationWarning
        When the curves' status is not ``flight`` (once per place in the calling code).
    """
    calibration = calibration or load_calibration()
    if calibration.status != "flight":
        warnings.warn(
            f"velocity and mass use calibration curves of status {calibration.provenance}",
            CalibrationWarning,
            stacklevel=3,
        )
    provenance = {"calibration": calibration.provenance}
    roles = velocity_channels()
    ion_grid = roles.ion_grid_channel
    out: dict[str, tuple[str, np.ndarray, dict[str, object]]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for target in roles.rise_time_channels:
            if f"{target}_fit_rise_time" not in fits:
                continue
            rise = _earned(fits, target, "fit_rise_time")
            found = calibration.velocity_from_rise_time(rise)
            low, high = calibration.valid_velocity
            inside = (found >= low) & (found <= high)
            velocity = np.where(inside, found, np.nan)
            charge = _earned(fits, target, "impact_charge")
            mass = calibration.mass(charge, velocity)
            velocity_error, mass_error = _errors(fits, target, calibration, velocity, mass)
            status = np.select(
                [~np.isfinite(rise), ~np.isfinite(found), ~inside],
                [
                    VelocityStatus.NO_SUCCESSFUL_FIT,
                    VelocityStatus.NO_ROOT_IN_SEARCH_RANGE,
                    VelocityStatus.OUTSIDE_CALIBRATED_RANGE,
                ],
                VelocityStatus.OK,
            ).astype(np.uint8)
            out[f"{target}_velocity"] = (
                "event",
                velocity,
                {"long_name": f"Impact velocity from the {target} rise time", "units": "km/s", **provenance},
            )
            out[f"{target}_velocity_stderr"] = (
                "event",
                velocity_error,
                {
                    "long_name": f"Standard error of {target}_velocity (fit and calibration)",
                    "units": "km/s",
                    **provenance,
                },
            )
            out[f"{target}_velocity_status"] = (
                "event",
                status,
                {
                    "long_name": f"Why {target}_velocity is missing",
                    **VelocityStatus.flag_attributes(),
                    "valid_velocity_kms": [float(low), float(high)],
                    **provenance,
                },
            )
            out[f"{target}_mass"] = (
                "event",
                mass,
                {"long_name": f"Dust mass from the {target} charge and velocity", "units": "kg", **provenance},
            )
            out[f"{target}_mass_stderr"] = (
                "event",
                mass_error,
                {"long_name": f"Standard error of {target}_mass (fit and calibration)", "units": "kg", **provenance},
            )
        if f"{ion_grid}_impact_charge" in fits:
            target_charge, target_error = _best_target(fits, roles.target_preference)
            ion = _earned(fits, ion_grid, "impact_charge")
            found = calibration.ion_grid_velocity(ion, target_charge)
            low, high = calibration.valid_velocity
            velocity = np.where((found >= low) & (found <= high), found, np.nan)
            status = np.select(
                [~np.isfinite(ion) | ~np.isfinite(target_charge), ~np.isfinite(velocity)],
                [VelocityStatus.NO_SUCCESSFUL_FIT, VelocityStatus.OUTSIDE_CALIBRATED_RANGE],
                VelocityStatus.OK,
            )
            mass = calibration.mass(target_charge, velocity)
            velocity_error, mass_error = _ion_grid_errors(
                fits, ion_grid, calibration, np.abs(ion / target_charge), velocity, mass, target_charge, target_error
            )
            out[f"{ion_grid}_velocity"] = (
                "event",
                velocity,
                {
                    "long_name": "Impact velocity from the ion-grid / target charge ratio",
                    "units": "km/s",
                    **provenance,
                },
            )
            out[f"{ion_grid}_velocity_stderr"] = (
                "event",
                velocity_error,
                {
                    "long_name": f"Standard error of {ion_grid}_velocity (fits and calibration)",
                    "units": "km/s",
                    **provenance,
                },
            )
            status_attrs: dict[str, object] = {
                "long_name": f"Why {ion_grid}_velocity is missing",
                **VelocityStatus.flag_attributes(
                    [VelocityStatus.OK, VelocityStatus.NO_SUCCESSFUL_FIT, VelocityStatus.OUTSIDE_CALIBRATED_RANGE]
                ),
                "ratio_range": [float(r) for r in calibration.ion_grid_ratio_range],
                "valid_velocity_kms": [float(low), float(high)],
                **provenance,
            }
            out[f"{ion_grid}_velocity_status"] = ("event", status.astype(np.uint8), status_attrs)
            out[f"{ion_grid}_mass"] = (
                "event",
                mass,
                {"long_name": "Dust mass from the target charge and ion-grid velocity", "units": "kg", **provenance},
            )
            out[f"{ion_grid}_mass_stderr"] = (
                "event",
                mass_error,
                {"long_name": f"Standard error of {ion_grid}_mass (fits and calibration)", "units": "kg", **provenance},
            )
    return xr.Dataset(out, coords={"event": fits["event"]})


def _errors(
    fits: xr.Dataset, target: str, calibration: Calibration, velocity: np.ndarray, mass: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of velocity and mass from the rise time: the fit's relative errors of rise time and
    amplitude and the curves' uncertainty (mean-curve spread and one event's scatter), propagated to first
    order in log10."""
    sigma_log_v = np.hypot(_relative_error(fits, target, "rise_time"), calibration.rise_time_band(velocity)) / np.abs(
        _log_slope(calibration.rise_time, velocity)
    )
    return velocity * np.log(10) * sigma_log_v, _mass_error(
        calibration, mass, velocity, sigma_log_v, _relative_error(fits, target, "amplitude")
    )


def _ion_grid_errors(
    fits: xr.Dataset,
    ion_grid: str,
    calibration: Calibration,
    ratio: np.ndarray,
    velocity: np.ndarray,
    mass: np.ndarray,
    target: np.ndarray,
    target_relative_error: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the ion-grid velocity and mass: both charges' fit errors and the law's uncertainty."""
    band = calibration.ion_grid_band  # its scatter is the shots' scatter in log10 R about the law
    target_error = np.where(np.isfinite(target), target_relative_error, np.nan)
    sigma_log_ratio = np.sqrt(_relative_error(fits, ion_grid, "amplitude") ** 2 + target_error**2 + band.scatter**2)
    power = ion_grid_law(ratio, calibration.ion_grid_scale, calibration.ion_grid_exponent, 0.0)
    slope = calibration.ion_grid_exponent * power / velocity  # d log v / d log R
    sigma_log_v = np.hypot(band.mean_curve(ratio), slope * sigma_log_ratio)
    return velocity * np.log(10) * sigma_log_v, _mass_error(calibration, mass, velocity, sigma_log_v, target_error)


def _mass_error(
    calibration: Calibration,
    mass: np.ndarray,
    velocity: np.ndarray,
    sigma_log_v: np.ndarray,
    sigma_log_charge: np.ndarray,
) -> np.ndarray:
    sigma_log_m = np.sqrt(
        sigma_log_charge**2
        + calibration.yield_band(velocity) ** 2
        + (_log_slope(calibration.charge_yield, velocity) * sigma_log_v) ** 2
    )
    return mass * np.log(10) * sigma_log_m


def _log_slope(curve: BrokenPowerLaw, velocity: np.ndarray) -> np.ndarray:
    """``d log10 F / d log10 v`` by central difference."""
    step = 1e-4
    log_v = np.log10(velocity)
    return (curve.log10(10 ** (log_v + step)) - curve.log10(10 ** (log_v - step))) / (2 * step)


def _relative_error(fits: xr.Dataset, channel: str, parameter: str) -> np.ndarray:
    """A fitted parameter's standard error over its value, in log10 (dex); 0 where no error is given."""
    if f"{channel}_fit_{parameter}_stderr" not in fits:
        return np.zeros(fits.sizes["event"])
    return np.abs(
        fits[f"{channel}_fit_{parameter}_stderr"].values / fits[f"{channel}_fit_{parameter}"].values
    ) / np.log(10)


def _earned(fits: xr.Dataset, channel: str, output: str) -> np.ndarray:
    """``<channel>_<output>`` where the channel's fit succeeded, NaN elsewhere."""
    return np.where(fits[f"{channel}_fit_success"].values, fits[f"{channel}_{output}"].values, np.nan)


def _best_target(fits: xr.Dataset, preference: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The target charge and its amplitude error (dex) from the first channel of ``preference`` whose fit
    succeeded (the official preference: Target High, else Target Low); NaN charge where none did."""
    names = [name for name in preference if f"{name}_impact_charge" in fits]
    charge = np.full(fits.sizes["event"], np.nan)
    error = _relative_error(fits, names[-1], "amplitude") if names else np.zeros(fits.sizes["event"])
    for name in reversed(names):
        earned = _earned(fits, name, "impact_charge")
        charge = np.where(np.isfinite(earned), earned, charge)
        error = np.where(np.isfinite(earned), _relative_error(fits, name, "amplitude"), error)
    return charge, error
