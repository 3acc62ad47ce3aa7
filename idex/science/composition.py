"""What a grain is made of: lines identified by element and isotope, abundances after RSFs, with errors.

For every event with a mass scale (:mod:`idex.science.mass`), on the spectrum joined from the three TOF
gains (:mod:`idex.science.combined_tof`), two linear fits of line templates (:mod:`idex.science.line_fit`):

- **lines**: one free area per resolved line of the line list (:mod:`idex.science.line_list`); lines the
  instrument cannot separate share one area, and each line names what it cannot be told from
  (``species_ambiguous_with``: e.g. Mg-24 and C2-24). Their ratios are what the isotope physics checks.
- **species**: one area per species, its lines weighted by their natural isotopic abundances, so the
  isotope pattern is the evidence (Mg is Mg only when 25 and 26 come with 24 in the ratio nature sets).

A species is detected when its area exceeds ``detection_sigma`` standard errors. Element abundances are
``area / RSF`` normalised over the detected elements, with errors propagated through the covariance of
the fit (statistical only: the RSF table's own uncertainty is not included); undetected elements get an
upper limit (area + ``upper_limit_sigma`` errors, same normalisation). Molecules are fitted (they take
their share of the signal) but get no element abundance.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.model.calibration import schema_of
from idex.schema import CompositionSpec, Schema
from idex.science.abundances import abundances, ratio
from idex.science.combined_tof import combined_tof
from idex.science.line_fit import autocorrelation, fit_columns, templates
from idex.science.line_list import LineList, Sensitivities, ambiguities, load_lines, load_rsf
from idex.science.mass import mass

__all__ = ["RATIOS", "composition"]

RATIOS = {"mg_si": (("Mg",), ("Si",)), "fe_si": (("Fe",), ("Si",)), "mg_number": (("Mg",), ("Mg", "Fe"))}
"""Summaries: atomic ratio of the numerator elements' sum to the denominator elements' sum."""

STATUS = ("analysed", "no_mass_scale", "no_spectrum")


def _groups(lines: LineList, times: np.ndarray, resolution: float) -> list[np.ndarray]:
    """Fitted lines joined into groups closer than ``resolution`` (µs) on the time axis."""
    fitted = lines.fitted[np.argsort(times[lines.fitted])]
    groups: list[list[int]] = []
    for index in fitted:
        if groups and times[index] - times[groups[-1][-1]] < resolution:
            groups[-1].append(int(index))
        else:
            groups.append([int(index)])
    return [np.array(g) for g in groups]


def _event(
    y: np.ndarray,
    sigma: np.ndarray,
    clock: np.ndarray,
    stretch: float,
    shift: float,
    lines: LineList,
    config: CompositionSpec,
    correlation: np.ndarray,
    dt: float,
) -> tuple[np.ndarray, ...]:
    """Line areas and errors, species areas and covariance of one spectrum."""
    times = shift + stretch * np.sqrt(lines.masses)
    inside = (times > clock[0]) & (times < clock[-1])
    shapes = templates(clock, times, lines.masses, config.line_sigma_us, config.line_tau_us)
    shapes[~inside] = 0.0
    groups = _groups(lines, times, config.resolution_samples * dt)
    line_design = np.array([shapes[g[np.argmax(lines.abundances[g])]] for g in groups])
    by_line = fit_columns(y, sigma, line_design, correlation)
    line_area = np.full(lines.masses.size, np.nan)
    line_error = np.full(lines.masses.size, np.nan)
    for column, group in enumerate(groups):
        line_area[group], line_error[group] = by_line.area[column], by_line.stderr[column]
    species = lines.fitted_species
    members = [np.array([i for i in lines.fitted if lines.species[i] == s]) for s in species]
    species_design = np.array([(lines.abundances[m][:, None] * shapes[m]).sum(axis=0) for m in members])
    by_species = fit_columns(y, sigma, species_design, correlation)
    return line_area, line_error, by_species.area, by_species.covariance


def composition(
    ds: xr.Dataset,
    *,
    rsf: PathLike | dict[str, float] | None = None,
    lines: PathLike | None = None,
    schema: Schema | None = None,
    upper_limit_sigma: float = 3.0,
) -> xr.Dataset:
    """Identify the lines of every event and derive element abundances.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model; the mass scale (``ds.idex.mass()``) and the combined spectrum
        (``ds.idex.combined_tof()``) are computed first when absent.
    rsf : path or mapping, optional
        Relative sensitivity factors (YAML file or ``{element: factor}``); default the schema's table.
    lines : path, optional
        Line list CSV; default the schema's.
    schema : Schema, optional
        Schema whose ``composition`` section to use instead of the one the data carry.
    upper_limit_sigma : float
        Upper limits of undetected elements: area plus this many standard errors.

    Returns
    -------
    xarray.Dataset
        Per event: on ``species`` (isotope lines, ``Mg-24``) ``line_area`` (mA µs), ``line_area_stderr``,
        ``line_significance``, ``line_detected``; on ``element`` ``signal`` (area of all its lines),
        ``signal_stderr``, ``significance``, ``detected``, ``abundance`` (atomic fraction of the detected
        elements, after RSFs), ``abundance_stderr`` and ``upper_limit``; the ratios of :data:`RATIOS`
        with ``_stderr``; ``composition_status``. Coordinates give each line's mass and ambiguity and
        each element's RSF; ``provenance`` attributes name the RSF table (and its status), the line
        list and the mass calibration.
    """
    schema = schema_of(ds, schema)
    config = schema.composition
    if config is None:
        raise KeyError(f"schema {schema.name!r} has no 'composition' section")
    line_list = load_lines(lines if lines is not None else config.lines)
    sensitivities = load_rsf(rsf if rsf is not None else config.rsf, line_list.elements)
    if "mass_stretch" not in ds:
        ds = mass(ds, schema=schema)
    if "tof_combined" not in ds:
        ds = combined_tof(ds, schema=schema)
    spec = schema.channels[config.gains[0]]
    clock = ds[spec.time].values
    dt = float(np.median(np.diff(clock)))
    spectra = ds["tof_combined"].values
    source = ds["tof_combined_source"].values
    noise = ds["tof_combined_noise"].values
    trigger = ds[spec.trigger_time].values
    n_events, n_lines, n_species = ds.sizes["event"], line_list.masses.size, len(line_list.fitted_species)
    line_area, line_error = np.full((n_events, n_lines), np.nan), np.full((n_events, n_lines), np.nan)
    species_area = np.full((n_events, n_species), np.nan)
    species_cov = np.full((n_events, n_species, n_species), np.nan)
    status = np.zeros(n_events, np.int8)
    for event in range(n_events):
        stretch, shift = float(ds["mass_stretch"].values[event]), float(ds["mass_shift"].values[event])
        if not (np.isfinite(stretch) and np.isfinite(shift)):
            status[event] = 1
            continue
        if not np.isfinite(spectra[event]).any():
            status[event] = 2
            continue
        sigma = np.where(source[event] >= 0, noise[event][np.clip(source[event], 0, None)], np.nan)
        stop = int(np.clip((trigger[event] + config.baseline_before_trigger_us) / dt, 2, clock.size))
        correlation = autocorrelation(spectra[event][:stop])
        results = _event(spectra[event], sigma, clock, stretch, shift, line_list, config, correlation, dt)
        line_area[event], line_error[event], species_area[event], species_cov[event] = results
    return _assemble(
        ds,
        line_list,
        sensitivities,
        line_area,
        line_error,
        species_area,
        species_cov,
        status,
        config,
        dt,
        upper_limit_sigma,
    )


def _assemble(
    ds: xr.Dataset,
    lines: LineList,
    sensitivities: Sensitivities,
    line_area: np.ndarray,
    line_error: np.ndarray,
    species_area: np.ndarray,
    species_cov: np.ndarray,
    status: np.ndarray,
    config: CompositionSpec,
    dt: float,
    upper_limit_sigma: float,
) -> xr.Dataset:
    """The composition variables on ``species`` and ``element`` dimensions, with provenance."""
    fitted, elements = lines.fitted, lines.elements
    column = [lines.fitted_species.index(e) for e in elements]
    rsf = np.array([sensitivities.rsf[e] for e in elements])
    signal = species_area[:, column]
    covariance = species_cov[:, column][:, :, column]
    with np.errstate(all="ignore"):
        error = np.sqrt(np.clip(np.diagonal(covariance, axis1=1, axis2=2), 0, None))
        significance = signal / error
        line_significance = line_area[:, fitted] / line_error[:, fitted]
    x = signal / rsf[None, :]
    x_cov = covariance / rsf[None, :, None] / rsf[None, None, :]
    result = abundances(x, x_cov, significance, config.detection_sigma, upper_limit_sigma)
    campaign = float(np.nanmedian(ds["mass_stretch"].values)) if np.isfinite(ds["mass_stretch"].values).any() else 1.0
    ambiguous = ambiguities(lines, campaign, dt, config.resolution_samples)
    provenance = (
        f"idex composition: lines {lines.source}, RSF {sensitivities.source} (status "
        f"{sensitivities.status}), mass calibration: {ds['mass_stretch'].attrs.get('calibration', '')}; "
        f"combined TOF: {ds['tof_combined'].attrs.get('calibration', '')}; EMG line shape sigma "
        f"{config.line_sigma_us} us, decay {config.line_tau_us[0]} + {config.line_tau_us[1]} * mass us; "
        f"detection at {config.detection_sigma} sigma, upper limits at {upper_limit_sigma} sigma; "
        "errors statistical (noise autocorrelation, local reduced chi-square), RSF errors not included"
    )
    attrs = {"provenance": provenance, "rsf_status": sensitivities.status}
    area_units = f"{ds['tof_combined'].attrs.get('units', '')} us"
    data = {
        "line_area": (
            ("event", "species"),
            line_area[:, fitted],
            {
                "long_name": "Area of the line (shared by lines the instrument cannot separate)",
                "units": area_units,
                **attrs,
            },
        ),
        "line_area_stderr": (("event", "species"), line_error[:, fitted], {"units": area_units}),
        "line_significance": (
            ("event", "species"),
            line_significance,
            {"long_name": "Line area over its standard error"},
        ),
        "line_detected": (
            ("event", "species"),
            np.nan_to_num(line_significance) >= config.detection_sigma,
            {"long_name": f"Line area above {config.detection_sigma} standard errors"},
        ),
        "signal": (
            ("event", "element"),
            signal,
            {"long_name": "Area of all the element's lines (isotope pattern fitted)", "units": area_units, **attrs},
        ),
        "signal_stderr": (("event", "element"), error, {"units": area_units}),
        "significance": (("event", "element"), significance, {"long_name": "Signal over its standard error"}),
        "detected": (
            ("event", "element"),
            result.detected,
            {"long_name": f"Element signal above {config.detection_sigma} standard errors"},
        ),
        "abundance": (
            ("event", "element"),
            result.abundance,
            {"long_name": "Atomic fraction among the detected elements (signal / RSF)", **attrs},
        ),
        "abundance_stderr": (("event", "element"), result.stderr, {"long_name": "Standard error of the abundance"}),
        "upper_limit": (
            ("event", "element"),
            result.upper_limit,
            {"long_name": f"Upper limit ({upper_limit_sigma} sigma) of an undetected element's abundance", **attrs},
        ),
        "composition_status": (
            "event",
            status,
            {
                "long_name": "Composition analysis outcome",
                "flag_values": list(range(len(STATUS))),
                "flag_meanings": " ".join(STATUS),
            },
        ),
    }
    for name, (top, bottom) in RATIOS.items():
        value, value_error = ratio(
            x, x_cov, result.detected, [elements.index(e) for e in top], [elements.index(e) for e in bottom]
        )
        label = f"{'+'.join(top)}/({'+'.join(bottom)})"
        data[f"ratio_{name}"] = ("event", value, {"long_name": f"Atomic ratio {label} after RSFs", **attrs})
        data[f"ratio_{name}_stderr"] = ("event", value_error, {"long_name": f"Standard error of {label}"})
    coords = {
        "species": list(lines.labels[i] for i in fitted),
        "species_mass": ("species", lines.masses[fitted], {"units": "u"}),
        "species_element": ("species", [lines.species[i] for i in fitted]),
        "species_ambiguous_with": (
            "species",
            [" ".join(ambiguous[lines.labels[i]]) for i in fitted],
            {"long_name": "Lines closer than the resolution (one shared area)"},
        ),
        "element": list(elements),
        "element_rsf": ("element", rsf, {"long_name": "Relative sensitivity factor used", **attrs}),
    }
    return ds.assign_coords(coords).assign(data)
