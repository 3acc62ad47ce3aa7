"""The impact model's onset, scanned cell by cell a few samples either side of a local optimum: the lowest χ² kept.

The impact model is a step at the onset ``t0``: moving ``t0`` across a sample switches that sample from the
baseline to the pulse, so χ² is smooth between two samples (in a *cell*) and kinks at every sample. A weak
pulse's flat valley in ``t0`` then holds a local minimum in almost every cell, and a minimum may sit *on* a
sample, a corner where no gradient vanishes. The local optimiser (:mod:`idex.fit.engine`) stops in the cell
it started in (2023-12-14 target high row 12 of the L1b: 1.6 samples late, χ² 0.01 above the minimum), or at a
corner before the other parameters reached their optimum.

Here, for every fit, each cell within :data:`SAMPLES` samples of its onset is tried: with the rise and
discharge times held and the onset in the cell's middle, the model is linear in the baseline and the
amplitude, which are solved by weighted least squares (the amplitude clipped to its bounds, as
:mod:`idex.fit.grid` does). Every cell whose χ² so comes within one noise variance (the fit's reduced χ²) of
the fit's, and both cells beside an onset that sits on a sample, is fitted by the engine with the onset
bounded to the cell (every other parameter free, its own bounds); from the lowest of them, if it is below the
fit's χ², the engine polishes once more with the real bounds, which sets the status. This repeats from the new
optimum, at most :data:`ROUNDS` times. No start comes from anywhere but the record and its own fit.
"""

from __future__ import annotations

import numpy as np

from idex.fit.engine import LMResult, levenberg_marquardt
from idex.fit.models import FitModel

__all__ = ["ROUNDS", "SAMPLES", "scan_onset"]

SAMPLES = 4
"""Sample periods the onset is moved by, either side of the optimum."""
ROUNDS = 3
"""Scans at most, each from the optimum the previous one found."""
_BLOCK = 256
"""Rows whose cells are profiled together."""


def scan_onset(
    model: FitModel,
    t: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    result: LMResult,
    *,
    scan: np.ndarray | None = None,
    max_iterations: int = 1000,
) -> LMResult:
    """``result`` with every fit moved to the lowest-χ² onset cell within :data:`SAMPLES` samples of its own.

    Parameters
    ----------
    model : FitModel
        The impact model (:data:`idex.fit.models.MODELS` ``["impact"]``).
    t, y : numpy.ndarray
        ``(n, m)`` times and data.
    valid : numpy.ndarray
        ``(n, m)`` samples that take part in the fit.
    lower, upper : numpy.ndarray
        ``(k,)`` parameter bounds.
    result : LMResult
        The engine's fits of the rows.
    scan : numpy.ndarray, optional
        ``(n,)`` booleans: the rows to scan (default every row with a finite fit).
    max_iterations : int
        Iteration limit of each fit.

    Returns
    -------
    LMResult
        A new result: rows whose χ² a scan lowered carry the polished fit (its status, and the polish's
        iterations added); the others are unchanged.

    Examples
    --------
    >>> from idex.fit.models import MODELS
    >>> model = MODELS["impact"]
    >>> t = np.arange(100.0)[None, :]
    >>> y = model.function(t, np.array([[40.5, 0.0, 1.0, 3.0, 50.0]]))
    >>> lower, upper = np.array([0, -np.inf, 0, 1e-3, 1e-3]), np.array([99, np.inf, np.inf, 1e3, 1e5])
    >>> p = np.array([[42.5, 0.0, 1.0, 3.0, 50.0]])  # a fit two samples late
    >>> chi2 = np.sum((y - model.function(t, p)) ** 2, axis=1)
    >>> late = LMResult(p, np.full(p.shape, np.nan), chi2, chi2 / 95, np.zeros(1, int), np.zeros(1, int))
    >>> found = scan_onset(model, t, y, np.ones(t.shape, bool), lower, upper, late)
    >>> round(float(found.params[0, 0]), 3), bool(found.chisqr[0] < late.chisqr[0])
    (40.5, True)
    """
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), y.shape)
    valid = np.asarray(valid, bool) & np.isfinite(y) & np.isfinite(t)
    params, stderr, chisqr, redchi, status, iterations = (
        np.array(getattr(result, name)) for name in ("params", "stderr", "chisqr", "redchi", "status", "iterations")
    )
    rows = np.flatnonzero(np.all(np.isfinite(params), axis=1) & np.isfinite(chisqr) & (valid.sum(axis=1) > 2))
    rows = rows if scan is None else rows[np.asarray(scan, bool)[rows]]

    def fit(which: np.ndarray, start: np.ndarray, low: np.ndarray, high: np.ndarray) -> LMResult:
        with np.errstate(all="ignore"):
            return levenberg_marquardt(
                model,
                np.where(valid[which], t[which], 0.0),
                y[which],
                start,
                lower=low,
                upper=high,
                mask=valid[which],
                max_iterations=max_iterations,
            )

    for _ in range(ROUNDS):
        if not rows.size:
            break
        pair_rows, start, cell = _cells_in_blocks(model, t, y, valid, params, redchi, rows, lower, upper)
        if not pair_rows.size:
            break
        low, high = np.tile(lower, (pair_rows.size, 1)), np.tile(upper, (pair_rows.size, 1))
        low[:, 0], high[:, 0] = np.maximum(cell[:, 0], lower[0]), np.minimum(cell[:, 1], upper[0])
        in_cell = fit(rows[pair_rows], start, low, high)
        cost = np.where(np.isfinite(in_cell.chisqr), in_cell.chisqr, np.inf)
        order = np.lexsort((cost, pair_rows))  # by row, the lowest chi-square first
        first = order[np.r_[True, pair_rows[order][1:] != pair_rows[order][:-1]]]
        better = cost[first] < chisqr[rows[pair_rows[first]]]
        rows, best = rows[pair_rows[first[better]]], first[better]
        if not rows.size:
            break
        polished = fit(rows, in_cell.params[best], lower, upper)
        lower_chi2 = polished.chisqr < chisqr[rows]
        chosen, rows = np.flatnonzero(lower_chi2), rows[lower_chi2]
        params[rows], stderr[rows] = polished.params[chosen], polished.stderr[chosen]
        chisqr[rows], redchi[rows] = polished.chisqr[chosen], polished.redchi[chosen]
        status[rows] = polished.status[chosen]
        iterations[rows] += polished.iterations[chosen] + in_cell.iterations[best[lower_chi2]]
    return LMResult(params, stderr, chisqr, redchi, status, iterations)


def _cells_in_blocks(
    model: FitModel,
    t: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    params: np.ndarray,
    noise: np.ndarray,
    rows: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_cells` of ``rows``, :data:`_BLOCK` rows at a time (its arrays hold every cell's model: memory)."""
    parts = []
    for first in range(0, rows.size, _BLOCK):
        block = rows[first : first + _BLOCK]
        which, start, cell = _cells(model, t[block], y[block], valid[block], params[block], noise[block], lower, upper)
        parts.append((which + first, start, cell))
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))  # type: ignore[return-value]


def _cells(
    model: FitModel,
    t: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    params: np.ndarray,
    noise: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells worth a fit: their rows (indices into ``params``), start parameters and ``(start, end)`` times."""
    n, m = y.shape
    shifts = np.arange(-SAMPLES, SAMPLES + 1)
    here = np.clip(np.sum(t <= params[:, :1], axis=1) - 1, 0, m - 2)  # the cell [t_j, t_j+1) that holds the onset
    index = here[:, None] + shifts[None, :]
    exists = (index >= 0) & (index < m - 1)
    index = np.clip(index, 0, m - 2)
    start_time, end_time = np.take_along_axis(t, index, axis=1), np.take_along_axis(t, index + 1, axis=1)
    corner = np.abs(params[:, 0] - t[np.arange(n), here]) <= 1e-6 * (t[np.arange(n), here + 1] - t[np.arange(n), here])
    candidate = np.repeat(params[:, None, :], shifts.size, axis=1)  # (n, cells, k)
    candidate[..., 0] = 0.5 * (start_time + end_time)
    unit = candidate.copy()
    unit[..., 1], unit[..., 2] = 0.0, 1.0  # the pulse's shape: the model with no baseline and unit amplitude
    with np.errstate(all="ignore"):
        shape = model.function(np.repeat(t, shifts.size, axis=0), unit.reshape(n * shifts.size, -1))
        shape = shape.reshape(n, shifts.size, m)
        w = valid[:, None, :].astype(np.float64)
        data = np.where(valid, y, 0.0)[:, None, :]
        sw, sy = w.sum(-1), (w * data).sum(-1)
        ss, sss, sys = (w * shape).sum(-1), (w * shape * shape).sum(-1), (w * shape * data).sum(-1)
        amplitude = np.clip((sys - ss * sy / sw) / (sss - ss * ss / sw), lower[2], upper[2])
        baseline = np.clip((sy - amplitude * ss) / sw, lower[1], upper[1])
        chi2 = (w * (data - baseline[..., None] - amplitude[..., None] * shape) ** 2).sum(-1)
        current = np.sum(np.where(valid, y - model.function(t, params), 0.0) ** 2, axis=1)
    candidate[..., 1], candidate[..., 2] = baseline, amplitude
    close = np.isfinite(chi2) & (chi2 < (current + noise)[:, None]) & (shifts[None, :] != 0)
    beside = corner[:, None] & ((shifts[None, :] == 0) | (shifts[None, :] == -1))
    chosen = exists & (end_time > lower[0]) & (start_time < upper[0]) & (close | beside)
    rows, cells = np.nonzero(chosen)
    return rows, candidate[rows, cells], np.stack([start_time[rows, cells], end_time[rows, cells]], axis=1)
