"""Order statistics for compiled kernels: a heapsort, the median and the median spacing, as NumPy computes them.

Numba compiles ``np.sort``, ``np.median`` and ``np.diff`` into generic quicksort, selection and broadcasting code
that took seconds to compile on idex's first use; these few loops compile in a fraction of that and give the
same values (``tests/model/test_order_statistics.py`` checks them against NumPy).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["median", "median_spacing", "sort_in_place"]


@numba.njit(cache=True, nogil=True)
def _sift_down(values: np.ndarray, root: int, n: int) -> None:
    while 2 * root + 1 < n:
        child = 2 * root + 1
        if child + 1 < n and values[child + 1] > values[child]:
            child += 1
        if values[root] >= values[child]:
            return
        values[root], values[child] = values[child], values[root]
        root = child


@numba.njit(cache=True, nogil=True)
def sort_in_place(values: np.ndarray) -> None:
    """Sort finite ``values`` in place (heapsort): a few lines for numba to compile, where ``np.sort`` and
    ``np.median`` compile generic quicksort and selection code (seconds on first use)."""
    n = values.size
    for root in range(n // 2 - 1, -1, -1):
        _sift_down(values, root, n)
    for end in range(n - 1, 0, -1):
        values[0], values[end] = values[end], values[0]
        _sift_down(values, 0, end)


@numba.njit(cache=True, nogil=True)
def median(values: np.ndarray) -> float:
    """``np.median(values)`` of finite values (same value), from a sorted copy."""
    n = values.size
    if n == 0:
        return np.nan
    ordered = values.copy()
    sort_in_place(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


@numba.njit(cache=True, nogil=True)
def median_spacing(time: np.ndarray) -> float:
    """``np.median(np.abs(np.diff(time[np.isfinite(time)])))``; NaN for fewer than two finite times."""
    spacings = np.empty(max(time.size - 1, 0))
    n = 0
    previous = np.nan
    for value in time:
        if np.isfinite(value):
            if np.isfinite(previous):
                spacings[n] = abs(value - previous)
                n += 1
            previous = value
    return median(spacings[:n])
