"""Time of flight to mass: ``t = shift + stretch * sqrt(m)``, calibrated per event against reference lines.

Each event's TOF spectrum is matched to a list of physical isotope masses (``defs/isotope_masses.csv``):

1. the spectrum above its pre-trigger baseline is lightly smoothed;
2. a coarse grid search over ``stretch`` (µs/√u) and integer-sample ``shift`` maximises the weighted sum
   of the spectrum at the predicted line positions;
3. detected peaks (prominence above a robust noise estimate, sub-sample centroid) are matched to the
   nearest predicted line, and ``shift``/``stretch`` are refined by least squares on the matched
   (√m, t) pairs, twice.

Everything works in consistent units (µs from the start of the record, the sample clock of the
event model), avoiding the official pipeline's sample-versus-nanosecond mix-up (ALGORITHMS §6.3).
Reported per event: stretch, shift, the number of matched lines and kappa (mean signed distance of
the detected peaks' masses from the nearest integer, the official definition).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xarray as xr
from scipy.signal import find_peaks

from idex.calibration import schema_of
from idex.resources import data_dir

__all__ = ["MassFit", "calibrate_spectrum", "mass", "reference_lines"]


@lru_cache(maxsize=4)
def reference_lines(name: str = "isotope_masses.csv") -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Names, masses (u) and weights of the reference lines in ``defs/<name>``."""
    rows = [line.split(",") for line in (data_dir("defs") / name).read_text(encoding="utf-8").splitlines()
            if line and not line.startswith(("#", "name,"))]
    return tuple(r[0] for r in rows), np.array([float(r[1]) for r in rows]), np.array([float(r[2]) for r in rows])


@dataclass(frozen=True)
class MassFit:
    """Calibration of one spectrum."""

    stretch: float
    shift: float
    matched: int
    kappa: float


def _smooth(x: np.ndarray, width: int = 5) -> np.ndarray:
    return np.convolve(x, np.ones(width) / width, mode="same")


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
    stretch_steps: int = 401,
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
        Largest distance between a detected peak and the line it is matched to.
    stretch_steps : int
        Coarse grid size in stretch.

    Returns
    -------
    MassFit
    """
    x = np.asarray(signal, dtype=np.float64)
    x = np.where(np.isfinite(x), x, np.nan)
    quiet = x[baseline]
    level = np.nanmedian(quiet) if np.isfinite(quiet).any() else np.nanmedian(x)
    noise = 1.4826 * np.nanmedian(np.abs(quiet - level)) if np.isfinite(quiet).any() else np.nan
    clean = _smooth(np.clip(np.nan_to_num(x - level), 0, None))
    n = clean.size
    roots = np.sqrt(masses)
    stretches = np.linspace(*stretch_range, stretch_steps)
    shifts = np.arange(int(np.floor(shift_range[0] / dt)), int(np.ceil(shift_range[1] / dt)) + 1)
    positions = np.rint(stretches[:, None] * roots[None, :] / dt).astype(np.int64)  # (stretch, line)
    index = positions[:, None, :] + shifts[None, :, None]  # (stretch, shift, line)
    inside = (index >= 0) & (index < n)
    score = np.sum(np.where(inside, clean[np.clip(index, 0, n - 1)], 0.0) * weights, axis=2)
    best_s, best_k = np.unravel_index(np.argmax(score), score.shape)
    stretch, shift = float(stretches[best_s]), float(shifts[best_k] * dt)
    if not np.isfinite(score[best_s, best_k]) or score[best_s, best_k] <= 0:
        return MassFit(np.nan, np.nan, 0, np.nan)
    prominence = max(4.5 * noise, 0.015 * np.nanmax(clean)) if np.isfinite(noise) else 0.015 * np.nanmax(clean)
    peaks, _ = find_peaks(clean, prominence=prominence, distance=max(3, int(round(0.05 / dt))))
    times = _centroids(clean, peaks) * dt
    matched = 0
    for _ in range(2):
        predicted = shift + stretch * roots
        distance = np.abs(times[None, :] - predicted[:, None]) if times.size else np.full((roots.size, 0), np.inf)
        nearest = np.argmin(distance, axis=1) if times.size else np.zeros(roots.size, dtype=int)
        ok = distance[np.arange(roots.size), nearest] <= tolerance_us if times.size else np.zeros(roots.size, bool)
        matched = int(ok.sum())
        if matched >= 2:
            stretch, shift = np.polyfit(roots[ok], times[nearest[ok]], 1)
        elif matched == 1:
            shift = float(times[nearest[ok]][0] - stretch * roots[ok][0])
    with np.errstate(all="ignore"):
        peak_masses = ((times - shift) / stretch) ** 2
    peak_masses = peak_masses[times > shift]
    kappa = float(np.mean(peak_masses - np.round(peak_masses))) if peak_masses.size else np.nan
    return MassFit(float(stretch), float(shift), matched, kappa)


def _centroids(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-sample peak positions by a parabola through each maximum and its neighbours."""
    peaks = peaks[(peaks > 0) & (peaks < x.size - 1)]
    left, mid, right = x[peaks - 1], x[peaks], x[peaks + 1]
    curvature = left - 2 * mid + right
    with np.errstate(all="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return peaks + np.clip(offset, -0.5, 0.5)


def mass(ds: xr.Dataset, *, channel: str | None = None) -> xr.Dataset:
    """Calibrate every event's TOF spectrum and add a mass coordinate.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model.
    channel : str, optional
        TOF channel (default: the schema's ``mass.channel``).

    Returns
    -------
    xarray.Dataset
        ``ds`` plus ``mass_stretch`` (µs/√u), ``mass_shift`` (µs from the record start),
        ``mass_lines_matched``, ``mass_kappa`` and the coordinate ``mass`` (u) on
        ``(event, <sample dim>)``: ``((t - shift) / stretch)²``, 0 before ``shift``.
    """
    schema = schema_of(ds)
    config = schema.mass
    if config is None:
        raise KeyError(f"schema {schema.name!r} has no 'mass' section")
    channel = channel or config.channel
    spec = schema.channels[channel]
    _, masses, weights = reference_lines(config.lines)
    clock = ds[spec.time].values
    dt = float(np.median(np.diff(clock)))
    signal = ds[channel].where(ds[channel] != spec.fill_value).values
    trigger = ds[spec.trigger_time].values
    fits = []
    for row, trig in zip(signal, trigger):
        if not np.isfinite(trig):
            fits.append(MassFit(np.nan, np.nan, 0, np.nan))
            continue
        stop = max(2, int((trig + config.baseline_before_trigger_us) / dt))
        fits.append(calibrate_spectrum(
            row, dt, stretch_range=config.stretch_us_per_sqrt_u,
            shift_range=(trig + config.shift_from_trigger_us[0], trig + config.shift_from_trigger_us[1]),
            masses=masses, weights=weights, baseline=slice(0, stop), tolerance_us=config.match_tolerance_us))
    stretch = np.array([f.stretch for f in fits])
    shift = np.array([f.shift for f in fits])
    with np.errstate(all="ignore"):
        axis = np.where(clock[None, :] > shift[:, None], ((clock[None, :] - shift[:, None]) / stretch[:, None]) ** 2,
                        0.0)
    return ds.assign(
        mass_stretch=("event", stretch, {"long_name": "TOF stretch: flight time per sqrt(mass)", "units": "us/sqrt(u)"}),
        mass_shift=("event", shift, {"long_name": "TOF shift: time of zero mass from the record start", "units": "us"}),
        mass_lines_matched=("event", np.array([f.matched for f in fits], dtype=np.int16),
                            {"long_name": "Reference lines matched to detected peaks"}),
        mass_kappa=("event", np.array([f.kappa for f in fits]),
                    {"long_name": "Mean signed distance of peak masses from the nearest integer", "units": "u"}),
    ).assign_coords(mass=(("event", spec.dim), axis, {"long_name": f"Mass scale of {channel}", "units": "u"}))
