"""Reading a TOF spectrum as lines of known mass: peaks found and centred, every pair of peaks read as every pair
of lines, the hypothesis that explains most lines refined on one-to-one pairs (used by :mod:`idex.science.mass`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.signal import find_peaks

from idex.model.statistics import robust_sigma
from idex.schema import PeakSearch

__all__ = ["MIN_LINES", "SHARPNESS", "UNDETERMINED", "MassFit", "kappa", "pair", "peak_times", "solve"]


@dataclass(frozen=True)
class MassFit:
    """Calibration of one spectrum (NaN stretch and shift when undetermined)."""

    stretch: float
    shift: float
    matched: int
    kappa: float
    stretch_stderr: float = math.nan
    shift_stderr: float = math.nan
    conflict: bool = False
    """The event's own lines disagree with the campaign prior: ``stretch`` is the prior's."""
    stretch_lines: float = math.nan
    """The stretch the event's lines give on their own (a diagnostic)."""

    @property
    def determined(self) -> bool:
        """True when at least ``MIN_LINES`` lines agree on the calibration."""
        return bool(np.isfinite(self.stretch))


MIN_LINES = 3
"""Fewest paired lines for a determined calibration (two points always fit a line)."""

UNDETERMINED = MassFit(math.nan, math.nan, 0, math.nan)
SHARPNESS = 0.2
"""Width of a line's score, as a fraction of the pairing tolerance: a true calibration places every line
within a sample or two of its peak, a coincidental one only somewhere inside the tolerance."""


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    return np.convolve(x, np.ones(width) / width, mode="same")


def peak_times(signal: np.ndarray, dt: float, baseline: slice, search: PeakSearch | None = None) -> np.ndarray:
    """Sub-sample times (µs from the record start) of the peaks standing out of the noise (thresholds: the
    schema's ``mass`` section, :class:`idex.schema.PeakSearch`; default the shipped schemas')."""
    search = search if search is not None else PeakSearch.shipped()
    x = np.asarray(signal, dtype=np.float64)
    x = np.where(np.isfinite(x), x, np.nan)
    quiet = x[baseline]
    level = np.nanmedian(quiet) if np.isfinite(quiet).any() else np.nanmedian(x)
    noise = robust_sigma(quiet) if np.isfinite(quiet).any() else np.nan
    clean = _smooth(np.clip(np.nan_to_num(x - level), 0, None), search.smoothing_samples)
    if not np.any(clean > 0):
        return np.empty(0)
    relative = search.prominence_fraction * np.nanmax(clean)
    prominence = max(search.prominence_sigma * noise, relative) if np.isfinite(noise) else relative
    peaks, _ = find_peaks(clean, prominence=prominence, distance=max(3, int(round(search.separation_us / dt))))
    return _centroids(clean, peaks) * dt


def solve(
    times: np.ndarray,
    roots: np.ndarray,
    weights: np.ndarray,
    stretch_range: tuple[float, float],
    shift_range: tuple[float, float],
    tolerance: float,
) -> MassFit:
    """The best line hypothesis inside the ranges, refined by least squares on one-to-one pairs."""
    best = _best_hypothesis(times, roots, weights, stretch_range, shift_range, tolerance)
    if best is None:
        return UNDETERMINED
    stretch, shift = best
    for _ in range(3):
        lines, found = pair(times, shift + stretch * roots, tolerance)
        if lines.size < MIN_LINES:
            return MassFit(math.nan, math.nan, int(lines.size), math.nan)
        (stretch, shift), covariance = np.polyfit(roots[lines], times[found], 1, cov="unscaled")
        residual = times[found] - (shift + stretch * roots[lines])
    scatter = float(np.sum(residual**2) / max(lines.size - 2, 1))
    stretch_error, shift_error = np.sqrt(np.diag(covariance) * scatter)
    return MassFit(
        float(stretch),
        float(shift),
        int(lines.size),
        kappa(times, stretch, shift),
        float(stretch_error),
        float(shift_error),
        stretch_lines=float(stretch),
    )


def kappa(times: np.ndarray, stretch: float, shift: float) -> float:
    with np.errstate(all="ignore"):
        peak_masses = ((times - shift) / stretch) ** 2
    peak_masses = peak_masses[times > shift]
    return float(np.mean(peak_masses - np.round(peak_masses))) if peak_masses.size else math.nan


def _best_hypothesis(
    times: np.ndarray,
    roots: np.ndarray,
    weights: np.ndarray,
    stretch_range: tuple[float, float],
    shift_range: tuple[float, float],
    tolerance: float,
) -> tuple[float, float] | None:
    """The (stretch, shift) proposed by a pair of peaks read as a pair of lines that explains the most lines."""
    if times.size < 2:
        return None
    i, j = np.triu_indices(times.size, 1)
    a, b = np.triu_indices(roots.size, 1)
    with np.errstate(all="ignore"):
        stretch = (times[j][:, None] - times[i][:, None]) / (roots[b] - roots[a])[None, :]  # (peak pair, line pair)
        shift = times[i][:, None] - stretch * roots[a][None, :]
    keep = (
        (stretch >= stretch_range[0])
        & (stretch <= stretch_range[1])
        & (shift >= shift_range[0])
        & (shift <= shift_range[1])
    )
    if not keep.any():
        return None
    stretch, shift = stretch[keep], shift[keep]
    predicted = shift[:, None] + stretch[:, None] * roots[None, :]  # (hypothesis, line)
    distance = np.min(np.abs(predicted[:, :, None] - times[None, None, :]), axis=2)
    closeness = np.where(distance <= tolerance, np.exp(-0.5 * (distance / (SHARPNESS * tolerance)) ** 2), 0.0)
    score = closeness.sum(axis=1) + 1e-3 * (closeness * weights[None, :]).sum(axis=1)  # weights break ties only
    best = int(np.argmax(score))
    return float(stretch[best]), float(shift[best])


def pair(times: np.ndarray, predicted: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (line, peak) within ``tolerance`` minimising the total distance."""
    distance = np.abs(predicted[:, None] - times[None, :])
    cost = np.where(distance <= tolerance, distance, tolerance * 1e3)
    lines, found = linear_sum_assignment(cost)
    close = distance[lines, found] <= tolerance
    return lines[close], found[close]


def _centroids(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-sample peak positions by a parabola through each maximum and its neighbours."""
    peaks = peaks[(peaks > 0) & (peaks < x.size - 1)]
    left, mid, right = x[peaks - 1], x[peaks], x[peaks + 1]
    curvature = left - 2 * mid + right
    with np.errstate(all="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return peaks + np.clip(offset, -0.5, 0.5)
