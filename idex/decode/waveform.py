"""Unpacking of uncompressed waveform fragments into per-event sample arrays.

Each channel's samples are packed MSB-first into big-endian words (e.g. three 10-bit samples after
2 pad bits in a 32-bit word). Fragments of one channel arrive in several packets; each fragment is
copied to its place (fragment offset, in words) of its event's row and unpacked on the way. The
loop over words runs compiled (numba) straight from the capture buffer, so no intermediate word
array is allocated: the decoded samples are the only large allocation (see ``benchmarks/decode.py``
for throughput and peak memory). Blocks of events unpack in parallel threads (:mod:`idex.threads`);
each event's fragments stay in arrival order, so a later overlapping fragment still wins.

One kernel is compiled per packing (sample bits, samples per word, word bytes), with the packing as
compile-time constants: the compiler then unrolls the samples of a word and uses fixed shifts, which
unpacks 2.6x faster than one kernel taking the packing as arguments (0.13 s against 0.34 s for the
200 MB benchmark capture on one core). The packing still comes from the schema; a new one compiles a
new kernel (cached on disk like the others).

Events that carry only a few words of a channel (a crafted stream of one-fragment events) would cost a full
row each if unpacked up front: :class:`PackedRows` keeps such a channel as its packed fragments (the payload
bytes, copied, and where each fragment goes) and unpacks only the rows asked for, with the same kernel, so
the result is identical to unpacking everything at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numba
import numpy as np

from idex.schema import Channel
from idex.threads import blocks, run_blocks

__all__ = ["PackedRows", "unpack_fragments"]


@numba.njit(cache=True, boundscheck=False, nogil=True, inline="always")
def _read_word(buf: np.ndarray, p: int, word_bytes: int) -> np.uint32:  # pragma: no cover - compiled
    """The big-endian word of ``word_bytes`` bytes at ``buf[p]``."""
    word = np.uint32(0)
    for b in range(word_bytes):
        word = (word << np.uint32(8)) | np.uint32(buf[p + b])
    return word


@cache
def _kernel(sample_bits: int, samples_per_word: int, word_bytes: int) -> Callable[..., None]:
    """The compiled unpacking loop for one packing (its parameters are constants to the compiler)."""
    mask = np.uint32((1 << sample_bits) - 1)  # words are at most 32 bits (the schema's meta-schema)
    top_shift = (samples_per_word - 1) * sample_bits

    @numba.njit(cache=True, boundscheck=False, nogil=True)
    def unpack(buf, src, n_words, rows, word_offsets, out, max_words):  # pragma: no cover - compiled
        n_samples = out.shape[1]
        whole_words = n_samples // samples_per_word
        for f in range(src.size):
            dest = out[rows[f]]
            start = word_offsets[f]
            stop = min(start + n_words[f], max_words)
            origin = src[f] - start * word_bytes
            for index in range(start, min(stop, whole_words)):  # the compiler unrolls the samples of a word
                word, base = _read_word(buf, origin + index * word_bytes, word_bytes), index * samples_per_word
                for s in range(samples_per_word):
                    dest[base + s] = (word >> np.uint32(top_shift - s * sample_bits)) & mask
            for index in range(max(start, whole_words), stop):  # the last word may be partly used
                word, base = _read_word(buf, origin + index * word_bytes, word_bytes), index * samples_per_word
                for s in range(n_samples - base):
                    dest[base + s] = (word >> np.uint32(top_shift - s * sample_bits)) & mask

    return unpack


def unpack_fragments(
    buffer: np.ndarray,
    channel: Channel,
    n_rows: int,
    *,
    payload_starts: np.ndarray,
    payload_words: np.ndarray,
    rows: np.ndarray,
    word_offsets: np.ndarray,
    complete: np.ndarray,
) -> np.ndarray:
    """Unpack fragments of one channel into an ``(n_rows, channel.n_samples)`` ``uint16`` array.

    Parameters
    ----------
    buffer : numpy.ndarray
        The capture (``uint8``).
    channel : Channel
        Packing description from the schema.
    n_rows : int
        Number of events (rows of the output).
    payload_starts, payload_words, rows, word_offsets : numpy.ndarray
        Per fragment: byte offset of its payload, its length in words, its event row and its
        offset in words within the record.
    complete : numpy.ndarray
        Per row: True when its fragments cover the whole record. Only the other rows are
        pre-filled, so complete rows are written exactly once.

    Returns
    -------
    numpy.ndarray
        Samples; positions no fragment covered hold ``channel.fill_value``. Trailing samples the
        schema drops (``drop_trailing``) are never written.
    """
    out = np.empty((n_rows, channel.n_samples), dtype=np.uint16)
    out[~complete] = channel.fill_value
    starts, sizes = payload_starts.astype(np.int64), payload_words.astype(np.int64)
    rows, offsets = rows.astype(np.int64), word_offsets.astype(np.int64)

    unpack = _kernel(channel.sample_bits, channel.samples_per_word, channel.word_bytes)

    def unpack_rows(first: int, stop: int) -> None:  # a block of events; their fragments in arrival order
        mine = (rows >= first) & (rows < stop)
        unpack(buffer, starts[mine], sizes[mine], rows[mine], offsets[mine], out, channel.words)

    run_blocks(unpack_rows, blocks(n_rows, minimum=256))
    return out


@dataclass(frozen=True)
class PackedRows:
    """Stored rows of one channel kept packed: ``rows[key]`` unpacks just the requested stored rows.

    Reads as a ``(n_rows, channel.n_samples)`` ``uint16`` array indexed along its first axis (an integer, a
    slice or an integer array), which is all :class:`idex.model.waveform_rows.WaveformRows` asks of its samples.

    Attributes
    ----------
    packed : numpy.ndarray
        Payload bytes of the fragments, back to back (``uint8``).
    channel : Channel
        Packing description from the schema.
    n_rows : int
        Number of stored rows.
    payload_starts, payload_words, rows, word_offsets : numpy.ndarray
        Per fragment, in the order :func:`unpack_fragments` takes them: its offset in ``packed``, its length
        in words, its stored row and its offset in words within the record.
    """

    packed: np.ndarray
    channel: Channel
    n_rows: int
    payload_starts: np.ndarray
    payload_words: np.ndarray
    rows: np.ndarray
    word_offsets: np.ndarray

    @classmethod
    def copy_from(cls, buffer: np.ndarray, channel: Channel, n_rows: int, **fragments: np.ndarray) -> PackedRows:
        """Keep the fragments (the keyword arguments of :func:`unpack_fragments`) with their bytes copied out
        of ``buffer``, so the capture itself is not held."""
        starts = fragments["payload_starts"].astype(np.int64)
        words = np.minimum(fragments["payload_words"], np.maximum(channel.words - fragments["word_offsets"], 0))
        sizes = words.astype(np.int64) * channel.word_bytes  # words past the record are never unpacked
        ends = np.cumsum(sizes)
        packed = np.zeros(int(ends[-1]) if ends.size else 0, np.uint8)
        take = np.repeat(starts - (ends - sizes), sizes) + np.arange(packed.size)
        packed[:] = buffer[take]
        packed.flags.writeable = buffer.flags.writeable  # the same compiled kernel as for the capture
        return cls(
            packed, channel, n_rows, ends - sizes, words.astype(np.int64), fragments["rows"], fragments["word_offsets"]
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.channel.n_samples)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    @property
    def words_held(self) -> int:
        """Number of packed words kept (what the stored rows cost instead of their samples)."""
        return int(self.payload_words.sum())

    def __getitem__(self, key: Any) -> np.ndarray:
        wanted = np.arange(self.n_rows)[key]
        positions, inverse = np.unique(wanted, return_inverse=True)
        mine: slice | np.ndarray
        if positions.size and positions[-1] - positions[0] == positions.size - 1:  # a block: fragments are by row
            mine = slice(*np.searchsorted(self.rows, [positions[0], positions[-1] + 1]))
        else:
            mine = np.isin(self.rows, positions)
        out = unpack_fragments(
            self.packed,
            self.channel,
            positions.size,
            payload_starts=self.payload_starts[mine],
            payload_words=self.payload_words[mine],
            rows=np.searchsorted(positions, self.rows[mine]),
            word_offsets=self.word_offsets[mine],
            complete=np.zeros(positions.size, bool),
        )
        if positions.size == np.size(wanted) and np.ndim(wanted) == 1 and (positions == wanted).all():
            return out  # increasing rows (a slice, a block): no copy
        return out[inverse.reshape(np.shape(wanted))]
