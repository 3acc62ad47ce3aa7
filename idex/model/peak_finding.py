"""``scipy.signal.find_peaks`` (height, prominence, distance) compiled, with SciPy's exact results.

Written by hand for speed: the mission's dust test runs ``find_peaks`` on three TOF gains of every
science event, and calling SciPy once per gain from Python cost ~0.1 ms each, which capped decoding at
~45 MB/s (``benchmarks/decode.py``). Here the same steps run inside the compiled dust test
(:mod:`idex.model.dust_test`) in the order SciPy applies them: local maxima (plateaus give their middle
sample), height, distance (peaks removed around the highest first), prominence (bases searched
without a window).

One step is not portable in SciPy itself: the distance filter visits peaks in ``np.argsort`` order,
and NumPy's default sort (SIMD quicksort on AVX-512 machines) orders *equal* heights differently from
machine to machine. Where two peaks of equal height lie closer than ``distance`` (only then can the
visiting order change the result: each peak removes only lower or equal neighbours within
``distance``), the order comes from NumPy's own ``argsort`` called on the same array SciPy sorts (object
mode, a few microseconds), so the result is SciPy's on the machine it runs on.
``tests/model/test_peak_finding.py`` checks both paths against ``scipy.signal.find_peaks``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["find_peaks"]


@numba.njit(cache=True, nogil=True)
def _local_maxima(x: np.ndarray, height: float) -> np.ndarray:
    """Indices of local maxima at least ``height`` high; a flat top counts once, at its middle sample
    (left-biased)."""
    out = np.empty(x.size // 2 + 1, np.int64)
    m = 0
    i = 1
    last = x.size - 1
    while i < last:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < last and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                middle = (i + ahead - 1) // 2
                if x[middle] >= height:
                    out[m] = middle
                    m += 1
                i = ahead
        i += 1
    return out[:m]


@numba.njit(cache=True, nogil=True)
def _order_is_ambiguous(peaks: np.ndarray, heights: np.ndarray, distance: int) -> bool:
    """True when two peaks of equal height lie closer than ``distance``: only then can the order in which
    equal heights are visited change which peaks the distance filter keeps."""
    for i in range(peaks.size - 1):
        j = i + 1
        while j < peaks.size and peaks[j] - peaks[i] < distance:
            if heights[j] == heights[i]:
                return True
            j += 1
    return False


@numba.njit(cache=True, nogil=True)
def _by_distance(peaks: np.ndarray, order: np.ndarray, distance: int) -> np.ndarray:
    """Visit peaks highest first (``order``: ascending by height) removing neighbours closer than ``distance``."""
    keep = np.ones(peaks.size, np.bool_)
    for rank in range(peaks.size - 1, -1, -1):
        j = order[rank]
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < distance:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < peaks.size and peaks[k] - peaks[j] < distance:
            keep[k] = False
            k += 1
    return peaks[keep]


@numba.njit(cache=True, nogil=True)
def _is_prominent(x: np.ndarray, peak: int, minimum: float) -> bool:
    """SciPy's ``prominence >= minimum`` without the full base search.

    SciPy's prominence is ``x[peak] - max(left_min, right_min)``, each minimum taken from the peak out to
    the first higher sample (or the end). Rounding is monotonic, so that is ``min`` over both sides of
    ``max(x[peak] - x[i])``, and it reaches ``minimum`` exactly when each side holds a sample with
    ``x[peak] - x[i] >= minimum``: each scan stops there, usually a few samples from the peak.
    """
    top = x[peak]
    i = peak
    while True:
        if i < 0 or x[i] > top:
            return False
        if top - x[i] >= minimum:
            break
        i -= 1
    i = peak
    while True:
        if i >= x.size or x[i] > top:
            return False
        if top - x[i] >= minimum:
            return True
        i += 1


def _numpy_argsort(values: np.ndarray) -> np.ndarray:
    """NumPy's default ``argsort``, the one SciPy's distance filter uses (its order of equal values is NumPy's)."""
    return np.argsort(values).astype(np.int64)


@numba.njit(cache=True)
def find_peaks(x: np.ndarray, height: float, prominence: float, distance: int) -> np.ndarray:
    """``scipy.signal.find_peaks(x, height=, prominence=, distance=)[0]`` for a float64 signal without NaN.

    Parameters
    ----------
    x : numpy.ndarray
        Signal (float64; ``-inf`` is allowed and acts as a bottomless valley).
    height, prominence : float
        Least height and least prominence of a peak.
    distance : int
        Least separation of peaks in samples (>= 1).

    Returns
    -------
    numpy.ndarray
        Peak indices (int64), ascending.
    """
    peaks = _local_maxima(x, height)
    if distance > 1 and peaks.size > 1:
        heights = x[peaks]
        if _order_is_ambiguous(peaks, heights, distance):
            with numba.objmode(order="int64[:]"):
                order = _numpy_argsort(heights)
        else:
            order = np.argsort(heights)
        peaks = _by_distance(peaks, order, distance)
    keep = np.empty(peaks.size, np.bool_)
    for i in range(peaks.size):
        keep[i] = _is_prominent(x, peaks[i], prominence)
    return peaks[keep]
