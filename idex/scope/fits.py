"""Shot fits: cleaned detector signals fitted with the telemetry engine, and the pickup tube's QD signal
fitted for the grain's charge and speed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.fit.background import lowpass, remove_sine
from idex.fit.engine import levenberg_marquardt
from idex.fit.events import fit
from idex.fit.models import MODELS
from idex.model.quality import FitStatus
from idex.model.timing import time_from_trigger
from idex.schema import FitSpec, Schema
from idex.scope.setups import ScopeSetup, load_setup, setup_of
from idex.units import COULOMB_PER_PICOCOULOMB

__all__ = ["fit_any", "fit_shots"]


def _cleaned(ds: xr.Dataset, setup: ScopeSetup) -> xr.Dataset:
    """Calibrated fitted channels with the setup's background removal applied (units: the channel's)."""
    out = {}
    for name in setup.fits:
        if name not in ds:
            continue
        t = time_from_trigger(ds, name).values
        y = (ds[name] * ds[name].attrs["calibration_factor"]).values
        options = setup.background.get(name, {})
        spec = setup.fits[name]
        for row in range(y.shape[0]):
            if not np.isfinite(y[row]).any():
                continue
            quiet = (t[row] >= spec.baseline_us[0]) & (t[row] <= spec.baseline_us[1])
            if options.get("line_and_sine") and quiet.sum() >= 8:
                baseline_level = np.mean(y[row][quiet])
                y[row] = remove_sine(t[row], y[row], quiet)[0] + baseline_level
            if options.get("lowpass_mhz"):
                y[row] = lowpass(t[row], y[row], options["lowpass_mhz"])
        out[name] = (ds[name].dims, y, {**ds[name].attrs, "calibration_factor": 1.0})
    return ds.assign(out)


def _qd_guess(t: np.ndarray, y: np.ndarray, qd: Mapping[str, Any]) -> np.ndarray:
    """Entry time, charge and velocity from where the signal crosses 2/3 of its extreme around it."""
    baseline = np.nanmedian(y[: max(8, y.size // 10)])
    signal = y - baseline
    peak = int(np.nanargmax(np.abs(signal)))
    level = 2 / 3 * signal[peak]
    beyond = np.abs(signal) >= abs(level)
    before = np.flatnonzero(~beyond[:peak])
    after = np.flatnonzero(~beyond[peak:])
    t_a = t[before[-1] + 1] if before.size else t[0]
    t_b = t[peak + after[0] - 1] if after.size else t[-1]
    span = max(t_b - t_a, t[1] - t[0])
    velocity = (qd["tube_length_cm"] - 2 * qd["tube_diameter_cm"]) / span * 10.0  # cm/µs -> km/s
    return np.array([t_a - qd["tube_diameter_cm"] / velocity * 10.0 * 0.5, signal[peak], velocity])


def fit_shots(ds: xr.Dataset, setup: str | PathLike | ScopeSetup | None = None) -> xr.Dataset:
    """Fit every shot: impact model on target/ion grid (after background removal) and the QD pickup tube.

    Returns
    -------
    xarray.Dataset
        ``ds`` plus the impact fit outputs of :func:`idex.fit.events.fit` and, with a ``qd`` section,
        ``qd_fit_entry_time``/``_charge``/``_velocity`` (+ ``_stderr``, ``qd_fit_success``, ``qd_fit_status``),
        ``particle_charge`` (pC), ``particle_velocity`` (km/s) and ``particle_mass`` (kg, 2qU/v²). The QD
        velocity is bounded to the setup's ``qd.velocity_range_kms`` (what the accelerator can give a grain): a
        fit that ends on a bound has status ``at_bound`` and no particle values.
    """
    setup = setup if isinstance(setup, ScopeSetup) else (load_setup(setup) if setup else setup_of(ds))
    impacts = fit(_cleaned(ds, setup), [c for c in setup.fits if c in ds], specs=setup.fits, curves=True)
    out = ds.merge(impacts)
    if setup.qd is None or setup.qd["channel"] not in ds:
        return out
    qd = setup.qd
    name = qd["channel"]
    t = time_from_trigger(ds, name).values
    y = (ds[name] * ds[name].attrs["calibration_factor"]).values
    valid = np.isfinite(y)
    p0 = np.array(
        [
            _qd_guess(t[i][valid[i]], y[i][valid[i]], qd) if valid[i].sum() > 16 else np.full(3, np.nan)
            for i in range(y.shape[0])
        ]
    )
    model = MODELS["qd"].with_constants(qd["tube_length_cm"], qd["tube_diameter_cm"], qd["decay_us"])
    baseline = np.nanmedian(np.where(valid, y, np.nan)[:, : max(8, y.shape[1] // 10)], axis=1)
    slowest, fastest = (float(v) for v in qd["velocity_range_kms"])
    p0[:, 2] = np.clip(p0[:, 2], slowest * 1.01, fastest * 0.99)  # a start inside the physical range
    result = levenberg_marquardt(
        model,
        np.where(valid, t, 0.0),
        y - baseline[:, None],
        p0,
        lower=np.array([-np.inf, -np.inf, slowest]),
        upper=np.array([np.inf, np.inf, fastest]),
        mask=valid,
    )
    units = {"entry_time": "us", "charge": ds[name].attrs["calibration_units"], "velocity": "km/s"}
    for i, parameter in enumerate(model.parameters):
        out[f"qd_fit_{parameter}"] = (
            "event",
            result.params[:, i],
            {"long_name": f"QD fit: {parameter}", "units": units[parameter]},
        )
        out[f"qd_fit_{parameter}_stderr"] = (
            "event",
            result.stderr[:, i],
            {"units": units[parameter], "long_name": f"QD fit: error of {parameter}"},
        )
    out["qd_fit_success"] = ("event", result.success, {"long_name": "QD fit reached a determined optimum"})
    out["qd_fit_status"] = (
        "event",
        result.status.astype(np.int8),
        {"long_name": "QD fit status", "velocity_range_kms": [slowest, fastest], **FitStatus.flag_attributes()},
    )
    earned = np.where(result.success[:, None], result.params, np.nan)  # particle values only from successful fits
    charge_c = np.abs(earned[:, 1]) * COULOMB_PER_PICOCOULOMB
    speed = earned[:, 2] * 1e3
    out["particle_charge"] = (
        "event",
        np.abs(earned[:, 1]),
        {"long_name": "Particle charge from the QD fit", "units": units["charge"]},
    )
    out["particle_velocity"] = (
        "event",
        earned[:, 2],
        {"long_name": "Particle velocity from the QD fit", "units": "km/s"},
    )
    with np.errstate(all="ignore"):
        out["particle_mass"] = (
            "event",
            2 * charge_c * qd["accelerator_voltage_v"] / speed**2,
            {"long_name": "Particle mass, 2 q U / v^2", "units": "kg"},
        )
    return out


def fit_any(
    ds: xr.Dataset,
    channels: Iterable[str] | None = None,
    *,
    curves: bool = False,
    merge: bool = False,
    max_iterations: int = 1000,
    specs: Mapping[str, FitSpec] | None = None,
    schema: str | PathLike | Schema | None = None,
) -> xr.Dataset:
    """Fit telemetry events with :func:`idex.fit.events.fit`, or accelerator shots with :func:`fit_shots`.

    Shots are events read with a scope setup (``idex_scope_setup`` and no ``idex_schema`` attribute): their
    setup's fits run after its background removal, and the QD; ``channels``, ``curves``, ``max_iterations``,
    ``specs`` and ``schema`` are the setup's then. This is ``ds.idex.fit()``.
    """
    if "idex_scope_setup" in ds.attrs and "idex_schema" not in ds.attrs:
        shots = ds.drop_vars([n for n in ds.data_vars if "_fit_" in str(n)]).compute()  # small
        fitted = fit_shots(shots)
        return fitted if merge else fitted.drop_vars(list(ds.data_vars))
    return fit(ds, channels, curves=curves, merge=merge, max_iterations=max_iterations, specs=specs, schema=schema)
