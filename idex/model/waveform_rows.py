"""Waveforms stored only for the events that carry them.

In a normal capture every event carries every channel and a waveform variable is a plain ``(event, sample)``
array. An event without packets of a channel (a lost channel, or a capture of event headers only) holds the
channel's fill value in every sample; storing those rows would make a 48-byte packet cost a full record
(8 189 samples of 2 bytes on each high-rate channel, about 1 400 times the packet). So when most events lack
a channel, only the rows that hold data are kept and the variable is lazy (xarray's lazy indexing, as the
trigger-relative clocks of :mod:`idex.model.dataset`): reading rows returns the fill value for the others, so
``ds.tof_high.isel(event=i)`` costs one row and decoding costs memory in proportion to the data received.
Reading the whole variable (``.values``, a writer) still builds every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xarray.backends import BackendArray
from xarray.core import indexing

__all__ = ["WaveformRows", "rows_to_store"]


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


@dataclass(frozen=True)
class WaveformRows:
    """One channel's ``(event, sample)`` waveform: the stored rows, every other row being the fill value.

    Attributes
    ----------
    rows : numpy.ndarray
        Event index of each stored row, increasing.
    samples : numpy.ndarray
        ``(rows.size, n_samples)`` samples of the stored rows.
    n_events : int
        Number of events (rows of the full waveform).
    fill_value : int
        Value of every sample of the rows not stored.
    """

    rows: np.ndarray
    samples: np.ndarray
    n_events: int
    fill_value: int

    @classmethod
    def dense(cls, samples: np.ndarray, fill_value: int) -> WaveformRows:
        """Every row stored: ``samples`` is the full ``(event, sample)`` array."""
        return cls(np.arange(samples.shape[0]), samples, samples.shape[0], fill_value)

    @property
    def is_dense(self) -> bool:
        """True when every row is stored."""
        return self.rows.size == self.n_events

    def gather(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the listed events (event indices) as ``(array, index)``: ``array[index[k]]`` is the row of
        ``events[k]``; rows without data share one row of fill values, so none is built per event.

        When every row is stored, ``array`` is the stored array itself (no copy) and ``index`` is ``events``.
        """
        if self.is_dense:
            return self.samples, np.asarray(events, np.int64)
        position, hit = self._positions(events)
        array = np.concatenate(
            [self.samples[position[hit]], np.full((1, self.samples.shape[1]), self.fill_value, self.samples.dtype)]
        )
        index = np.full(events.size, array.shape[0] - 1, np.int64)
        index[hit] = np.arange(np.count_nonzero(hit))
        return array, index

    def data(self) -> Any:
        """What an ``xarray.Variable`` holds: the array itself when dense, else a lazily filled array."""
        if self.is_dense:
            return self.samples
        return indexing.LazilyIndexedArray(_FilledRows(self))

    def _positions(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each event's stored row and whether it has one."""
        if self.rows.size == 0:
            return np.zeros(events.size, np.int64), np.zeros(events.size, bool)
        position = np.minimum(np.searchsorted(self.rows, events), self.rows.size - 1)
        return position, self.rows[position] == events


class _FilledRows(BackendArray):
    """The full waveform of a :class:`WaveformRows`, built only for the requested rows and samples."""

    def __init__(self, stored: WaveformRows) -> None:
        self.shape = (stored.n_events, stored.samples.shape[1])
        self.dtype = stored.samples.dtype
        self._stored = stored

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._outer)

    def _outer(self, key: tuple[Any, Any]) -> np.ndarray:
        rows, columns = key
        events = np.arange(self.shape[0])[rows]
        array, index = self._stored.gather(np.atleast_1d(events))
        out = array[:, columns][index]
        return out if np.ndim(events) else out[0]
