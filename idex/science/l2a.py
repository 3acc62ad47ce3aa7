"""The mission's L2A per-event science values on the event model, under the L2A names.

For each low-rate channel the official L2A (``imap_idex_l2a_sci``) carries ``<ch>_fit_parameters``
(``time_of_impact, constant_offset, amplitude, rise_time, discharge_time``), ``<ch>_impact_charge`` (pC,
``|model at its maximum − baseline|``), ``<ch>_velocity_estimate`` (km/s), ``<ch>_dust_mass_estimate`` (kg),
``<ch>_chi_squared``, ``<ch>_reduced_chi_squared`` and ``<ch>_fit_results`` (the model on the sample axis).
:func:`l2a_values` adds them to the event model from idex's own fits (:mod:`idex.fit.events`) and velocity
and mass estimates (:mod:`idex.science.velocity`), with the mission's rules:

- a saturated channel (``<ch>_saturation_flag``) gives no charge, velocity or mass;
- events that are not science events (``science_event_flag``) give no velocity or mass;
- the ion-grid velocity uses the Target High charge, else Target Low's, each only when unsaturated.

And with idex's: a charge, velocity or mass comes only from a fit whose status is ``converged`` (the
mission reports every fit's numbers, including fits of pure noise); the fit parameters and χ² are kept for
every fit that has numbers (``no_signal`` has none), with ``<ch>_fit_status`` saying what they are worth.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from idex.fit.events import fit
from idex.fit.models import MODELS
from idex.model.timing import time_from_trigger
from idex.resources import data_dir, read_yaml
from idex.science.tof_charge import settings as tof_settings
from idex.science.tof_charge import tof_charge
from idex.science.velocity import Calibration, estimate

__all__ = ["L2A_CHANNELS", "PARAMETER_LABELS", "l2a_values"]

_PROFILE = read_yaml(data_dir("defs") / "official_l2a_profile.yaml")
L2A_CHANNELS: tuple[str, ...] = tuple(_PROFILE["channels"])
"""The channels the L2A product fits, in its order."""
PARAMETER_LABELS: tuple[str, ...] = tuple(_PROFILE["fit_parameter_labels"])
"""The L2A labels of the impact model's parameters, in the model's order."""


def l2a_values(ds: xr.Dataset, *, calibration: Calibration | None = None) -> xr.Dataset:
    """``ds`` with the L2A per-event values of every low-rate channel added under the L2A names.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model; channels without fit outputs (``<ch>_fit_status``) are fitted first.
    calibration : Calibration, optional
        Velocity and yield curves (default: :func:`idex.science.velocity_calibration.load_calibration`).

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``<ch>_fit_parameters`` (dimension ``fit_parameter``), ``<ch>_impact_charge`` (replaced:
        converged and unsaturated only), ``<ch>_velocity_estimate``, ``<ch>_dust_mass_estimate``,
        ``<ch>_chi_squared``, ``<ch>_reduced_chi_squared`` and ``<ch>_fit_results``; and, when the model has the
        TOF gains and their saturation flags, the TOF impact charge (:func:`idex.science.tof_charge.tof_charge`).

    Examples
    --------
    >>> import idex, warnings
    >>> from idex.exceptions import CalibrationWarning
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", CalibrationWarning)  # the shipped curves are test parameters
    ...     out = l2a_values(ds)
    >>> out["target_low_impact_charge"].attrs["units"], out["target_low_fit_parameters"].dims
    ('pC', ('event', 'fit_parameter'))
    """
    channels = [c for c in L2A_CHANNELS if c in ds]
    missing = [c for c in channels if f"{c}_fit_status" not in ds]
    if missing:
        ds = fit(ds, missing, merge=True)
    unsaturated = {c: _flag(ds, f"{c}_saturation_flag", 0) for c in channels}
    science = _flag(ds, "science_event_flag", 1)
    usable = ds.copy()
    for c in channels:  # the velocity and mass estimates see only unsaturated channels
        usable[f"{c}_fit_success"] = ds[f"{c}_fit_success"] & unsaturated[c]
    speeds = estimate(usable, calibration=calibration)
    out: dict[str, xr.DataArray] = {}
    for c in channels:
        parameters = [f"{c}_fit_{name}" for name in MODELS["impact"].parameters]
        stacked = xr.concat([ds[name] for name in parameters], dim="fit_parameter").transpose("event", "fit_parameter")
        units = ds[c].attrs.get("calibration_units", "")
        earned = usable[f"{c}_fit_success"]
        velocity = speeds[f"{c}_velocity"].where(science)  # target_low_velocity, ..., ion_grid_velocity
        mass = speeds[f"{c}_mass"].where(science)
        provenance = {"calibration": speeds[f"{c}_velocity"].attrs["calibration"]}
        out[f"{c}_fit_parameters"] = stacked.assign_attrs(
            long_name=f"{c} impact fit: {', '.join(PARAMETER_LABELS)}", units=f"us, {units}, {units}, us, us"
        )
        out[f"{c}_impact_charge"] = (
            ds[f"{c}_impact_charge"]
            .where(earned)
            .assign_attrs(
                long_name=f"{c} impact charge: |fitted maximum - baseline| (converged fit, unsaturated)", units=units
            )
        )
        out[f"{c}_velocity_estimate"] = velocity.assign_attrs(
            long_name=f"{c} impact velocity estimate (science events)", units="km/s", **provenance
        )
        out[f"{c}_dust_mass_estimate"] = mass.assign_attrs(
            long_name=f"{c} dust mass estimate (science events)", units="kg", **provenance
        )
        if f"{c}_velocity_status" in speeds:  # why a science event's velocity is missing
            out[f"{c}_velocity_status"] = speeds[f"{c}_velocity_status"]
        out[f"{c}_chi_squared"] = ds[f"{c}_fit_chisqr"].assign_attrs(long_name=f"{c} fit chi-square")
        out[f"{c}_reduced_chi_squared"] = ds[f"{c}_fit_redchi"].assign_attrs(long_name=f"{c} fit reduced chi-square")
        curve = MODELS["impact"].function(np.asarray(time_from_trigger(ds, c).values), stacked.values)
        out[f"{c}_fit_results"] = xr.DataArray(
            curve, dims=ds[c].dims, attrs={"long_name": f"{c} fitted impact model on the sample axis", "units": units}
        )
    if all(f"{c}_saturation_flag" in ds for c in tof_settings()["channels"]):  # the TOF charge beside the targets'
        out.update({str(name): value for name, value in tof_charge(ds).data_vars.items()})
    return ds.assign(out).assign_coords(fit_parameter=("fit_parameter", list(PARAMETER_LABELS)))


def _flag(ds: xr.Dataset, name: str, wanted: int) -> xr.DataArray:
    """True per event where flag ``name`` equals ``wanted`` (everywhere when the model has no such flag)."""
    if name not in ds:
        return xr.DataArray(np.ones(ds.sizes["event"], bool), dims="event")
    return ds[name] == wanted
