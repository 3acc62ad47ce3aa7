"""The compiled find_peaks against ``scipy.signal.find_peaks`` (the oracle), on the paths where ties decide."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks as scipy_find_peaks

from idex.model.dust_test import _median_of_whole_numbers
from idex.model.peak_finding import find_peaks


def _signals(seed: int):
    """Integer-valued TOF-like records (many equal heights), continuous ones, plateaus and -inf gaps."""
    rng = np.random.default_rng(seed)
    for kind in range(400):
        n = int(rng.integers(3, 3000))
        if kind % 4 == 0:
            x = rng.integers(0, 12, n).astype(float)  # coarse counts: ties everywhere
        elif kind % 4 == 1:
            x = rng.normal(0, 2, n)
            for centre in rng.integers(0, n, 6):  # pulses on noise
                x += rng.uniform(5, 60) * np.exp(-0.5 * ((np.arange(n) - centre) / rng.uniform(1, 8)) ** 2)
            x = np.round(x)
        elif kind % 4 == 2:
            x = np.repeat(rng.integers(0, 6, n // 3 + 1), 3)[:n].astype(float)  # plateaus
        else:
            x = rng.normal(0, 1, n)
            x[rng.random(n) < 0.02] = -np.inf  # missing samples, as the dust test passes them
        yield x, float(rng.uniform(0, 6)), float(rng.uniform(0, 8)), int(rng.integers(1, 12))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_equals_scipy_find_peaks(seed):
    tied = 0
    for x, height, prominence, distance in _signals(seed):
        expected = scipy_find_peaks(x, height=height, prominence=prominence, distance=distance)[0]
        np.testing.assert_array_equal(
            find_peaks(x, height, prominence, distance),
            expected,
            err_msg=f"h={height} p={prominence} d={distance} n={x.size}",
        )
        tied += expected.size > 1 and np.unique(x[expected]).size < expected.size
    assert tied > 20  # equal heights among the kept peaks: the tie path was exercised


def test_the_real_capture_peaks_equal_scipy():
    import idex

    ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    for name in ("tof_high", "tof_mid", "tof_low"):
        for row in ds[name].values.astype(float):
            corrected = row - np.median(row[:780])
            for threshold in (3.0, 10.0, 30.0):
                expected = scipy_find_peaks(corrected, height=threshold, prominence=threshold / 2, distance=8)[0]
                np.testing.assert_array_equal(find_peaks(corrected, threshold, threshold / 2, 8), expected)


def test_median_by_counting_equals_numpy():
    rng = np.random.default_rng(7)
    for n in range(1, 400):
        values = rng.integers(480, 480 + int(rng.integers(1, 40)), n).astype(float)
        median = np.median(values)
        assert _median_of_whole_numbers(values, 1.0) == median
        deviations = np.abs(values - median)
        assert _median_of_whole_numbers(deviations, 2.0) == np.median(deviations)
        noise = rng.normal(size=n)
        assert _median_of_whole_numbers(noise, 1.0) == np.median(noise)  # not whole: NumPy's own median
