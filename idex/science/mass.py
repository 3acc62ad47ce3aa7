"""Time of flight to mass: ``t = shift + stretch * sqrt(m)``, calibrated per event against reference lines.

Each event's TOF spectrum is matched to a list of physical isotope masses (``defs/isotope_masses.csv``):

1. the spectrum above its pre-trigger baseline is lightly smoothed and its peaks are found (prominence
   above a robust noise estimate) and located to a fraction of a sample (parabola through the maximum);
2. every pair of detected peaks, read as every pair of reference lines, proposes a calibration; those
   inside the search ranges are scored by how many lines then find a peak, and how closely (a Gaussian
   a fifth of the tolerance wide; the lines' weights only break ties, since a spectrum may lack the
   common lines), so the answer that explains the most lines consistently wins;
3. lines and peaks are paired one to one (an assignment minimising the total distance; no peak serves
   two lines, no line takes two peaks) and ``shift``/``stretch`` are refined by least squares on the
   pairs, three times; their standard errors come from the residual scatter.

With fewer than three lines paired the calibration is **undetermined**: NaN stretch and shift and no
mass axis, rather than a number two points cannot check.

Everything works in consistent units (µs from the start of the record, the sample clock of the
event model), avoiding the official pipeline's sample-versus-nanosecond mix-up (ALGORITHMS §6.3).
Reported per event: stretch, shift and their errors, the number of paired lines and kappa (mean
signed distance of the detected peaks' masses from the nearest integer, the official definition).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from idex._typing import PathLike
from idex.exceptions import InputError, MissingKeyError
from idex.model.calibration import schema_of
from idex.model.quality import QualityFlag, without_flags
from idex.resources import data_dir
from idex.schema import MassSpec, PeakSearch, Schema
from idex.schema.defaults import section_defaults
from idex.science.line_pairing import MIN_LINES, SHARPNESS, UNDETERMINED, MassFit, kappa, pair, peak_times, solve
from idex.science.mass_polynomial import polynomial_mass

__all__ = ["MIN_LINES", "MassFit", "calibrate_spectrum", "mass", "reference_lines"]


@lru_cache(maxsize=4)
def reference_lines(name: str = "isotope_masses.csv") -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Names, masses (u) and weights of the reference lines in ``defs/<name>``."""
    rows = [
        line.split(",")
        for line in (data_dir("defs") / name).read_text(encoding="utf-8").splitlines()
        if line and not line.startswith(("#", "name,"))
    ]
    return tuple(r[0] for r in rows), np.array([float(r[1]) for r in rows]), np.array([float(r[2]) for r in rows])


def calibrate_spectrum(
    signal: np.ndarray,
    dt: float,
    *,
    stretch_range: tuple[float, float],
    shift_range: tuple[float, float],
    masses: np.ndarray,
    weights: np.ndarray,
    baseline: slice,
    tolerance_us: float = 0.1,
    prior: tuple[float, float] | None = None,
    prior_sigmas: float | None = None,
    peaks: PeakSearch | None = None,
) -> MassFit:
    """Find ``stretch`` and ``shift`` for one spectrum sampled every ``dt`` µs from the record start.

    Parameters
    ----------
    signal : numpy.ndarray
        The TOF waveform.
    dt : float
        Sample period (µs).
    stretch_range, shift_range : tuple of float
        Search ranges: µs/√u, and µs from the record start.
    masses, weights : numpy.ndarray
        Reference lines (u) and their weights.
    baseline : slice
        Samples holding no ions (before the impact), for the baseline and noise.
    tolerance_us : float
        Largest distance between a detected peak and the line it is paired with.
    prior : (float, float), optional
        Campaign stretch and its spread (µs/√u). Lines are then searched near it and the stretch is the
        posterior of lines and prior; an event whose own lines disagree with it by more than ``prior_sigmas``
        combined standard deviations, or explain more lines at another stretch, takes the campaign stretch
        (with its spread as error, the shift from its lines) and ``conflict`` is set.
    prior_sigmas : float, optional
        Consistency limit of the prior test (default: the meta-schema's default of the ``mass`` section's
        ``prior_sigmas``).
    peaks : PeakSearch
        Thresholds of the peak search (the schema's ``mass`` section; default the shipped schemas').

    Returns
    -------
    MassFit
        Undetermined (NaN) when fewer than ``MIN_LINES`` lines pair with peaks.

    Examples
    --------
    >>> t = np.arange(4000) / 260
    >>> lines = np.array([1.008, 12.0, 15.995, 22.99, 38.964, 55.935])
    >>> spectrum = sum(np.exp(-0.5 * ((t - 0.8 - 1.44 * np.sqrt(m)) / 0.006) ** 2) for m in lines[[0, 1, 3, 5]])
    >>> fit = calibrate_spectrum(spectrum, 1 / 260, stretch_range=(1.2, 1.7), shift_range=(0.0, 2.0),
    ...                          masses=lines, weights=np.ones(6), baseline=slice(0, 100))
    >>> round(fit.stretch, 4), round(fit.shift, 4), fit.matched
    (1.44, 0.8, 4)
    """
    times = peak_times(signal, dt, baseline, peaks)
    roots = np.sqrt(masses)
    free = solve(times, roots, weights, stretch_range, shift_range, tolerance_us)
    if prior is None:
        return free
    limit = float(section_defaults("mass")["prior_sigmas"]) if prior_sigmas is None else prior_sigmas
    return _with_prior(times, roots, weights, free, prior, limit, shift_range, tolerance_us, dt)


def _with_prior(
    times: np.ndarray,
    roots: np.ndarray,
    weights: np.ndarray,
    free: MassFit,
    prior: tuple[float, float],
    prior_sigmas: float,
    shift_range: tuple[float, float],
    tolerance: float,
    dt: float,
) -> MassFit:
    """Lines searched near the campaign stretch; the posterior, or the campaign stretch on a conflict."""
    centre, spread = prior
    half = max(prior_sigmas * spread, 0.01 * centre)
    near = solve(times, roots, weights, (centre - half, centre + half), shift_range, tolerance)
    agrees = near.determined and abs(near.stretch - centre) <= prior_sigmas * math.hypot(near.stretch_stderr, spread)
    if agrees and near.matched >= free.matched:
        lines, found = pair(times, near.shift + near.stretch * roots, tolerance)
        residual = times[found] - (near.shift + near.stretch * roots[lines])
        sigma_t = max(math.sqrt(float(np.sum(residual**2)) / max(lines.size - 2, 1)), 0.25 * dt)  # per line
        design = np.vstack([np.column_stack([np.ones(lines.size), roots[lines]]) / sigma_t, [[0.0, 1.0 / spread]]])
        target = np.concatenate([times[found] / sigma_t, [centre / spread]])
        (shift, stretch), *_ = np.linalg.lstsq(design, target, rcond=None)
        shift_error, stretch_error = np.sqrt(np.diag(np.linalg.inv(design.T @ design)))
        return MassFit(
            float(stretch),
            float(shift),
            int(lines.size),
            kappa(times, stretch, shift),
            float(stretch_error),
            float(shift_error),
            stretch_lines=near.stretch,
        )
    if not (free.determined or near.determined):
        return free  # too few lines for any scale: undetermined, not a conflict
    # the lines disagree with the instrument: campaign stretch, shift from the lines it explains
    own = free.stretch if free.determined else near.stretch
    hypotheses = times[:, None] - centre * roots[None, :]
    hypotheses = hypotheses[(hypotheses >= shift_range[0]) & (hypotheses <= shift_range[1])]
    if hypotheses.size == 0:
        return MassFit(math.nan, math.nan, 0, math.nan, conflict=True, stretch_lines=own)
    distance = np.min(np.abs(hypotheses[:, None, None] + centre * roots[None, :, None] - times[None, None, :]), axis=2)
    score = np.where(distance <= tolerance, np.exp(-0.5 * (distance / (SHARPNESS * tolerance)) ** 2), 0.0).sum(1)
    shift = float(hypotheses[int(np.argmax(score))])
    for _ in range(3):
        lines, found = pair(times, shift + centre * roots, tolerance)
        if lines.size < MIN_LINES:
            return MassFit(math.nan, math.nan, int(lines.size), math.nan, conflict=True, stretch_lines=own)
        offsets = times[found] - centre * roots[lines]
        shift = float(np.mean(offsets))
    scatter = float(np.var(offsets, ddof=1)) if lines.size > 1 else 0.0
    shift_error = math.sqrt(scatter / lines.size + (float(np.mean(roots[lines])) * spread) ** 2)
    return MassFit(
        centre,
        shift,
        int(lines.size),
        kappa(times, centre, shift),
        spread,
        shift_error,
        conflict=True,
        stretch_lines=own,
    )


def mass(
    ds: xr.Dataset,
    *,
    channel: str | None = None,
    schema: str | PathLike | Schema | None = None,
    prior: tuple[float, float] | PathLike | bool | None = None,
    polynomial: Sequence[float] | None = None,
) -> xr.Dataset:
    """Calibrate every event's TOF spectrum and add a mass coordinate.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model.
    channel : str, optional
        TOF channel (default: the schema's ``mass.channel``).
    schema : str, path or Schema, optional
        Schema whose ``mass`` section to use instead of the one the data carry.
    prior : (float, float), path or bool, optional
        Campaign stretch and spread (µs/√u), or the YAML file ``idex calibrate --tof`` wrote (its
        ``statistics``); default (``None`` or ``True``) the schema's ``stretch_prior_us_per_sqrt_u``;
        ``False`` calibrates every event on its own lines only.
    polynomial : sequence of float, optional
        A lab calibration's terms ``a0, a1, a2, ...`` of ``t - trigger = a0 + a1 sqrt(m) + a2 m + ...`` (µs):
        adds the coordinate ``mass_polynomial`` from them (:func:`idex.science.mass_polynomial.polynomial_mass`).

    Returns
    -------
    xarray.Dataset
        ``ds`` plus ``mass_stretch`` (µs/√u), ``mass_shift`` (µs from the record start), their
        ``_stderr``, ``mass_lines_matched``, ``mass_kappa`` and the coordinate ``mass`` (u) on
        ``(event, <sample dim>)``: ``((t - shift) / stretch)²``, 0 before ``shift``. Undetermined
        calibrations are NaN (the mass axis too) and set ``QualityFlag.MASS_UNDETERMINED``. With a prior,
        ``mass_stretch_lines`` holds each event's own-lines stretch and events whose lines disagree with the
        prior carry the campaign stretch and ``QualityFlag.MASS_PRIOR_CONFLICT``. Calling ``mass()`` again
        replaces all of these.
    """
    schema = schema_of(ds, schema)
    config = schema.mass
    if config is None:
        raise MissingKeyError(f"schema {schema.name!r} has no 'mass' section")
    channel = channel or config.channel
    spec = schema.channels[channel]
    _, masses, weights = reference_lines(config.lines)
    campaign = _campaign_prior(config, prior)
    clock = ds[spec.time].values
    dt = float(np.median(np.diff(clock)))
    signal = ds[channel].where(ds[channel] != spec.fill_value).values
    trigger = ds[spec.trigger_time].values
    fits = []
    for row, trig in zip(signal, trigger, strict=True):
        if not np.isfinite(trig):
            fits.append(UNDETERMINED)
            continue
        stop = max(2, int((trig + config.baseline_before_trigger_us) / dt))
        fits.append(
            calibrate_spectrum(
                row,
                dt,
                stretch_range=config.stretch_us_per_sqrt_u,
                shift_range=(trig + config.shift_from_trigger_us[0], trig + config.shift_from_trigger_us[1]),
                masses=masses,
                weights=weights,
                baseline=slice(0, stop),
                tolerance_us=config.match_tolerance_us,
                prior=campaign,
                prior_sigmas=config.prior_sigmas,
                peaks=config.peaks,
            )
        )
    stretch = np.array([f.stretch for f in fits])
    shift = np.array([f.shift for f in fits])
    with np.errstate(all="ignore"):
        axis = np.where(
            clock[None, :] > shift[:, None], ((clock[None, :] - shift[:, None]) / stretch[:, None]) ** 2, 0.0
        )
    axis[~np.isfinite(stretch)] = np.nan  # undetermined: no mass axis
    provenance = (
        f"idex one-to-one line pairing against defs/{config.lines} (at least {MIN_LINES} lines), schema {schema.name}"
    )
    if campaign is not None:
        provenance += (
            f", campaign stretch prior {campaign[0]} +- {campaign[1]} us/sqrt(u) "
            f"(conflict beyond {config.prior_sigmas} sigma)"
        )
    mass_flags = QualityFlag.MASS_UNDETERMINED | QualityFlag.MASS_PRIOR_CONFLICT
    own = np.where(np.isfinite(stretch), 0, int(QualityFlag.MASS_UNDETERMINED))
    own |= np.array([int(QualityFlag.MASS_PRIOR_CONFLICT) if f.conflict else 0 for f in fits], dtype=np.int64)
    flags = without_flags(ds["quality_flags"].values, mass_flags) | own.astype(np.uint16)
    result = ds.assign(
        mass_stretch=(
            "event",
            stretch,
            {"long_name": "TOF stretch: flight time per sqrt(mass)", "units": "us/sqrt(u)", "calibration": provenance},
        ),
        mass_stretch_stderr=(
            "event",
            np.array([f.stretch_stderr for f in fits]),
            {"long_name": "Standard error of the TOF stretch", "units": "us/sqrt(u)"},
        ),
        mass_shift=(
            "event",
            shift,
            {
                "long_name": "TOF shift: time of zero mass from the record start",
                "units": "us",
                "calibration": provenance,
            },
        ),
        mass_shift_stderr=(
            "event",
            np.array([f.shift_stderr for f in fits]),
            {"long_name": "Standard error of the TOF shift", "units": "us"},
        ),
        mass_lines_matched=(
            "event",
            np.array([f.matched for f in fits], dtype=np.int16),
            {"long_name": "Reference lines paired one to one with detected peaks"},
        ),
        mass_stretch_lines=(
            "event",
            np.array([f.stretch_lines for f in fits]),
            {"long_name": "TOF stretch from the event's own lines alone", "units": "us/sqrt(u)"},
        ),
        mass_kappa=(
            "event",
            np.array([f.kappa for f in fits]),
            {"long_name": "Mean signed distance of peak masses from the nearest integer", "units": "u"},
        ),
        quality_flags=(ds["quality_flags"].dims, flags.astype(np.uint16), ds["quality_flags"].attrs),
    ).assign_coords(
        mass=(
            ("event", spec.dim),
            axis,
            {"long_name": f"Mass scale of {channel}", "units": "u", "calibration": provenance},
        )
    )
    if polynomial is not None:
        lab = polynomial_mass(clock[None, :] - trigger[:, None], polynomial)
        terms = ", ".join(f"{a:.6g}" for a in polynomial)
        attrs = {
            "long_name": f"Mass scale of {channel} from a lab polynomial in sqrt(mass)",
            "units": "u",
            "calibration": f"t - trigger = polynomial in sqrt(m) with terms [{terms}] us (lab calibration)",
        }
        result = result.assign_coords(mass_polynomial=(("event", spec.dim), lab, attrs))
    return result


def _campaign_prior(
    config: MassSpec, prior: tuple[float, float] | PathLike | bool | None
) -> tuple[float, float] | None:
    """The campaign stretch and spread to use, from the argument or the schema."""
    if prior is False:
        return None
    if prior is None or prior is True:
        return config.stretch_prior
    if isinstance(prior, tuple):
        centre, spread = (float(v) for v in prior)
    else:
        doc = yaml.safe_load(Path(prior).read_text(encoding="utf-8"))
        try:
            stats = doc["statistics"]["stretch_us_per_sqrt_u"]
            centre, spread = float(stats["median"]), float(stats["robust_sigma"])
        except (KeyError, TypeError) as error:
            raise InputError(
                f"{prior}: no statistics.stretch_us_per_sqrt_u median/robust_sigma (write it with idex calibrate --tof)"
            ) from error
    if not (centre > 0 and spread > 0):
        raise InputError(f"stretch prior {centre} +- {spread}: both must be positive")
    return centre, spread
