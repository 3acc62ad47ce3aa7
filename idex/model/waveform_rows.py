"""Waveforms stored only for the events that carry them.

In a normal capture every event carries every channel and a waveform variable is a plain ``(event, sample)``
array. An event without packets of a channel (a lost channel, or a capture of event headers only) holds the
channel's fill value in every sample; storing those rows would make a 48-byte packet cost a full record
(8 189 samples of 2 bytes on each high-rate channel, about 1 400 times the packet). So when most events lack
a channel, only the rows that hold data are kept and the variable is lazy (xarray's lazy indexing, as the
trigger-relative clocks of :mod:`idex.model.dataset`): reading rows returns the fill value for the others, so
``ds.tof_high.isel(event=i)`` costs one row and decoding costs memory in proportion to the data received.

The stored rows themselves may be kept packed (:class:`idex.decode.waveform.PackedRows`, any
:class:`RowStore`): when the events carry only a few words of a channel each, a stored row costs the words
received, not a record, and is unpacked when read. Reading the whole variable (``.values``) builds every row;
the writers read it in blocks of rows (:meth:`WaveformRows.blocks`).

Per-event values known only for some events (the event-header fields and what is computed from them, for the
events that have a header packet) are held the same way (:func:`event_column`): a 1-D variable of the stored
values, the fill value elsewhere, so events without a header packet cost none of the header's variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from idex.threads import blocks

__all__ = ["RowStore", "WaveformRows", "constant_column", "event_column", "read_rows", "rows_to_store", "stacked_rows"]

_BLOCK_BYTES = 1 << 18  # rows kept packed are read this many bytes of samples at a time
_READ_BYTES = 1 << 22  # a stored variable is read this many bytes of rows at a time (an HDF5 chunk as idex writes)


class RowStore(Protocol):
    """Stored rows read by row (an integer, a slice or an integer array) as a ``numpy`` array."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, key: Any, /) -> Any: ...


def rows_to_store(present: np.ndarray) -> np.ndarray:
    """The event rows to allocate for a channel: all of them when at least half the events carry it, else those that do.

    With this rule, rows of fill values never cost more than the rows of data do.

    Parameters
    ----------
    present : numpy.ndarray
        Per event: True when the event has packets of the channel.

    Returns
    -------
    numpy.ndarray
        Increasing event indices.

    Examples
    --------
    >>> rows_to_store(np.array([True, False, True])).tolist()
    [0, 1, 2]
    >>> rows_to_store(np.array([False, False, True])).tolist()
    [2]
    """
    if 2 * np.count_nonzero(present) >= present.size:
        return np.arange(present.size)
    return np.flatnonzero(present)


def read_rows(variable: xr.Variable, fill_value: int) -> WaveformRows:
    """A waveform variable of a file (lazily opened) read in blocks of rows, keeping the rows that hold data the
    way decoding does (:func:`rows_to_store`): a product of waveform-less events costs its events, not their rows.

    Blocks are ``_READ_BYTES`` of rows. When the first block holds data in most rows (a normal product) the
    variable is read into one array, as ``.values`` would; otherwise only blocks' rows holding data are kept, and
    the variable is built whole at the end only if most rows turned out to hold data after all.

    Parameters
    ----------
    variable : xarray.Variable
        ``(event, sample)`` integer samples, read when indexed (a variable of a lazily opened file).
    fill_value : int
        The value of every sample of a row without data.

    Returns
    -------
    WaveformRows
    """
    n, m = variable.shape
    step = max(1, _READ_BYTES // max(1, m * variable.dtype.itemsize))
    dense: np.ndarray | None = None
    rows, kept = [], []
    for start in range(0, n, step):
        block = np.asarray(variable[start : start + step].values)
        present = (block != fill_value).any(axis=1)
        if start == 0 and 2 * np.count_nonzero(present) >= present.size:
            dense = np.empty((n, m), variable.dtype)
        if dense is not None:
            dense[start : start + block.shape[0]] = block
        else:
            rows.append(start + np.flatnonzero(present))
            kept.append(block[present])
    if dense is not None:
        return WaveformRows.dense(dense, fill_value)
    stored_rows = np.concatenate([np.zeros(0, np.int64), *rows])
    samples = np.concatenate([np.zeros((0, m), variable.dtype), *kept])
    if 2 * stored_rows.size < max(n, 1):
        return WaveformRows(stored_rows, samples, n, fill_value)
    dense = np.full((n, m), fill_value, variable.dtype)
    dense[stored_rows] = samples
    return WaveformRows.dense(dense, fill_value)


@dataclass(frozen=True)
class WaveformRows:
    """One channel's ``(event, sample)`` waveform (or a per-event ``(event,)`` column): the stored rows, every
    other row being the fill value.

    Attributes
    ----------
    rows : numpy.ndarray
        Event index of each stored row, increasing.
    samples : numpy.ndarray or RowStore
        ``(rows.size, n_samples)`` samples of the stored rows, an array or rows unpacked when read (``(rows.size,)``
        for a column).
    n_events : int
        Number of events (rows of the full waveform).
    fill_value : scalar
        Value of every sample of the rows not stored.
    """

    rows: np.ndarray
    samples: np.ndarray | RowStore
    n_events: int
    fill_value: Any

    @classmethod
    def dense(cls, samples: np.ndarray, fill_value: int) -> WaveformRows:
        """Every row stored: ``samples`` is the full ``(event, sample)`` array."""
        return cls(np.arange(samples.shape[0]), samples, samples.shape[0], fill_value)

    @property
    def is_dense(self) -> bool:
        """True when every row is stored."""
        return self.rows.size == self.n_events

    def blocks(self) -> list[tuple[int, int]]:
        """``(start, stop)`` ranges of stored rows to read one at a time (``samples[start:stop]``): when rows are
        unpacked on reading, of at most ``_BLOCK_BYTES`` of samples, so that reading all of them never holds
        many at once."""
        if isinstance(self.samples, np.ndarray):
            return blocks(self.rows.size, minimum=256)
        row_bytes = int(np.prod(self.samples.shape[1:])) * self.samples.dtype.itemsize
        length = max(1, _BLOCK_BYTES // max(row_bytes, 1))
        return [(start, min(start + length, self.rows.size)) for start in range(0, self.rows.size, length)]

    def gather(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the listed events (event indices) as ``(array, index)``: ``array[index[k]]`` is the row of
        ``events[k]``; rows without data share one row of fill values, so none is built per event.

        When every row is stored in an array, ``array`` is that array (no copy) and ``index`` is ``events``.
        """
        if isinstance(self.samples, np.ndarray) and self.is_dense:
            return self.samples, np.asarray(events, np.int64)
        position, hit = self._positions(events)
        array = np.concatenate(
            [self.samples[position[hit]], np.full((1, *self.samples.shape[1:]), self.fill_value, self.samples.dtype)]
        )
        index = np.full(events.size, array.shape[0] - 1, np.int64)
        index[hit] = np.arange(np.count_nonzero(hit))
        return array, index

    def data(self) -> Any:
        """What an ``xarray.Variable`` holds: the array itself when it is one, else a lazily filled array."""
        if isinstance(self.samples, np.ndarray) and self.is_dense:
            return self.samples
        return indexing.LazilyIndexedArray(_FilledRows(self))

    def _positions(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each event's stored row and whether it has one."""
        if self.rows.size == 0:
            return np.zeros(events.size, np.int64), np.zeros(events.size, bool)
        position = np.minimum(np.searchsorted(self.rows, events), self.rows.size - 1)
        return position, self.rows[position] == events


def event_column(values: np.ndarray, rows: np.ndarray, n_events: int, fill_value: Any) -> Any:
    """What an ``xarray.Variable`` holds for per-event values known only for some events (:func:`rows_to_store`'s
    rule): ``values`` itself when every event has one, a full array when at least half do, else a lazily filled
    array (rows built when read) that costs only the values stored.

    Parameters
    ----------
    values : numpy.ndarray
        One value (or row) per listed event.
    rows : numpy.ndarray
        Increasing event indices of ``values``.
    n_events : int
        Number of events.
    fill_value : scalar
        Value of the other events (of ``values.dtype``: NaN only for floats).

    Returns
    -------
    numpy.ndarray or xarray lazily indexed array

    Examples
    --------
    >>> event_column(np.array([1.5, 2.5]), np.array([0, 2]), 3, np.nan).tolist()  # most events: a full array
    [1.5, nan, 2.5]
    >>> import xarray as xr
    >>> xr.Variable("event", event_column(np.array([7]), np.array([2]), 5, 0)).values.tolist()
    [0, 0, 7, 0, 0]
    """
    if rows.size == n_events:
        return values
    if 2 * rows.size >= n_events:
        full = np.full((n_events, *values.shape[1:]), fill_value, values.dtype)
        full[rows] = values
        return full
    return WaveformRows(rows, values, n_events, fill_value).data()


def constant_column(empty: np.ndarray, n_events: int, value: Any) -> Any:
    """``n_events`` rows of ``value``, shaped and typed as the rows of ``empty`` (a ``(0, ...)`` array), filled
    when read (:func:`event_column` of no stored value): a constant costs one value, not one per event."""
    return event_column(empty, np.zeros(0, np.int64), n_events, value)


class _FilledRows(BackendArray):
    """The full waveform (or column) of a :class:`WaveformRows`, built only for the requested rows and samples."""

    def __init__(self, stored: WaveformRows) -> None:
        self.shape = (stored.n_events, *stored.samples.shape[1:])
        self.dtype = stored.samples.dtype
        self._stored = stored

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._outer)

    def _outer(self, key: tuple[Any, ...]) -> np.ndarray:
        rows, *rest = key
        events = np.arange(self.shape[0])[rows]
        array, index = self._stored.gather(np.atleast_1d(events))
        out = array[(slice(None), *rest)][index]
        return out if np.ndim(events) else out[0]


def stacked_rows(parts: list[xr.Variable], order: np.ndarray | None = None) -> xr.Variable:
    """The variables ``parts`` (same dimensions, same sizes but the first) one after the other along their first
    dimension, read lazily: what ``xarray.concat`` would build, without building it (each read asks only the
    parts it covers for only the rows it needs). The attributes are those of the first part.

    ``order`` (row ``i`` is row ``order[i]`` of the stacked parts), when given, reorders the rows as ``isel`` would,
    without a composed index per variable: variables stacked with the same ``order`` share it."""
    stacked = _StackedRows(parts, order)
    return xr.Variable(parts[0].dims, indexing.LazilyIndexedArray(stacked), parts[0].attrs)


class _StackedRows(BackendArray):
    """Rows of several variables one after the other, read by outer indexing."""

    def __init__(self, parts: list[xr.Variable], order: np.ndarray | None) -> None:
        self._parts = parts
        self._order = order
        self._edges = np.cumsum([0, *(part.shape[0] for part in parts)])
        self.shape = (int(self._edges[-1]), *parts[0].shape[1:])
        self.dtype = np.result_type(*(part.dtype for part in parts))

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._outer)

    def _outer(self, key: tuple[Any, ...]) -> np.ndarray:
        rows, *rest = key
        events = np.arange(self.shape[0])[rows]
        flat = np.atleast_1d(events if self._order is None else self._order[events])
        part_of = np.searchsorted(self._edges, flat, side="right") - 1
        out = np.empty((flat.size, *np.empty(self.shape[1:], bool)[tuple(rest)].shape), self.dtype)
        for part in np.unique(part_of):
            mine = np.flatnonzero(part_of == part)
            out[mine] = self._parts[part][(flat[mine] - self._edges[part], *rest)].values
        return out if np.ndim(events) else out[0]
