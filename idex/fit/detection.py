"""Is there an impact? Evidence from the whole record, not from its largest sample.

A pulse spread over many samples is far more significant than its single extreme says, and a noise
level measured in a pre-trigger window is wrong when the pulse starts before the trigger. The test
here is a likelihood ratio between two fitted models of the same record:

- **null**: a baseline with a slow drift (a quadratic in time, which also absorbs the tail of an
  earlier pulse or a slow recovery);
- **impact**: the best fit of the channel's model (the fit the engine found).

The detector noise is not white (slow wander dominates the sample-to-sample scatter), so both residual
records are **whitened** first by the prediction-error filter of an autoregressive model of order
:data:`AR_ORDER`, estimated (Yule–Walker) from the residuals of the impact fit: samples where, by
construction, no pulse is left. The evidence is

``Δχ² = (Σ e_null² − Σ e_impact²) / σ_e²``,   ``significance = √max(Δχ², 0)``,

with ``e`` the whitened residuals and ``σ_e²`` their variance under the impact model. For one free
onset this is a Gaussian √Δχ²; the onset can lie at any of the ``m`` samples, so the threshold for a
false-alarm probability ``p`` per record is the two-sided normal quantile of ``p / m`` (a Bonferroni
bound, conservative). ``benchmarks/detection.py`` and ``tests/fit/test_detection.py`` measure the actual
false-alarm rate on noise and drift records and the detection probability against amplitude.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from idex.exceptions import InputError

__all__ = ["AR_ORDER", "DRIFT_DEGREE", "significance", "threshold"]

AR_ORDER = 8
"""Order of the autoregressive noise model that whitens the residuals."""

DRIFT_DEGREE = 2
"""Degree of the polynomial baseline-plus-drift model (the null hypothesis)."""


def _drift_residuals(t: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Residuals of the least-squares polynomial drift of every row (0 where not valid)."""
    w = valid.astype(np.float64)
    first = np.where(valid, t, np.inf).min(axis=1, keepdims=True)
    last = np.where(valid, t, -np.inf).max(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        tau = np.where(valid, 2 * (t - first) / (last - first) - 1, 0.0)  # well conditioned on [-1, 1]
    basis = np.stack([tau**d for d in range(DRIFT_DEGREE + 1)], axis=-1) * w[..., None]
    data = np.where(valid, y, 0.0)
    normal = np.einsum("nmi,nmj->nij", basis, basis) + 1e-12 * np.eye(DRIFT_DEGREE + 1)
    coefficients = np.linalg.solve(normal, np.einsum("nmi,nm->ni", basis, data)[..., None])[..., 0]
    return np.where(valid, data - np.einsum("nmi,ni->nm", basis, coefficients), 0.0)


def _whitening_filters(residual: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Prediction-error filters ``(n, AR_ORDER + 1)`` (first tap 1) from Yule–Walker on each row's residuals."""
    n, m = residual.shape
    count = np.maximum(valid.sum(axis=1), 1)
    centred = np.where(valid, residual - residual.sum(axis=1, keepdims=True) / count[:, None], 0.0)
    lags = np.stack(
        [np.einsum("nm,nm->n", centred[:, : m - lag], centred[:, lag:]) / count for lag in range(AR_ORDER + 1)], axis=1
    )
    index = np.abs(np.arange(AR_ORDER)[:, None] - np.arange(AR_ORDER)[None, :])
    toeplitz = lags[:, index] + 1e-12 * (np.abs(lags[:, :1, None]) + 1e-300) * np.eye(AR_ORDER)
    ok = np.all(np.isfinite(toeplitz), axis=(1, 2)) & (lags[:, 0] > 0)
    coefficients = np.zeros((n, AR_ORDER))
    if ok.any():
        coefficients[ok] = np.linalg.solve(toeplitz[ok], lags[ok, 1:, None])[..., 0]
    return np.concatenate([np.ones((n, 1)), -coefficients], axis=1)


def _whitened(residual: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Each row filtered by its prediction-error filter (only where the whole filter fits the record)."""
    m = residual.shape[1]
    out = np.zeros((residual.shape[0], m - AR_ORDER))
    for lag in range(AR_ORDER + 1):
        out += filters[:, lag : lag + 1] * residual[:, AR_ORDER - lag : m - lag]
    return out


def significance(
    t: np.ndarray, y: np.ndarray, valid: np.ndarray, model_curve: np.ndarray, n_parameters: int
) -> np.ndarray:
    """Evidence for a pulse in every row: √Δχ² of the fitted model against the drift model, whitened.

    Parameters
    ----------
    t, y : numpy.ndarray
        ``(n, m)`` times and data.
    valid : numpy.ndarray
        ``(n, m)`` samples that took part in the fit.
    model_curve : numpy.ndarray
        ``(n, m)`` the fitted model on ``t`` (NaN rows: no fit, NaN significance).
    n_parameters : int
        Free parameters of the fitted model (for the noise variance's degrees of freedom).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` significance in Gaussian standard deviations (0 where the drift model fits as well).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> t = np.tile(np.linspace(-20.0, 100.0, 488), (2, 1))
    >>> pulse = np.where(t > 0, 1 - np.exp(-np.clip(t, 0, None) / 2.0), 0.0) * np.exp(-np.clip(t, 0, None) / 80)
    >>> y = np.stack([0.3 * pulse[0], 0 * pulse[1]]) + rng.normal(0, 0.1, t.shape)
    >>> curve = np.stack([0.3 * pulse[0], np.full(488, y[1].mean())])
    >>> (significance(t, y, np.ones(t.shape, bool), curve, 5) > threshold(1e-3, 488)).tolist()
    [True, False]
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    valid = np.asarray(valid, bool) & np.isfinite(y) & np.isfinite(t)
    fitted = np.all(np.isfinite(np.where(valid, model_curve, 0.0)), axis=1) & (valid.sum(axis=1) > AR_ORDER + 8)
    impact = np.where(valid & fitted[:, None], y - np.nan_to_num(model_curve), 0.0)
    drift = _drift_residuals(t, y, valid)
    filters = _whitening_filters(impact, valid)
    e_impact = np.sum(_whitened(impact, filters) ** 2, axis=1)
    e_drift = np.sum(_whitened(drift, filters) ** 2, axis=1)
    dof = np.maximum(valid.sum(axis=1) - AR_ORDER - n_parameters, 1)
    with np.errstate(all="ignore"):
        delta = (e_drift - e_impact) / (e_impact / dof)
    return np.where(fitted & np.isfinite(delta), np.sqrt(np.clip(delta, 0.0, None)), np.nan)


def threshold(false_alarm: float, samples: int) -> float:
    """Significance above which a pulse is claimed, for a false-alarm probability ``false_alarm`` per record.

    ``false_alarm = 1`` claims every record (threshold 0): every fit is kept, whatever its evidence.

    Examples
    --------
    >>> round(threshold(1e-3, 512), 2), threshold(1.0, 512)
    (4.76, 0.0)
    """
    if not 0 < false_alarm <= 1:
        raise InputError(f"false_alarm_probability must lie in (0, 1], got {false_alarm}")
    if false_alarm == 1:
        return 0.0
    return float(max(-ndtri(false_alarm / (2 * max(samples, 1))), 0.0))
