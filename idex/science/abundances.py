"""Element abundances and ratios from fitted species areas, their covariance and RSFs (pure arithmetic).

``x = area / RSF`` is proportional to the number of atoms. Abundances are ``x`` normalised over the
detected elements; ratios are sums of ``x`` over numerator elements divided by sums over denominator
elements. Errors are first-order propagation through the full covariance of the fit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Abundances", "abundances", "ratio"]


class Abundances(NamedTuple):
    """Per event and element (``(event, element)`` arrays)."""

    detected: np.ndarray
    abundance: np.ndarray
    stderr: np.ndarray
    upper_limit: np.ndarray


def abundances(
    x: np.ndarray, covariance: np.ndarray, significance: np.ndarray, detection_sigma: float, upper_limit_sigma: float
) -> Abundances:
    """Atomic fractions of the detected elements, and upper limits of the others.

    Parameters
    ----------
    x : numpy.ndarray
        ``(event, element)`` areas divided by RSFs.
    covariance : numpy.ndarray
        ``(event, element, element)`` covariance of ``x``.
    significance : numpy.ndarray
        ``(event, element)`` area over its standard error.
    detection_sigma, upper_limit_sigma : float
        Detection threshold; upper limits are ``max(x, 0) + upper_limit_sigma`` errors.

    Examples
    --------
    >>> x = np.array([[3.0, 1.0, 0.1]])
    >>> cov = np.diag([0.01, 0.01, 0.01])[None]
    >>> result = abundances(x, cov, x / 0.1, 5.0, 3.0)
    >>> result.abundance.round(3).tolist(), result.upper_limit.round(3).tolist()
    ([[0.75, 0.25, nan]], [[nan, nan, 0.1]])
    """
    with np.errstate(all="ignore"):
        detected = np.isfinite(significance) & (significance >= detection_sigma)
        total = np.where(detected, x, 0.0).sum(axis=1)
        total = np.where(total > 0, total, np.nan)
        fraction = x / total[:, None]
        # d fraction_e / d x_k = (delta_ek - fraction_e * detected_k) / total
        n = x.shape[1]
        jacobian = (np.eye(n)[None] - fraction[:, :, None] * detected[:, None, :]) / total[:, None, None]
        variance = np.einsum("eij,ejk,eik->ei", jacobian, covariance, jacobian)
        sigma = np.sqrt(np.clip(np.diagonal(covariance, axis1=1, axis2=2), 0, None))
        limit = (np.clip(x, 0, None) + upper_limit_sigma * sigma) / total[:, None]
    return Abundances(
        detected,
        np.where(detected, fraction, np.nan),
        np.where(detected, np.sqrt(np.clip(variance, 0, None)), np.nan),
        np.where(detected | ~np.isfinite(x), np.nan, limit),
    )


def ratio(
    x: np.ndarray, covariance: np.ndarray, detected: np.ndarray, numerator: list[int], denominator: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``sum(x[numerator]) / sum(x[denominator])`` per event, with its standard error.

    NaN unless every element involved is detected.
    """
    n = x.shape[1]
    top, bottom = np.zeros(n), np.zeros(n)
    top[numerator], bottom[denominator] = 1.0, 1.0
    with np.errstate(all="ignore"):
        a, b = x @ top, x @ bottom
        value = a / b
        gradient = top[None, :] / b[:, None] - (a / b**2)[:, None] * bottom[None, :]
        variance = np.einsum("ei,eij,ej->e", gradient, covariance, gradient)
    ok = detected[:, sorted(set(numerator) | set(denominator))].all(axis=1) & (b > 0)
    return np.where(ok, value, np.nan), np.where(ok, np.sqrt(np.clip(variance, 0, None)), np.nan)
