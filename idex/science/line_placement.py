"""Where each line of the line list sits on one event's time axis, and its template there.

The mass scale ``shift + stretch * sqrt(m)`` puts a line within a few samples of where it is; this module
corrects that locally (:func:`local_offsets`, from the strong atom lines' maxima), joins lines the instrument
cannot separate (:func:`line_groups`), places the strong lines by fitting their positions
(:func:`place_lines`) and draws every line's EMG template with its nominal, wider and longer-tailed variants
(:func:`line_shapes`), for the fits of :mod:`idex.science.composition`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idex.model.statistics import MAD_TO_SIGMA
from idex.schema import CompositionSpec
from idex.science.line_fit import fit_columns, templates
from idex.science.line_list import LineList

__all__ = [
    "PLACE_SIGMA",
    "POSITION_ITERATIONS",
    "POSITION_STEP_SAMPLES",
    "RECENTRE_SAMPLES",
    "RECENTRE_SIGMA",
    "SHAPE_STEP",
    "Placement",
    "line_groups",
    "line_shapes",
    "local_offsets",
    "place_lines",
]

RECENTRE_SAMPLES = 8
"""Farthest a strong line's maximum may lie from its predicted time to measure the mass scale's local offset."""
RECENTRE_SIGMA = 20.0
"""Height, in noise standard deviations, of a line whose maximum measures the local offset."""
POSITION_ITERATIONS = 3
"""Fits that place the strong lines (:func:`place_lines`)."""
POSITION_STEP_SAMPLES = 1.0
"""Largest move of a line's position in one of those fits (samples)."""
PLACE_SIGMA = 5.0
"""Area, in standard errors, of a line whose position is fitted (:func:`place_lines`)."""
SHAPE_STEP = 0.3
"""Largest relative change of a line's width or decay time in one of those fits."""
SHAPE_BOUNDS = (0.5, 4.0)
"""Range of a line's width and decay time, relative to the nominal shape."""
SHAPE_DELTA = 0.05
"""Relative change of the width and decay time over which their derivatives are taken."""

Shape = tuple[np.ndarray, np.ndarray]


def line_groups(lines: LineList, times: np.ndarray, resolution: float) -> list[np.ndarray]:
    """Fitted lines joined into groups closer than ``resolution`` (µs) on the time axis."""
    fitted = lines.fitted[np.argsort(times[lines.fitted])]
    groups: list[list[int]] = []
    for index in fitted:
        if groups and times[index] - times[groups[-1][-1]] < resolution:
            groups[-1].append(int(index))
        else:
            groups.append([int(index)])
    return [np.array(g) for g in groups]


def local_offsets(
    y: np.ndarray, sigma: np.ndarray, clock: np.ndarray, times: np.ndarray, lines: LineList, dt: float
) -> np.ndarray:
    """Correction of every line's time: the mass scale ``shift + stretch * sqrt(m)`` is not exact at every mass
    (at 1 u it can be several samples off). Atom lines standing :data:`RECENTRE_SIGMA` above the noise with a
    maximum within :data:`RECENTRE_SAMPLES` of their predicted time (on whichever gain holds it) measure the offset; a
    polynomial in ``sqrt(m)`` through them (degree up to 2 with at least one point to spare, outliers dropped,
    constant beyond the measured masses) corrects all lines."""
    roots, measured = [], []
    for index in np.flatnonzero(np.array(lines.kinds) == "atom"):
        centre = int(round((times[index] - clock[0]) / dt))
        low, high = centre - RECENTRE_SAMPLES, centre + RECENTRE_SAMPLES + 1
        if low < 1 or high >= y.size - 1:
            continue
        peak = low + int(np.nanargmax(y[low:high]))
        if peak in (low, high - 1) or not y[peak] > RECENTRE_SIGMA * sigma[peak]:
            continue
        left, mid, right = y[peak - 1], y[peak], y[peak + 1]
        curvature = left - 2 * mid + right
        fraction = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
        roots.append(np.sqrt(lines.masses[index]))
        measured.append(clock[0] + (peak + np.clip(fraction, -0.5, 0.5)) * dt - times[index])
    if not roots:
        return np.zeros(times.size)
    x, offset = np.array(roots), np.array(measured)
    keep = np.ones(x.size, bool)
    for _ in range(3):
        degree = min(2, int(keep.sum()) - 2)  # a curve only where points are left over to check it
        coefficients = np.polyfit(x[keep], offset[keep], degree) if degree > 0 else [float(np.median(offset[keep]))]
        residual = offset - np.polyval(coefficients, x)
        keep = np.abs(residual) <= max(3 * MAD_TO_SIGMA * np.median(np.abs(residual[keep])), 0.5 * dt)
        if keep.sum() < 1:
            break
    # never extrapolated: beyond the measured lines, the offset of the nearest one
    return np.polyval(coefficients, np.clip(np.sqrt(lines.masses), x.min(), x.max()))


def line_shapes(
    clock: np.ndarray, times: np.ndarray, masses: np.ndarray, config: CompositionSpec, shape: Shape
) -> np.ndarray:
    """``(3, line, sample)`` templates of every line: its shape, wider, longer tail (by the shape spread)."""
    spread = 1 + config.line_shape_spread
    width, tail = shape
    nominal = (config.line_sigma_us, (config.line_tau_us[0], config.line_tau_us[1]))
    return np.array(
        [
            templates(clock, times, masses, *nominal, (width * w, tail * d))
            for w, d in ((1, 1), (spread, 1), (1, spread))
        ]
    )


@dataclass(frozen=True)
class Placement:
    """Where the lines sit and what shape they have on one event, and the columns that keep the strong ones free."""

    times: np.ndarray
    """Time of every line's maximum (µs)."""
    shape: Shape
    """Per line, factors of the nominal width and decay time (1 for lines too weak to measure theirs)."""
    freedom: np.ndarray
    """``(3 * strong, samples)`` derivatives of each strong line's template by its time, width and tail."""
    strong: np.ndarray
    """Lines (indices into the line list) whose position and shape were fitted."""


def place_lines(
    y: np.ndarray,
    sigma: np.ndarray,
    clock: np.ndarray,
    times: np.ndarray,
    lines: LineList,
    groups: list[np.ndarray],
    representative: list[int],
    config: CompositionSpec,
    correlation: np.ndarray,
    dt: float,
) -> Placement:
    """Each strong line placed where it is, with the shape it has, and the columns that keep both free.

    The mass scale and its local offsets put a line within a sample or two of where it is, and a template
    off by a sample explains a line with a dipole (a wrong area whose error does not know it). Big lines are
    also wider and flatter than the nominal shape (the line of a big impact, or a line taken from a slower lower
    gain). Strength is judged against the noise error alone (not inflated by the misfit: a line the template fits
    badly is the one to free). A group whose line stands :data:`PLACE_SIGMA` above it gets a column for its time, and
    one standing :data:`RECENTRE_SIGMA` above it three columns, the derivatives of
    its template by its time, its width and its decay time: each one's coefficient over the area is the
    correction (linearised, so it is applied and the fit repeated :data:`POSITION_ITERATIONS` times, each step at
    most :data:`POSITION_STEP_SAMPLES` in time and :data:`SHAPE_STEP` in relative width or tail). The derivatives of
    a unit-area template integrate to zero, so the area stays the line's area; the columns stay in the fits that
    follow, so the areas' errors include the positions' and shapes' uncertainty.
    """
    times, inside = times.copy(), (times > clock[0]) & (times < clock[-1])
    nominal = (config.line_sigma_us, (config.line_tau_us[0], config.line_tau_us[1]))
    width, tail = np.ones(times.size), np.ones(times.size)
    rows = np.array(representative)
    step = 0.25 * dt

    def freedom_of(placed: list[int], shaped: list[int]) -> np.ndarray:
        """Derivatives by time (``placed`` groups), width and tail (``shaped`` groups), per unit of ``2 * step``
        in time and ``2 * SHAPE_DELTA`` in relative width and tail."""
        columns = []
        for which, change in (
            (placed, lambda h, at, w, d: (at + h * step, (w, d))),
            (shaped, lambda h, at, w, d: (at, (w * (1 + h * SHAPE_DELTA), d))),
            (shaped, lambda h, at, w, d: (at, (w, d * (1 + h * SHAPE_DELTA)))),
        ):
            index = rows[which]
            state = (times[index], width[index], tail[index])
            (t_up, s_up), (t_down, s_down) = change(1, *state), change(-1, *state)
            masses = lines.masses[index]
            columns.append(
                templates(clock, t_up, masses, *nominal, s_up) - templates(clock, t_down, masses, *nominal, s_down)
            )
        return np.vstack(columns)

    placed: list[int] = []
    shaped: list[int] = []
    limits = (POSITION_STEP_SAMPLES * dt, SHAPE_STEP, SHAPE_STEP)
    for _ in range(POSITION_ITERATIONS):
        design = templates(clock, times[rows], lines.masses[rows], *nominal, (width[rows], tail[rows]))
        design[~inside[rows]] = 0.0
        fit = fit_columns(y, sigma, np.vstack([design, freedom_of(placed, shaped)]), correlation)
        # strength against the noise alone: a line its template fits badly is the one that needs freeing
        area, error = fit.area[: len(groups)], (fit.stderr / fit.inflation)[: len(groups)]
        coefficients = np.split(fit.area[len(groups) :], [len(placed), len(placed) + len(shaped)])
        for which, coefficient, scale, limit, kind in zip(
            (placed, shaped, shaped),
            coefficients,
            (2 * step, 2 * SHAPE_DELTA, 2 * SHAPE_DELTA),
            limits,
            range(3),
            strict=True,
        ):
            with np.errstate(all="ignore"):
                moves = np.clip(np.nan_to_num(coefficient / area[which]) * scale, -limit, limit)
            for column, move in zip(which, moves, strict=True):
                group = groups[column]
                if kind == 0:
                    times[group] += move
                elif kind == 1:
                    width[group] = np.clip(width[group] * (1 + move), *SHAPE_BOUNDS)
                else:
                    tail[group] = np.clip(tail[group] * (1 + move), *SHAPE_BOUNDS)
        placed = [k for k in range(len(groups)) if area[k] > PLACE_SIGMA * error[k]]
        shaped = [k for k in placed if area[k] > RECENTRE_SIGMA * error[k]]
    fitted = np.concatenate([groups[k] for k in shaped]) if shaped else np.empty(0, int)
    return Placement(times, (width, tail), freedom_of(placed, shaped), fitted)
