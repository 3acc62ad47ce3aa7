"""Waveforms stored only for the events that carry them read exactly as the dense array would."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from idex.model.waveform_rows import WaveformRows, rows_to_store

FILL = 65535


def _sparse_and_dense(n_events: int, stored: np.ndarray, n_samples: int = 9) -> tuple[WaveformRows, np.ndarray]:
    rng = np.random.default_rng(7)
    samples = rng.integers(0, 1024, (stored.size, n_samples)).astype(np.uint16)
    dense = np.full((n_events, n_samples), FILL, np.uint16)  # the truth, built the plain way
    dense[stored] = samples
    return WaveformRows(stored, samples, n_events, FILL), dense


def test_rows_to_store_keeps_every_row_unless_most_events_lack_the_channel():
    assert rows_to_store(np.ones(4, bool)).tolist() == [0, 1, 2, 3]
    assert rows_to_store(np.array([True, True, False, False])).tolist() == [0, 1, 2, 3]  # half: dense
    assert rows_to_store(np.array([False, True, False, False])).tolist() == [1]
    assert rows_to_store(np.zeros(3, bool)).tolist() == []
    assert rows_to_store(np.zeros(0, bool)).tolist() == []


@pytest.mark.parametrize(
    "key",
    [
        {"event": 3},
        {"event": 4},
        {"event": -1},
        {"event": slice(None)},
        {"event": slice(None, None, -3)},
        {"event": [9, 0, 3, 3, 12]},
        {"event": [2, 5], "sample": 4},
        {"event": 3, "sample": [8, 0]},
        {"event": slice(1, 11, 2), "sample": slice(2, None, 3)},
    ],
    ids=str,
)
def test_lazily_filled_rows_read_as_the_dense_array(key):
    stored, dense = _sparse_and_dense(13, np.array([0, 3, 7, 12]))
    assert not stored.is_dense
    lazy = xr.Variable(("event", "sample"), stored.data())
    plain = xr.Variable(("event", "sample"), dense)
    np.testing.assert_array_equal(lazy.isel(key).values, plain.isel(key).values)
    assert lazy.isel(key).dtype == np.uint16


def test_no_stored_row_reads_as_fill_values():
    stored, dense = _sparse_and_dense(5, np.zeros(0, np.int64))
    np.testing.assert_array_equal(xr.Variable(("event", "sample"), stored.data()).values, dense)


def test_gather_shares_one_fill_row_and_does_not_copy_a_dense_array():
    stored, dense = _sparse_and_dense(13, np.array([0, 3, 7, 12]))
    events = np.array([1, 3, 2, 12, 5])
    array, index = stored.gather(events)
    assert array.shape[0] == 3  # rows 3 and 12, plus one fill row for events 1, 2 and 5
    np.testing.assert_array_equal(array[index], dense[events])
    whole = WaveformRows.dense(dense, FILL)
    array, index = whole.gather(events)
    assert array is dense and index.tolist() == events.tolist()
    assert whole.data() is dense
