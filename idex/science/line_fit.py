"""Linear fits of line templates to one TOF spectrum, with errors that respect correlated noise.

Every line has the EMG shape of the schema's ``composition`` section, placed so that its maximum falls
at the line's flight time ``shift + stretch * sqrt(m)`` (the feature the mass calibration locates).
A column of the design matrix is one line, or one species (its lines weighted by their isotopic
abundances); its coefficient is an area (signal × µs). The fit is weighted least squares on the
samples near the lines; the coefficients' covariance is the sandwich ``A C Aᵀ`` with the noise
covariance ``C`` built from the pre-trigger autocorrelation (IDEX's TOF noise rings: neighbouring
samples are far from independent), and each coefficient's error is inflated by the reduced chi-square
of the samples it explains (weighted by its template) when that exceeds one: a line shape that does not
fit, or the tail of a big neighbour that does not, is not evidence. The line shape varies from line to
line (the schema's ``line_shape_spread`` of the width and the tail): that variation, propagated through
the estimator, is a systematic part of the covariance. A piecewise-linear baseline is fitted with the lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.signal import fftconvolve

from idex.fit.models import MODELS

__all__ = ["LineFit", "autocorrelation", "fit_columns", "templates"]

MAX_LAG = 64
"""Longest lag of the noise autocorrelation used in the errors (samples)."""

TEMPLATE_REACH = (12.0, 28.0)
"""A line template is evaluated from this many widths before its Gaussian centre to as many widths plus this many
decay times after it; beyond, it is below 1e-12 of its maximum and taken as zero."""

BASELINE_KNOT_SAMPLES = 64
"""Spacing of the knots of the piecewise-linear baseline fitted with the lines (samples): slow droops and
undershoots after big lines, ten times wider than a line, so a line cannot hide in it."""


@dataclass(frozen=True)
class LineFit:
    """Coefficients (areas), their covariance and the model of one fit."""

    area: np.ndarray
    covariance: np.ndarray
    model: np.ndarray
    """The fit on the samples it used (NaN elsewhere)."""
    noise: np.ndarray
    """Errors against which a detection is judged: noise and the neighbours' shape changes, not the column's
    own shape (which scales its area, not whether it is there)."""
    inflation: np.ndarray
    """Factor by which the local reduced chi-square inflated each area's noise error (1 where the fit is good)."""

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors of the areas."""
        return np.sqrt(np.clip(np.diag(self.covariance), 0, None))


def autocorrelation(quiet: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    """Normalised autocorrelation of a noise record at lags ``0..max_lag`` (1 at lag 0)."""
    x = np.asarray(quiet, dtype=np.float64)
    x = x[np.isfinite(x)]
    x = x - x.mean()
    power = float(np.sum(x * x))
    if x.size <= max_lag or power == 0:
        return np.eye(1, max_lag + 1)[0]
    return np.array([np.sum(x[: x.size - k] * x[k:]) / power for k in range(max_lag + 1)])


@lru_cache(maxsize=256)
def _peak_offset(sigma: float, tau: float) -> float:
    """Time from the EMG's Gaussian centre to its maximum."""
    t = np.linspace(-3 * sigma, 3 * sigma + 3 * tau, 2001)[None, :]
    shape = MODELS["emg"].function(t, np.array([[0.0, sigma, 1 / tau, 1.0]]))[0]
    return float(t[0, int(np.argmax(shape))])


def templates(
    clock: np.ndarray,
    times: np.ndarray,
    masses: np.ndarray,
    sigma: float,
    tau: tuple[float, float],
    shape: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Unit-area EMG lines whose maxima sit at ``times`` (µs on ``clock``), one row per line.

    ``shape``: per line, factors of the width ``sigma`` and of the decay time ``tau[0] + tau[1] * mass``
    (default 1: the nominal shape)."""
    width, tail = shape if shape is not None else (np.ones(times.size), np.ones(times.size))
    sigmas, decay = sigma * np.asarray(width, float), (tau[0] + tau[1] * masses) * np.asarray(tail, float)
    offsets = np.array([_peak_offset(float(s), float(d)) for s, d in zip(sigmas, decay, strict=True)])
    centres = times - offsets
    params = np.column_stack([centres, sigmas, 1 / decay, np.ones(times.size)])
    # evaluated where the line is (zero beyond: below 1e-12 of its maximum), on one window width for all lines
    start = np.searchsorted(clock, centres - TEMPLATE_REACH[0] * sigmas)
    stop = np.searchsorted(clock, centres + TEMPLATE_REACH[0] * sigmas + TEMPLATE_REACH[1] * decay)
    size = int(np.max(stop - start, initial=0))
    out = np.zeros((times.size, clock.size))
    if size == 0:
        return out
    index = start[:, None] + np.arange(size)[None, :]
    inside = index < stop[:, None]
    index = np.minimum(index, clock.size - 1)
    values = MODELS["emg"].function(clock[index], params)
    rows = np.broadcast_to(np.arange(times.size)[:, None], index.shape)
    out[rows[inside], index[inside]] = values[inside]
    return out


def fit_columns(
    y: np.ndarray,
    sigma: np.ndarray,
    design: np.ndarray,
    correlation: np.ndarray,
    changes: tuple[np.ndarray, np.ndarray] | None = None,
    data_changes: np.ndarray | None = None,
) -> LineFit:
    """Weighted least squares of ``y`` on the rows of ``design`` (columns × samples), sandwich covariance.

    Parameters
    ----------
    y, sigma : numpy.ndarray
        Samples and their noise standard deviations; NaN samples are left out.
    design : numpy.ndarray
        ``(columns, samples)`` templates.
    correlation : numpy.ndarray
        Noise autocorrelation at lags ``0..L`` (:func:`autocorrelation`).
    changes : (numpy.ndarray, numpy.ndarray), optional
        ``(kinds, n, samples)`` one-standard-deviation changes of the lines' templates per unit area (e.g.
        their width, their tail), independent from line to line, and the column owning each line (``n``).
        Their effect on every area, the owner's and its neighbours' (a big line's tail under a small one),
        is added to the covariance.
    data_changes : numpy.ndarray, optional
        ``(kinds, samples)`` one-standard-deviation changes of ``y`` itself, independent of each other (e.g. the
        samples taken from a lower gain, times the gain ratio's relative error): added to the covariance, not to
        the detection errors (a scale error changes an area, not whether the line is there).
    """
    n_columns = design.shape[0]
    near = np.abs(design).max(axis=0) > 1e-6 * np.abs(design).max() if design.size else np.zeros(y.size, bool)
    used = np.isfinite(y) & np.isfinite(sigma) & near
    if n_columns == 0 or used.sum() <= n_columns:
        nothing = np.full(n_columns, np.nan)
        return LineFit(nothing, np.full((n_columns, n_columns), np.nan), np.zeros_like(y), nothing, nothing)
    span = slice(int(np.argmax(used)), int(used.size - np.argmax(used[::-1])))
    x = np.vstack([design[:, span], _baseline_basis(span.stop - span.start)])
    w = np.where(used[span], 1 / np.where(used[span], sigma[span], 1.0) ** 2, 0.0)
    data = np.where(used[span], y[span], 0.0)
    estimator = _estimator(x, w)  # (columns, samples): area = estimator @ y
    area = estimator @ data
    scaled = estimator[:n_columns] * np.where(used[span], sigma[span], 0.0)[None, :]
    kernel = np.concatenate([correlation[:0:-1], correlation])  # symmetric, lags -L..L
    covariance = fftconvolve(scaled, kernel[None, :], mode="same", axes=1) @ scaled.T
    covariance = 0.5 * (covariance + covariance.T)
    model = np.zeros_like(y, dtype=np.float64)
    model[span] = area @ x
    residual = np.where(used[span], (data - model[span]) ** 2 * w, 0.0)
    model[~used] = np.nan  # the fit on the samples it used only
    x, area = x[:n_columns], area[:n_columns]
    weight = np.abs(x) * used[span][None, :]  # each column's samples, weighted by how much it explains them
    redchi = (weight * residual[None, :]).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-300)
    inflate = np.sqrt(np.maximum(redchi, 1.0))
    covariance = covariance * inflate[:, None] * inflate[None, :]  # the noise part, where the fit is poor
    statistical = np.diagonal(covariance).copy()
    leakage = np.zeros(n_columns)  # variance each area gets from the other columns' shape changes
    if changes is not None:
        deltas, owner = changes
        own = owner[None, :] == np.arange(n_columns)[:, None]
        for delta in deltas:
            effect = (estimator[:n_columns] @ delta[:, span].T) * area[owner][None, :]  # (column, change)
            covariance = covariance + effect @ effect.T
            leakage += np.where(own, 0.0, effect**2).sum(axis=1)
    if data_changes is not None:
        effect = estimator[:n_columns] @ np.where(used[span], np.nan_to_num(data_changes[:, span]), 0.0).T
        covariance = covariance + effect @ effect.T
    return LineFit(area, covariance, model, np.sqrt(statistical + leakage), inflate)


def _estimator(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(XᵀWX)⁻¹ XᵀW`` of weighted least squares, computed on the weighted samples only (the others get 0).
    Columns that touch no weighted sample (a line outside the record, a baseline knot between two distant lines)
    are left out and get 0, as the pseudo-inverse gives them; the others are solved by Cholesky (the
    pseudo-inverse only if they are collinear)."""
    samples = w > 0
    weighted = x[:, samples] * w[samples]
    normal = weighted @ x[:, samples].T
    keep = np.diag(normal) > 0
    estimator = np.zeros_like(x)
    try:
        factor = cho_factor(normal[np.ix_(keep, keep)])
        estimator[np.ix_(keep, samples)] = cho_solve(factor, weighted[keep])
    except np.linalg.LinAlgError:
        estimator[:, samples] = np.linalg.pinv(normal) @ weighted
    return estimator


def _baseline_basis(size: int) -> np.ndarray:
    """Hat functions on knots every :data:`BASELINE_KNOT_SAMPLES` samples: a piecewise-linear baseline."""
    knots = np.linspace(0, size - 1, max(2, int(np.ceil((size - 1) / BASELINE_KNOT_SAMPLES)) + 1))
    spacing = knots[1] - knots[0] if knots.size > 1 else 1.0
    position = np.arange(size)[None, :]
    return np.clip(1 - np.abs(position - knots[:, None]) / spacing, 0, None)
