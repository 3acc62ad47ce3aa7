"""Full widths at half maximum of the dust test's peaks (step 3 of :mod:`idex.model.dust_test`), compiled.

Compiled for the same reason as the dust test that calls them: they run on every peak of every gain of every
event inside its compiled loop. A saturated peak is measured on the next lower gain that has an unsaturated
peak within ``match_us`` of it.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["half_maximum_width", "peak_widths"]


@numba.njit(cache=True, nogil=True)
def _crossing(time: np.ndarray, values: np.ndarray, a: int, b: int, level: float) -> float:
    if values[b] == values[a]:
        return time[a]
    return time[a] + (level - values[a]) * (time[b] - time[a]) / (values[b] - values[a])


@numba.njit(cache=True, nogil=True)
def half_maximum_width(corrected: np.ndarray, time: np.ndarray, peak: int) -> float:
    """Width (µs) of the region above half the peak's height around it; NaN where it is not bounded."""
    height = corrected[peak]
    if not (np.isfinite(height) and height > 0):
        return np.nan
    half = height / 2
    n = corrected.size
    left = peak
    while left > 0 and np.isfinite(corrected[left]) and corrected[left] >= half:
        left -= 1
    right = peak
    while right < n - 1 and np.isfinite(corrected[right]) and corrected[right] >= half:
        right += 1
    left_ok = (
        left < n - 1
        and np.isfinite(corrected[left])
        and corrected[left] < half
        and np.isfinite(corrected[left + 1])
        and corrected[left + 1] >= half
    )
    right_ok = (
        right < n - 1
        and np.isfinite(corrected[right])
        and corrected[right] < half
        and np.isfinite(corrected[right - 1])
        and corrected[right - 1] >= half
    )
    if not (left_ok and right_ok):
        return np.nan
    return abs(_crossing(time, corrected, right - 1, right, half) - _crossing(time, corrected, left, left + 1, half))


@numba.njit(cache=True, nogil=True)
def peak_widths(
    raw: np.ndarray,
    corrected: np.ndarray,
    peaks: np.ndarray,
    counts: np.ndarray,
    time: np.ndarray,
    limits: np.ndarray,
    match_us: float,
    widths: np.ndarray,
) -> None:
    """FWHM of every peak of every gain (row = gain) into ``widths``, saturated peaks measured on a lower gain."""
    n_gains = raw.shape[0]
    for g in range(n_gains):
        for slot in range(counts[g]):
            widths[g, slot] = np.nan
            peak = peaks[g, slot]
            if not raw[g, peak] >= limits[g]:
                widths[g, slot] = half_maximum_width(corrected[g], time, peak)
                continue
            for lower in range(g + 1, n_gains):
                if counts[lower] == 0:
                    continue
                nearest = peaks[lower, 0]
                for other in peaks[lower, : counts[lower]]:
                    if abs(time[other] - time[peak]) < abs(time[nearest] - time[peak]):
                        nearest = other
                if abs(time[nearest] - time[peak]) > match_us or raw[lower, nearest] >= limits[lower]:
                    continue
                width = half_maximum_width(corrected[lower], time, nearest)
                if np.isfinite(width):
                    widths[g, slot] = width
                    break
