"""Predictive Golomb–Rice coding of IDEX waveforms: a fast, defensive decoder and a matching encoder.

Bitstream (MSB first, no alignment anywhere): a frame is ``n_samples / 64`` subframes. Each subframe
starts with a 2-bit predictor select ``psel`` and, for ``psel >= 2``, a 4-bit parameter ``k``:

- ``psel = 0`` constant: one raw sample, repeated 64 times;
- ``psel = 1`` verbatim: 64 raw samples;
- ``psel = 2`` first order: one raw warm-up sample, then residuals of ``x[n] - x[n-1]``;
- ``psel = 3`` second order: two raw warm-ups, then residuals of ``x[n] - 2 x[n-1] + x[n-2]``.

A residual is a unary count ``u`` (zeros ended by a one). ``u == 47`` escapes to a raw signed
``sample_bits + 2``-bit residual; otherwise the zig-zag quotient ``q`` (``u/2`` for even ``u``,
``-(u+1)/2`` for odd) and a ``k + 1``-bit remainder ``r`` give ``q * 2**(k+1) + r``.

Unlike the decoders it replaces, this one never reads past the data, detects a unary run with no
terminating one, a quotient beyond the escape, a frame that runs out of bits, and any sample outside
``[0, 2**sample_bits)``: it returns a status code instead of raising, hanging or producing garbage.
The kernels are compiled with numba (cached on disk) because the code is a bit-serial state machine
that NumPy cannot vectorise; ``benchmarks/rice.py`` measures them against a plain-Python decoder.
"""

from __future__ import annotations

import enum

import numba
import numpy as np

__all__ = ["RiceStatus", "decode", "encode", "decode_rows"]

SUBFRAME = 64
K_BITS = 4
ESCAPE = 47


class RiceStatus(enum.IntEnum):
    """Outcome of decoding one frame."""

    OK = 0
    OUT_OF_BITS = 1
    """The data ended before the frame's last sample."""
    NO_TERMINATING_ONE = 2
    """A unary code ran to the end of the data without its closing one."""
    QUOTIENT_TOO_LARGE = 3
    """A unary code longer than the escape value 47."""
    SAMPLE_OUT_OF_RANGE = 4
    """A reconstructed sample fell outside ``[0, 2**sample_bits)``."""


_PAD = 8  # zero bytes appended after the data so that the 64-bit bit window can always be refilled
_LEADING_ZEROS = np.array([8] + [7 - int(np.log2(v)) for v in range(1, 256)], dtype=np.int64)


@numba.njit(cache=True, inline="always")
def _refill(data, window, avail, next_byte):  # pragma: no cover - compiled
    """Top up the left-aligned 64-bit window to more than 56 valid bits."""
    while avail <= 56:
        window |= np.uint64(data[next_byte]) << np.uint64(56 - avail)
        next_byte += 1
        avail += 8
    return window, avail, next_byte


@numba.njit(cache=True, inline="always")
def _take(window, avail, pos, n):  # pragma: no cover - compiled
    """Consume the next ``n`` bits (1..25) of the window: (value, window, avail, pos)."""
    return np.int64(window >> np.uint64(64 - n)), window << np.uint64(n), avail - n, pos + n


@numba.njit(cache=True, boundscheck=False)
def _decode_frame(data, start_bit, end_bit, out, sample_bits, zeros_table):  # pragma: no cover - compiled
    """Decode one frame from ``data`` bits [start_bit, end_bit) into ``out``; return (status, index).

    Bits are read through a 64-bit window (next bits left-aligned): one byte load per 8 bits, and the
    unary codes are counted a byte at a time with a leading-zeros table.
    """
    limit = 1 << sample_bits
    n_out = out.size
    pos = start_bit
    window = np.uint64(0)
    avail = 0
    next_byte = start_bit >> 3
    window, avail, next_byte = _refill(data, window, avail, next_byte)
    skip = start_bit & 7
    window <<= np.uint64(skip)
    avail -= skip
    n = 0
    while n < n_out:
        window, avail, next_byte = _refill(data, window, avail, next_byte)
        if pos + 2 > end_bit:
            return 1, n
        psel, window, avail, pos = _take(window, avail, pos, 2)
        k = 0
        if psel >= 2:
            if pos + K_BITS > end_bit:
                return 1, n
            k, window, avail, pos = _take(window, avail, pos, K_BITS)
        stop = min(n + SUBFRAME, n_out)
        warmup = 2 if psel == 3 else (SUBFRAME if psel == 1 else 1)
        first = n
        while n < stop:
            window, avail, next_byte = _refill(data, window, avail, next_byte)
            if n - first < warmup:
                if pos + sample_bits > end_bit:
                    return 1, n
                x, window, avail, pos = _take(window, avail, pos, sample_bits)
                if psel == 0:
                    while n < stop:
                        out[n] = x
                        n += 1
                    break
            else:
                u = 0
                while True:
                    if pos >= end_bit:
                        return (3 if u > ESCAPE else 2), n
                    top = np.int64(window >> np.uint64(56))
                    if top == 0:
                        if pos + 8 > end_bit:  # zeros up to the end of the data: no closing one
                            return (3 if u + end_bit - pos > ESCAPE else 2), n
                        u += 8
                        pos += 8
                        window <<= np.uint64(8)
                        avail -= 8
                        if u > ESCAPE:
                            return 3, n
                        window, avail, next_byte = _refill(data, window, avail, next_byte)
                        continue
                    zeros = zeros_table[top]
                    if pos + zeros >= end_bit:
                        return (3 if u + end_bit - pos > ESCAPE else 2), n
                    u += zeros
                    if u > ESCAPE:
                        return 3, n
                    window <<= np.uint64(zeros + 1)
                    avail -= zeros + 1
                    pos += zeros + 1
                    break
                window, avail, next_byte = _refill(data, window, avail, next_byte)
                if u == ESCAPE:
                    width = sample_bits + 2
                    if pos + width > end_bit:
                        return 1, n
                    e, window, avail, pos = _take(window, avail, pos, width)
                    if e >= 1 << (width - 1):
                        e -= 1 << width
                else:
                    q = u >> 1 if (u & 1) == 0 else -((u + 1) >> 1)
                    if pos + k + 1 > end_bit:
                        return 1, n
                    r, window, avail, pos = _take(window, avail, pos, k + 1)
                    e = q * (1 << (k + 1)) + r
                if psel == 2:
                    x = e + out[n - 1]
                else:
                    x = e + 2 * out[n - 1] - out[n - 2]
            if x < 0 or x >= limit:
                return 4, n
            out[n] = x
            n += 1
    return 0, n


@numba.njit(cache=True, nogil=True)
def _decode_rows(data, bit_starts, bit_ends, out, status, where, row, sample_bits, zeros_table):  # pragma: no cover
    for i in range(bit_starts.size):
        status[i], where[i] = _decode_frame(data, bit_starts[i], bit_ends[i], row, sample_bits, zeros_table)
        if status[i] == 0:
            out[i, :] = row


_FRAMES_PER_CALL = 512  # a short compiled call, so that Ctrl+C and SIGTERM act between calls


def decode_rows(
    data: np.ndarray, byte_starts: np.ndarray, byte_ends: np.ndarray, *, n_samples: int, sample_bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode many frames held in ``data[byte_starts[i]:byte_ends[i]]`` in one compiled call.

    Returns
    -------
    samples : numpy.ndarray
        ``(n_frames, n_samples)`` ``uint16``; rows that failed are left as zeros.
    status : numpy.ndarray
        :class:`RiceStatus` code per frame.
    position : numpy.ndarray
        Index of the sample being decoded when a frame failed (``n_samples`` when it succeeded).
    """
    out = np.zeros((byte_starts.size, n_samples), dtype=np.uint16)
    status = np.zeros(byte_starts.size, np.int64)
    where = np.zeros(byte_starts.size, np.int64)
    row = np.empty(n_samples, np.int64)
    padded = np.concatenate([np.asarray(data, dtype=np.uint8).ravel(), np.zeros(_PAD, np.uint8)])
    bit_starts, bit_ends = byte_starts.astype(np.int64) * 8, byte_ends.astype(np.int64) * 8
    for first in range(0, byte_starts.size, _FRAMES_PER_CALL):
        part = slice(first, first + _FRAMES_PER_CALL)
        _decode_rows(
            padded,
            bit_starts[part],
            bit_ends[part],
            out[part],
            status[part],
            where[part],
            row,
            sample_bits,
            _LEADING_ZEROS,
        )
    return out, status, where


def decode(data: bytes | np.ndarray, *, n_samples: int, sample_bits: int) -> np.ndarray:
    """Decode one compressed frame.

    Parameters
    ----------
    data : bytes or numpy.ndarray
        The compressed bitstream (trailing padding bits are ignored).
    n_samples : int
        Samples in the frame (8192 for high-rate, 512 for low-rate IDEX channels).
    sample_bits : int
        Bits per raw sample (10 or 12).

    Returns
    -------
    numpy.ndarray
        ``int64`` samples.

    Raises
    ------
    idex.exceptions.DecompressionError
        With the :class:`RiceStatus` and the sample index where decoding failed.

    Examples
    --------
    >>> decode(bytes([0b00000000, 0b00010000]), n_samples=64, sample_bits=10)[:3]  # constant subframe of 1s
    array([1, 1, 1])
    """
    from idex.exceptions import DecompressionError

    array = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    samples, status, where = decode_rows(
        array, np.array([0]), np.array([array.size]), n_samples=n_samples, sample_bits=sample_bits
    )
    if status[0]:
        raise DecompressionError(
            f"Rice frame invalid at sample {where[0]} of {n_samples}: {RiceStatus(status[0]).name}"
        )
    return samples[0].astype(np.int64)


@numba.njit(cache=True)
def _residual_cost(e, k):  # pragma: no cover - compiled
    q = e >> (k + 1)
    u = 2 * q if q >= 0 else -2 * q - 1
    return -1 if u >= ESCAPE else u + 1 + k + 1


@numba.njit(cache=True)
def _best_subframe(x, sample_bits):  # pragma: no cover - compiled
    """Cheapest (psel, k, bits) for one subframe ``x``."""
    n = x.size
    best_psel, best_k, best = 1, 0, 2 + n * sample_bits
    constant = True
    for i in range(1, n):
        if x[i] != x[0]:
            constant = False
            break
    if constant and 2 + sample_bits < best:
        return 0, 0, 2 + sample_bits
    escape_cost = ESCAPE + 1 + sample_bits + 2
    for psel in (2, 3):
        warm = psel - 1
        if n < warm:
            continue
        for k in range(1 << K_BITS):
            bits = 2 + K_BITS + warm * sample_bits
            for i in range(warm, n):
                e = x[i] - x[i - 1] if psel == 2 else x[i] - 2 * x[i - 1] + x[i - 2]
                c = _residual_cost(e, k)
                bits += escape_cost if c < 0 else c
                if bits >= best:
                    break
            if bits < best:
                best_psel, best_k, best = psel, k, bits
    return best_psel, best_k, best


@numba.njit(cache=True)
def _put(buf, pos, value, n):  # pragma: no cover - compiled
    for i in range(n - 1, -1, -1):
        if (value >> i) & 1:
            buf[pos >> 3] |= np.uint8(1 << (7 - (pos & 7)))
        pos += 1
    return pos


@numba.njit(cache=True)
def _encode(x, sample_bits, buf):  # pragma: no cover - compiled
    pos = 0
    for start in range(0, x.size, SUBFRAME):
        sub = x[start : start + SUBFRAME]
        psel, k, _ = _best_subframe(sub, sample_bits)
        pos = _put(buf, pos, psel, 2)
        if psel >= 2:
            pos = _put(buf, pos, k, K_BITS)
        warm = 1 if psel == 0 else (sub.size if psel == 1 else psel - 1)
        for i in range(min(warm, sub.size)):
            pos = _put(buf, pos, sub[i], sample_bits)
        if psel < 2:
            continue
        for i in range(warm, sub.size):
            e = sub[i] - sub[i - 1] if psel == 2 else sub[i] - 2 * sub[i - 1] + sub[i - 2]
            q = e >> (k + 1)
            u = 2 * q if q >= 0 else -2 * q - 1
            if u >= ESCAPE:
                pos += ESCAPE
                pos = _put(buf, pos, 1, 1)
                pos = _put(buf, pos, e & ((1 << (sample_bits + 2)) - 1), sample_bits + 2)
            else:
                pos += u
                pos = _put(buf, pos, 1, 1)
                pos = _put(buf, pos, e & ((1 << (k + 1)) - 1), k + 1)
    return pos


def encode(samples: np.ndarray, *, sample_bits: int, align_bytes: int = 1) -> bytes:
    """Compress one frame, choosing predictor and ``k`` per 64-sample subframe for the fewest bits.

    Parameters
    ----------
    samples : numpy.ndarray
        Non-negative integer samples below ``2**sample_bits``; the length must be a multiple of 64.
    sample_bits : int
        Bits per raw sample.
    align_bytes : int
        Pad the output with zero bits to a multiple of this many bytes (4 for 32-bit packet words).

    Returns
    -------
    bytes

    Examples
    --------
    >>> frame = np.arange(128) % 50
    >>> np.array_equal(decode(encode(frame, sample_bits=10), n_samples=128, sample_bits=10), frame)
    True
    """
    x = np.asarray(samples, dtype=np.int64)
    if x.ndim != 1 or x.size % SUBFRAME:
        raise ValueError(f"a frame must be 1-D with a multiple of {SUBFRAME} samples, got shape {x.shape}")
    if x.size and (x.min() < 0 or x.max() >= 1 << sample_bits):
        raise ValueError(f"samples must lie in [0, {1 << sample_bits}) for {sample_bits}-bit data")
    worst = x.size * (ESCAPE + 1 + sample_bits + 2) + (x.size // SUBFRAME) * (2 + K_BITS) + 64
    buf = np.zeros(worst // 8 + 8, dtype=np.uint8)
    bits = _encode(x, sample_bits, buf)
    n_bytes = -(-bits // 8)
    n_bytes = -(-n_bytes // align_bytes) * align_bytes
    return buf[:n_bytes].tobytes()
