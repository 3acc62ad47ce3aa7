"""Robust noise statistics shared by every layer that judges a signal against its noise."""

from __future__ import annotations

import numpy as np

__all__ = ["MAD_TO_SIGMA", "robust_sigma"]

MAD_TO_SIGMA = 1.4826
"""The standard deviation of normal data over its median absolute deviation (1 / Φ⁻¹(3/4))."""


def robust_sigma(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """1.4826 x the median absolute deviation from the median, ignoring NaN: the standard deviation of normal
    noise, unmoved by the few samples a pulse or a spike adds.

    Examples
    --------
    >>> float(robust_sigma(np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])))
    1.4826
    >>> robust_sigma(np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]]), axis=1).tolist()
    [1.4826, 0.0]
    """
    median = np.nanmedian(values, axis=axis, keepdims=True)
    return MAD_TO_SIGMA * np.nanmedian(np.abs(values - median), axis=axis)
