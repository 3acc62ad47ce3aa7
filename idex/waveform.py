"""Unpacking of uncompressed waveform fragments into per-event sample arrays.

Each channel's samples are packed MSB-first into big-endian words (e.g. three 10-bit samples after
2 pad bits in a 32-bit word). Fragments of one channel arrive in several packets; each fragment is
copied to its place (fragment offset, in words) of its event's row and unpacked on the way. The
loop over words runs compiled (numba) straight from the capture buffer, so no intermediate word
array is allocated: the decoded samples are the only large allocation (see ``benchmarks/decode.py``
for throughput and peak memory).
"""

from __future__ import annotations

import numba
import numpy as np

from idex.schema import Channel

__all__ = ["unpack_fragments"]


@numba.njit(cache=True)
def _unpack(buf, src, n_words, rows, word_offsets, out, sample_bits, samples_per_word, word_bytes, max_words):  # pragma: no cover - compiled
    mask = (1 << sample_bits) - 1
    n_samples = out.shape[1]
    for f in range(src.size):
        row = rows[f]
        for w in range(n_words[f]):
            index = word_offsets[f] + w
            if index >= max_words:
                break
            p = src[f] + w * word_bytes
            word = np.int64(0)
            for b in range(word_bytes):
                word = (word << 8) | buf[p + b]
            base = index * samples_per_word
            for s in range(samples_per_word):
                if base + s < n_samples:
                    out[row, base + s] = (word >> ((samples_per_word - 1 - s) * sample_bits)) & mask


def unpack_fragments(
    buffer: np.ndarray,
    channel: Channel,
    n_rows: int,
    *,
    payload_starts: np.ndarray,
    payload_words: np.ndarray,
    rows: np.ndarray,
    word_offsets: np.ndarray,
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

    Returns
    -------
    numpy.ndarray
        Samples; positions no fragment covered hold ``channel.fill_value``. Trailing samples the
        schema drops (``drop_trailing``) are never written.
    """
    out = np.full((n_rows, channel.n_samples), channel.fill_value, dtype=np.uint16)
    _unpack(
        buffer,
        payload_starts.astype(np.int64),
        payload_words.astype(np.int64),
        rows.astype(np.int64),
        word_offsets.astype(np.int64),
        out,
        channel.sample_bits,
        channel.samples_per_word,
        channel.word_bytes,
        channel.words,
    )
    return out
