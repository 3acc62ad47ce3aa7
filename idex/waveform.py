"""Unpacking of uncompressed waveform fragments into per-event sample arrays.

Each channel's samples are packed MSB-first into big-endian words (e.g. three 10-bit samples after
2 pad bits in a 32-bit word). Fragments of one channel arrive in several packets; each fragment is
copied to its place (fragment offset, in words) of its event's row and unpacked on the way. The
loop over words runs compiled (numba) straight from the capture buffer, so no intermediate word
array is allocated: the decoded samples are the only large allocation (see ``benchmarks/decode.py``
for throughput and peak memory). Blocks of events unpack in parallel threads (:mod:`idex.threads`);
each event's fragments stay in arrival order, so a later overlapping fragment still wins.
"""

from __future__ import annotations

import numba
import numpy as np

from idex.schema import Channel
from idex.threads import blocks, run_blocks

__all__ = ["unpack_fragments"]


@numba.njit(cache=True, boundscheck=False, nogil=True)
def _unpack(buf, src, n_words, rows, word_offsets, out, sample_bits, samples_per_word, word_bytes, max_words):  # pragma: no cover - compiled
    mask = (1 << sample_bits) - 1
    n_samples = out.shape[1]
    top_shift = (samples_per_word - 1) * sample_bits
    for f in range(src.size):
        dest = out[rows[f]]
        stop = min(word_offsets[f] + n_words[f], max_words)
        p = src[f]
        for index in range(word_offsets[f], stop):
            word = np.uint64(0)
            for b in range(word_bytes):
                word = (word << np.uint64(8)) | np.uint64(buf[p + b])
            p += word_bytes
            base = index * samples_per_word
            shift = top_shift
            count = min(samples_per_word, n_samples - base)  # the last word may carry dropped trailing samples
            for s in range(count):
                dest[base + s] = (word >> np.uint64(shift)) & np.uint64(mask)
                shift -= sample_bits


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

    def unpack_rows(first: int, stop: int) -> None:  # a block of events; their fragments in arrival order
        mine = (rows >= first) & (rows < stop)
        _unpack(buffer, starts[mine], sizes[mine], rows[mine], offsets[mine], out, channel.sample_bits,
                channel.samples_per_word, channel.word_bytes, channel.words)

    run_blocks(unpack_rows, blocks(n_rows, minimum=256))
    return out
