"""Waveforms stored only for the events that carry them read exactly as the dense array would."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import idex
from idex.model.waveform_rows import WaveformRows, event_column, rows_to_store

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


def _random_fragments(channel, n_rows: int, n_fragments: int, seed: int = 3):
    """Fragments of random lengths and places (overlaps, repeats of a row, runs past the record, the partly used
    last word), sorted by row as assembly hands them over, in a buffer of random bytes."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 40, n_fragments)
    offsets = rng.integers(0, channel.words + 5, n_fragments)
    offsets[: n_fragments // 4] = channel.words - rng.integers(1, 3, n_fragments // 4)  # the record's end
    rows = np.sort(rng.integers(0, n_rows, n_fragments))
    buffer = rng.integers(0, 256, int(words.sum()) * channel.word_bytes + 100).astype(np.uint8)
    starts = 7 + np.r_[0, np.cumsum(words)[:-1]] * channel.word_bytes
    return buffer, {"payload_starts": starts, "payload_words": words, "rows": rows, "word_offsets": offsets}


@pytest.mark.parametrize("name", ["tof_high", "target_low"])
@pytest.mark.parametrize(
    "key", [slice(None), slice(3, 9), 4, np.array([11, 0, 4, 4]), np.array([], np.int64)], ids=repr
)
def test_packed_rows_read_as_unpacking_everything_at_once(name, key):
    from idex.decode.waveform import PackedRows, unpack_fragments

    channel = idex.load_schema("science_2023_12").channels[name]
    buffer, fragments = _random_fragments(channel, 12, 40)
    buffer.flags.writeable = False
    eager = unpack_fragments(buffer, channel, 12, complete=np.zeros(12, bool), **fragments)
    packed = PackedRows.copy_from(buffer, channel, 12, **fragments)
    assert packed.shape == eager.shape and packed.dtype == eager.dtype
    assert packed.packed.size <= int(fragments["payload_words"].sum()) * channel.word_bytes  # bytes, not samples
    np.testing.assert_array_equal(packed[key], eager[key])


def test_packed_rows_behind_lazily_filled_rows_read_as_the_dense_array():
    from idex.decode.waveform import PackedRows, unpack_fragments

    channel = idex.load_schema("science_2023_12").channels["tof_high"]
    buffer, fragments = _random_fragments(channel, 6, 15, seed=11)
    stored_rows = np.array([1, 4, 5, 8, 9, 13])
    dense = np.full((16, channel.n_samples), channel.fill_value, np.uint16)
    dense[stored_rows] = unpack_fragments(buffer, channel, 6, complete=np.zeros(6, bool), **fragments)
    rows = WaveformRows(stored_rows, PackedRows.copy_from(buffer, channel, 6, **fragments), 16, channel.fill_value)
    lazy = xr.Variable(("event", "sample"), rows.data())
    for key in ({"event": slice(None)}, {"event": [13, 2, 4]}, {"event": 9, "sample": slice(8000, None)}):
        np.testing.assert_array_equal(lazy.isel(key).values, xr.Variable(("event", "sample"), dense).isel(key).values)
    array, index = rows.gather(np.array([0, 5, 9]))
    np.testing.assert_array_equal(array[index], dense[[0, 5, 9]])
    assert sum(stop - start for start, stop in rows.blocks()) == 6
    assert all((stop - start) * channel.n_samples * 2 <= 1 << 20 for start, stop in rows.blocks())


@pytest.mark.parametrize(
    ("stored", "fill", "lazy"),
    [
        ([0, 1, 2, 3, 4, 5, 6], -1, False),  # every event: the values themselves
        ([1, 2, 4, 6], np.nan, False),  # at least half: one full array
        ([2, 5], np.nan, True),  # fewer: lazily filled
        ([], 255, True),
    ],
    ids=str,
)
@pytest.mark.parametrize("key", [slice(None), 5, [6, 2, 2, 0], slice(None, None, -2)], ids=str)
def test_event_columns_read_as_the_column_filled_the_plain_way(stored, fill, lazy, key):
    rows = np.array(stored, np.int64)
    dtype = np.float32 if np.isnan(fill) else np.int16
    values = (np.arange(rows.size) * 3 + 1).astype(dtype)
    truth = np.full(7, fill, dtype)  # the truth, built the plain way
    truth[rows] = values
    column = xr.Variable("event", event_column(values, rows, 7, fill))
    assert column.dtype == dtype and column.shape == (7,) and column._in_memory is not lazy
    np.testing.assert_array_equal(column[key].values, truth[key])
    if rows.size == 7:
        assert event_column(values, rows, 7, fill) is values  # no copy
