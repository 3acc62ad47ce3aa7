"""A global start for the impact model: the best point of a coarse grid, with the linear parameters solved exactly.

Local starts (:mod:`idex.fit.guesses`) read the pulse off the data; on a weak or unusual record (a slow
ramp, a pulse whose rise is longer than its decay, an onset far from the trigger) every one of them may lie
in the wrong basin of χ². Here, for every combination of onset, rise and discharge time on a coarse grid
spanning the record, the model is linear in the baseline and the amplitude, so those two are solved by
least squares (the amplitude clipped to its bounds) and the χ² of the combination follows exactly. The grid
point of lowest χ² is one more start for the engine (:mod:`idex.fit.engine`), which explores it with the others.

The grid is: :data:`ONSETS` onsets on evenly spaced samples of the record, and :data:`TIMES` rise and discharge times
each, logarithmically from the sample period to the record's length (the discharge to
:data:`DISCHARGE_SPAN` record lengths: a step that hardly decays), all inside the parameters' bounds.
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np

from idex.threads import blocks, run_blocks

__all__ = ["DISCHARGE_SPAN", "ONSETS", "TIMES", "grid_start"]

ONSETS = 24
"""Onsets on the grid, on evenly spaced samples from the record's first."""
TIMES = 8
"""Rise times and discharge times on the grid (each)."""
DISCHARGE_SPAN = 100.0
"""Longest discharge time on the grid, in record lengths."""


@numba.njit(cache=True, nogil=True)
def _best_rows(origin, y, w, step, rises, discharges, amplitude_bounds, out):  # pragma: no cover - compiled
    """Fill ``out[r]`` with the impact parameters of the lowest-χ² grid point of every row.

    Onsets sit on samples, and the model is evaluated on the row's median sample step from ``origin`` (the first
    sample's time; ``s = j × step``), so a
    pulse shape is computed once per rise and discharge time and only shifted for each onset: a start, not a fit.
    """
    n, m = y.shape
    shape = np.empty(m)
    running, running_squares = np.zeros(m + 1), np.zeros(m + 1)
    unrisen, left = np.empty((rises.shape[1], m)), np.empty((discharges.shape[1], m))
    for r in range(n):
        sw = sy = syy = 0.0
        whole = True  # every sample valid: the shape's sums over a record's tail are prefix sums, shared by the onsets
        for j in range(m):
            sw += w[r, j]
            sy += w[r, j] * y[r, j]
            syy += w[r, j] * y[r, j] * y[r, j]
            whole = whole and w[r, j] == 1.0
        if sw < 3 or not step[r] > 0:
            continue
        best = np.inf
        for j in range(m):  # each exponential once per time on the grid, not once per combination
            s = j * step[r]
            for g in range(rises.shape[1]):
                unrisen[g, j] = math.exp(-s / rises[r, g])
            for g in range(discharges.shape[1]):
                left[g, j] = math.exp(-s / discharges[r, g])
        for g_rise, rise in enumerate(rises[r]):
            for g_discharge, discharge in enumerate(discharges[r]):
                for j in range(m):
                    shape[j] = (1.0 - unrisen[g_rise, j]) * left[g_discharge, j]
                    running[j + 1] = running[j] + shape[j]  # summed in the order of the loop below: the same sums
                    running_squares[j + 1] = running_squares[j] + shape[j] * shape[j]
                for i in range(ONSETS):
                    first = (i * m) // ONSETS
                    ss = sss = sys = 0.0
                    if whole:
                        ss, sss = running[m - first], running_squares[m - first]
                        for j in range(m - first):
                            sys += shape[j] * y[r, first + j]
                    else:
                        for j in range(m - first):
                            weighted = w[r, first + j] * shape[j]
                            ss += weighted
                            sss += weighted * shape[j]
                            sys += weighted * y[r, first + j]
                    spread = sss - ss * ss / sw
                    if not spread > 1e-12 * max(sss, 1e-300):
                        continue
                    a = min(max((sys - ss * sy / sw) / spread, amplitude_bounds[0]), amplitude_bounds[1])
                    b = (sy - a * ss) / sw
                    chi2 = syy - 2 * a * sys - 2 * b * sy + a * a * sss + 2 * a * b * ss + b * b * sw
                    if chi2 < best:
                        best = chi2
                        out[r, 0], out[r, 1], out[r, 2] = origin[r] + first * step[r], b, a
                        out[r, 3], out[r, 4] = rise, discharge


def grid_start(t: np.ndarray, y: np.ndarray, valid: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The lowest-χ² point of the impact-model grid of every row (NaN rows where too few samples are valid).

    Parameters
    ----------
    t, y : numpy.ndarray
        ``(n, m)`` times and data.
    valid : numpy.ndarray
        ``(n, m)`` samples that take part in the fit.
    lower, upper : numpy.ndarray
        ``(5,)`` bounds of the impact parameters (:data:`idex.fit.models.MODELS` order).

    Returns
    -------
    numpy.ndarray
        ``(n, 5)`` start parameters.

    Examples
    --------
    >>> from idex.fit.models import MODELS
    >>> t = np.linspace(-60.0, 60.0, 400)[None, :]
    >>> y = MODELS["impact"].function(t, np.array([[20.0, 3.0, 5.0, 2.0, 30.0]]))
    >>> start = grid_start(t, y, np.ones(t.shape, bool), np.array([-np.inf, -np.inf, 0, 1e-3, 1e-3]),
    ...                    np.array([np.inf, np.inf, np.inf, 1e3, 1e5]))
    >>> np.round(start[0, [0, 2]], 1).tolist()  # onset and amplitude of the grid's best point
    [20.0, 5.0]
    """
    t = np.ascontiguousarray(np.broadcast_to(t, y.shape), dtype=np.float64)
    valid = np.asarray(valid, bool) & np.isfinite(y) & np.isfinite(t)
    weight = np.ascontiguousarray(valid, dtype=np.float64)
    data = np.ascontiguousarray(np.where(valid, y, 0.0), dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():  # a row without valid samples: NaN, skipped below
        warnings.simplefilter("ignore", RuntimeWarning)
        first = np.where(valid, t, np.inf).min(axis=1)
        last = np.where(valid, t, -np.inf).max(axis=1)
        span = last - first
        step = np.nanmedian(np.where(valid[:, 1:], np.diff(t, axis=1), np.nan), axis=1)
        origin = np.ascontiguousarray(first - np.argmax(valid, axis=1) * step)  # the time of sample 0
    rises = _log_grid(step, span, lower[3], upper[3])
    discharges = _log_grid(step, DISCHARGE_SPAN * span, lower[4], upper[4])
    out = np.full((y.shape[0], 5), np.nan)
    bounds = np.array([lower[2], upper[2]], dtype=np.float64)

    def rows(start: int, stop: int) -> None:
        _best_rows(
            origin[start:stop],
            data[start:stop],
            weight[start:stop],
            step[start:stop],
            rises[start:stop],
            discharges[start:stop],
            bounds,
            out[start:stop],
        )

    run_blocks(rows, blocks(y.shape[0], minimum=4))
    return out


def _log_grid(shortest: np.ndarray, longest: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """``(n, TIMES)`` times spaced logarithmically from ``shortest`` to ``longest``, inside ``[lower, upper]``."""
    with np.errstate(all="ignore"):
        low = np.clip(np.where(np.isfinite(shortest) & (shortest > 0), shortest, 1.0), lower, upper)
        high = np.clip(np.where(np.isfinite(longest) & (longest > low), longest, 10 * low), lower, upper)
        fraction = np.linspace(0.0, 1.0, TIMES)
        return np.ascontiguousarray(np.exp(np.log(low)[:, None] + np.log(high / low)[:, None] * fraction[None, :]))
