"""The order statistics of the compiled kernels (heapsort, median, median spacing) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from idex.model.order_statistics import median as _median
from idex.model.order_statistics import median_spacing as _median_spacing
from idex.model.order_statistics import sort_in_place as _sort


@pytest.mark.parametrize("n", [0, 1, 2, 3, 8, 101, 8189])
def test_sort_and_median_agree_with_numpy(n):
    rng = np.random.default_rng(n)
    for values in (rng.normal(size=n), rng.integers(0, 5, n).astype(float), np.arange(n, 0, -1.0)):
        ordered = values.copy()
        _sort(ordered)
        np.testing.assert_array_equal(ordered, np.sort(values))
        expected = np.median(values) if n else np.nan
        assert _median(values) == expected or (np.isnan(expected) and np.isnan(_median(values)))


def test_median_spacing_is_numpys_over_the_finite_times():
    rng = np.random.default_rng(1)
    time = np.cumsum(rng.uniform(0.001, 0.01, 500)) - 3.0
    time[[0, 7, 8, 499]] = np.nan
    assert _median_spacing(time) == np.median(np.abs(np.diff(time[np.isfinite(time)])))
    assert np.isnan(_median_spacing(np.array([np.nan, 1.0])))
