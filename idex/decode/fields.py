"""Vectorised extraction of fixed-width, big-endian bit fields from many packets at once."""

from __future__ import annotations

import numpy as np

from idex.schema import Field

__all__ = ["extract", "extract_bits"]


def extract_bits(buffer: np.ndarray, starts: np.ndarray, offset: int, bits: int) -> np.ndarray:
    """Read an unsigned ``bits``-wide field at bit ``offset`` of every packet.

    Parameters
    ----------
    buffer : numpy.ndarray
        The capture (``uint8``).
    starts : numpy.ndarray
        Byte offset of each packet in ``buffer``.
    offset, bits : int
        Bit offset from the packet start (MSB first) and width; ``offset % 8 + bits`` must be ≤ 64.

    Returns
    -------
    numpy.ndarray
        ``uint64`` values, one per packet.
    """
    first, skip = divmod(offset, 8)
    n_bytes = (skip + bits + 7) // 8
    if n_bytes > 8:
        raise ValueError(f"a {bits}-bit field at bit {offset} spans {n_bytes} bytes; at most 8 are supported")
    acc = np.zeros(starts.shape, dtype=np.uint64)
    for k in range(n_bytes):
        acc = (acc << np.uint64(8)) | buffer[starts + (first + k)].astype(np.uint64)
    acc >>= np.uint64(n_bytes * 8 - skip - bits)
    if bits < 64:
        acc &= np.uint64((1 << bits) - 1)
    return acc


def extract(buffer: np.ndarray, starts: np.ndarray, field: Field) -> np.ndarray:
    """Read ``field`` from every packet, in the field's smallest unsigned dtype."""
    return extract_bits(buffer, starts, field.offset, field.bits).astype(field.dtype)
