"""What a grain is made of: lines identified by element and isotope, abundances after RSFs, with errors.

For every event with a mass scale (:mod:`idex.science.mass`), on the spectrum joined from the three TOF
gains (:mod:`idex.science.combined_tof`), two linear fits of line templates (:mod:`idex.science.line_fit`):

- **lines**: one free area per resolved line of the line list (:mod:`idex.science.line_list`); lines the
  instrument cannot separate share one area, and each line names what it cannot be told from
  (``species_ambiguous_with``: e.g. Mg-24 and C2-24). Their ratios are what the isotope physics checks.
- **species**: one area per species, its lines weighted by their natural isotopic abundances, so the
  isotope pattern is the evidence (Mg is Mg only when 25 and 26 come with 24 in the ratio nature sets).

Lines are placed, and the strong ones shaped, per event by :mod:`idex.science.line_placement`.
A species is detected when its area exceeds ``detection_sigma`` standard errors. Element abundances are
``area / RSF`` normalised over the detected elements, with errors propagated through the covariance of
the fit and the RSF table's standard errors (``rsf_stderr``, when it gives them: the same for every event, so
they do not average down over events); undetected elements get an upper limit (area + ``upper_limit_sigma``
errors, same normalisation). Molecules are fitted (they take their share of the signal) but get no element
abundance. Each element's isotope pattern is tested and each grain matched to reference compositions
(:mod:`idex.science.grain_summary`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from idex._typing import PathLike
from idex.exceptions import MissingKeyError
from idex.model.calibration import schema_of
from idex.schema import CompositionSpec, Schema
from idex.science.abundances import abundances, ratio
from idex.science.combined_tof import combined_tof
from idex.science.grain_summary import grain_variables
from idex.science.line_fit import autocorrelation, fit_columns
from idex.science.line_list import LineList, Sensitivities, ambiguities, load_lines, load_rsf
from idex.science.line_placement import line_groups, line_shapes, local_offsets, place_lines
from idex.science.mass import mass

__all__ = ["RATIOS", "composition"]

RATIOS = {"mg_si": (("Mg",), ("Si",)), "fe_si": (("Fe",), ("Si",)), "mg_number": (("Mg",), ("Mg", "Fe"))}
"""Summaries: atomic ratio of the numerator elements' sum to the denominator elements' sum."""

STATUS = ("analysed", "no_mass_scale", "no_spectrum")


def _gain_changes(y: np.ndarray, source: np.ndarray, relative: np.ndarray) -> np.ndarray:
    """``(gain, sample)`` change of the joined spectrum for a one-standard-error change of each gain's ratio to
    the next higher one: every sample taken from that gain or a lower one scales with it."""
    return np.array([np.where(source >= g, y, 0.0) * relative[g] for g in range(1, relative.size)])


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
    gain_changes: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Line areas and errors, species areas and covariance of one spectrum (``gain_changes``: the spectrum's
    change for a one-standard-error change of each gain ratio, see :func:`_gain_changes`)."""
    times = shift + stretch * np.sqrt(lines.masses)
    times = times + local_offsets(y, sigma, clock, times, lines, dt)
    inside = (times > clock[0]) & (times < clock[-1])
    groups = line_groups(lines, times, config.resolution_samples * dt)
    # a group's template sits at its atom (the isotope the group is named for), else its most abundant line
    representative = [min(g, key=lambda i: (lines.kinds[i] != "atom", -lines.abundances[i])) for g in groups]
    placed = place_lines(y, sigma, clock, times, lines, groups, representative, config, correlation, dt)
    times, slopes = placed.times, placed.freedom
    shapes = line_shapes(clock, times, lines.masses, config, placed.shape)
    shapes[1:, placed.strong] = shapes[:1, placed.strong]  # fitted shapes: their columns carry the spread
    shapes[:, ~inside] = 0.0
    # lines the instrument cannot separate share one template (the group's), so that two species at the same
    # place differ only by their isotope patterns, not by a sub-sample shift the fit could trade between them
    for group, index in zip(groups, representative, strict=True):
        shapes[:, group] = shapes[:, [index]]
    line_design = shapes[:, representative]
    line_changes = (line_design[1:] - line_design[:1], np.arange(len(groups)))
    by_line = fit_columns(y, sigma, np.vstack([line_design[0], slopes]), correlation, line_changes, gain_changes)
    line_area, line_error, line_noise = np.full((3, lines.masses.size), np.nan)
    for column, group in enumerate(groups):
        line_area[group], line_error[group] = by_line.area[column], by_line.stderr[column]
        line_noise[group] = by_line.noise[column]
    species = list(lines.fitted_species)
    members = {s: np.array([i for i in lines.fitted if lines.species[i] == s]) for s in species}
    kept = list(species)
    while True:  # molecules only where they stand out: a free one could trade signal with an atom
        design = np.array(
            [(lines.abundances[members[s]][None, :, None] * shapes[:, members[s]]).sum(axis=1) for s in kept]
        ).transpose(1, 0, 2)
        owned = np.concatenate([members[s] for s in kept])
        owner = np.concatenate([np.full(members[s].size, k) for k, s in enumerate(kept)])
        deltas = (shapes[1:, owned] - shapes[:1, owned]) * lines.abundances[owned][None, :, None]
        by_species = fit_columns(y, sigma, np.vstack([design[0], slopes]), correlation, (deltas, owner), gain_changes)
        with np.errstate(all="ignore"):
            weak = [
                s
                for s, a, e in zip(kept, by_species.area[: len(kept)], by_species.noise[: len(kept)], strict=True)
                if s not in lines.elements and not a / e >= config.detection_sigma
            ]
        if not weak:
            break
        kept = [s for s in kept if s not in weak]
    area, noise = np.full((2, len(species)), np.nan)
    covariance = np.full((len(species), len(species)), np.nan)
    index = [species.index(s) for s in kept]
    area[index], noise[index] = by_species.area[: len(kept)], by_species.noise[: len(kept)]
    covariance[np.ix_(index, index)] = by_species.covariance[: len(kept), : len(kept)]
    return line_area, line_error, line_noise, area, covariance, noise, by_line.model


def composition(
    ds: xr.Dataset,
    *,
    rsf: PathLike | dict[str, float] | dict[str, tuple[float, float]] | None = None,
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
        Relative sensitivity factors (YAML file, with an optional ``rsf_stderr`` mapping, or ``{element:
        factor}`` / ``{element: (factor, stderr)}``); default the schema's table. Their errors are propagated.
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
        with ``_stderr``; ``composition_status``; the isotope-pattern test and the nearest reference
        (:func:`idex.science.grain_summary.grain_variables`). Coordinates give each line's mass and ambiguity and
        each element's RSF; ``provenance`` attributes name the RSF table (and its status), the line
        list and the mass calibration.
    """
    schema = schema_of(ds, schema)
    config = schema.composition
    if config is None:
        raise MissingKeyError(f"schema {schema.name!r} has no 'composition' section (pass schema= one that has)")
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
    used, measured = ds["tof_gain_ratio_used"].values, ds["tof_gain_ratio"].values
    # a ratio's error: the measurement's, and how far the ratio applied (nominal, if so) is from the measured one
    gain_error = np.nan_to_num(np.hypot(ds["tof_gain_ratio_stderr"].values, used - measured) / used)
    n_events, n_lines, n_species = ds.sizes["event"], line_list.masses.size, len(line_list.fitted_species)
    line_area, line_error, line_noise = np.full((3, n_events, n_lines), np.nan)
    species_area, species_noise = np.full((2, n_events, n_species), np.nan)
    species_cov = np.full((n_events, n_species, n_species), np.nan)
    status = np.zeros(n_events, np.int8)
    model = np.full(spectra.shape, np.nan)
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
        changes = _gain_changes(spectra[event], source[event], gain_error)
        results = _event(spectra[event], sigma, clock, stretch, shift, line_list, config, correlation, dt, changes)
        line_area[event], line_error[event], line_noise[event] = results[:3]
        species_area[event], species_cov[event], species_noise[event] = results[3:6]
        model[event] = results[6]
    lines_fit = (line_area, line_error, line_noise)
    species_fit = (species_area, species_cov, species_noise)
    result = _assemble(ds, line_list, sensitivities, lines_fit, species_fit, status, config, dt, upper_limit_sigma)
    attrs = {
        "long_name": "Line fit of the combined spectrum (resolved lines and baseline; NaN where not fitted)",
        "units": ds["tof_combined"].attrs.get("units", ""),
    }
    return result.assign(tof_combined_model=(ds["tof_combined"].dims, model, attrs))


def _assemble(
    ds: xr.Dataset,
    lines: LineList,
    sensitivities: Sensitivities,
    lines_fit: tuple[np.ndarray, ...],
    species_fit: tuple[np.ndarray, ...],
    status: np.ndarray,
    config: CompositionSpec,
    dt: float,
    upper_limit_sigma: float,
) -> xr.Dataset:
    """The composition variables on ``species`` and ``element`` dimensions, with provenance."""
    line_area, line_error, line_noise = lines_fit
    species_area, species_cov, species_noise = species_fit
    fitted, elements = lines.fitted, lines.elements
    column = [lines.fitted_species.index(e) for e in elements]
    rsf = np.array([sensitivities.rsf[e] for e in elements])
    signal = species_area[:, column]
    covariance = species_cov[:, column][:, :, column]
    with np.errstate(all="ignore"):
        error = np.sqrt(np.clip(np.diagonal(covariance, axis1=1, axis2=2), 0, None))
        significance = signal / species_noise[:, column]
        line_significance = line_area[:, fitted] / line_noise[:, fitted]
    x = signal / rsf[None, :]
    x_cov = covariance / rsf[None, :, None] / rsf[None, None, :]
    # the RSFs' own errors: each element's x scales with 1 / RSF, independently of the others
    relative = np.array([sensitivities.stderr[e] for e in elements]) / rsf
    x_cov = x_cov + np.einsum("ei,ij->eij", (x * relative[None, :]) ** 2, np.eye(len(elements)))
    result = abundances(x, x_cov, significance, config.detection_sigma, upper_limit_sigma)
    campaign = float(np.nanmedian(ds["mass_stretch"].values)) if np.isfinite(ds["mass_stretch"].values).any() else 1.0
    ambiguous = ambiguities(lines, campaign, dt, config.resolution_samples)
    provenance = (
        f"idex composition: lines {lines.source}, RSF {sensitivities.source} (status "
        f"{sensitivities.status}), mass calibration: {ds['mass_stretch'].attrs.get('calibration', '')}; "
        f"combined TOF: {ds['tof_combined'].attrs.get('calibration', '')}; EMG line shape sigma "
        f"{config.line_sigma_us} us, decay {config.line_tau_us[0]} + {config.line_tau_us[1]} * mass us; "
        f"detection at {config.detection_sigma} sigma, upper limits at {upper_limit_sigma} sigma; "
        f"errors: noise (its autocorrelation), line-shape spread {config.line_shape_spread} and gain ratios "
        "propagated, local "
        "reduced chi-square, positions of lines above 5 errors and widths and tails of lines above 20 errors fitted; "
        "significance against noise and the neighbours' shapes only; "
        + ("RSF standard errors propagated" if any(sensitivities.stderr.values()) else "RSF table gives no errors")
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
        "line_area_stderr": (
            ("event", "species"),
            line_error[:, fitted],
            {"long_name": "Standard error of the line area", "units": area_units},
        ),
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
        "signal_stderr": (
            ("event", "element"),
            error,
            {"long_name": "Standard error of the signal", "units": area_units},
        ),
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
    data.update(grain_variables(lines, (line_area, line_error), x, x_cov, result.detected, attrs, ambiguous))
    coords = {
        "species": ("species", [lines.labels[i] for i in fitted], {"long_name": "Isotope line (species-mass)"}),
        "species_mass": ("species", lines.masses[fitted], {"long_name": "Mass of the line's ion", "units": "u"}),
        "species_element": ("species", [lines.species[i] for i in fitted], {"long_name": "Species of the line"}),
        "species_ambiguous_with": (
            "species",
            [" ".join(ambiguous[lines.labels[i]]) for i in fitted],
            {"long_name": "Lines closer than the resolution (one shared area)"},
        ),
        "element": ("element", list(elements), {"long_name": "Element"}),
        "element_rsf": ("element", rsf, {"long_name": "Relative sensitivity factor used", **attrs}),
    }
    return ds.assign_coords(coords).assign(data)
