"""Framing of a clean capture in plain Python: no kernel to compile for the common small capture.

A capture whose packets follow each other from its first byte to its last, every packet of a CRC APID
passing its CRC and no packet that passes its CRC starting inside a packet without one, frames exactly as
:func:`idex.decode.framing.frame`'s resynchronising scan would frame it (each header is accepted at the
first offset it tries, and nothing is a gap). :func:`clean_chain` checks exactly that, with ``binascii``'s
CRC-16/CCITT, and otherwise answers ``None``: the compiled scan then frames the capture. It is used for
captures up to :data:`CLEAN_CHAIN_LIMIT` bytes, where compiling the scan (seconds, on first use) would
cost far more than framing itself.
"""

from __future__ import annotations

from binascii import crc_hqx

import numpy as np

__all__ = ["CLEAN_CHAIN_LIMIT", "clean_chain"]

CLEAN_CHAIN_LIMIT = 16 << 20
"""Largest capture (bytes) framed in Python; beyond it the compiled scan is faster."""

_HEADER = 6
_SMALLEST_CHECKED = 8  # a CRC is checked on packets of at least 8 bytes (header and CRC)


def _verifies(data: bytes, start: int, end: int) -> bool:
    return crc_hqx(data[start : end - 2], 0xFFFF) == int.from_bytes(data[end - 2 : end], "big")


def clean_chain(
    buf: np.ndarray, known: np.ndarray, has_crc: np.ndarray
) -> tuple[list[int], list[int], list[bool]] | None:
    """Packet starts, ends and whether each has a CRC (then it passed), of a clean capture; ``None`` when the
    capture needs the resynchronising scan.

    Parameters
    ----------
    buf : numpy.ndarray
        The capture (``uint8``).
    known, has_crc : numpy.ndarray
        Per APID (2048 booleans): may appear; its packets end in a CRC-16.
    """
    data = buf.tobytes()
    n = len(data)
    starts: list[int] = []
    ends: list[int] = []
    checked: list[bool] = []
    unchecked: list[tuple[int, int]] = []
    pos = 0
    while pos < n:
        if pos + _HEADER > n or data[pos] >> 5:
            return None
        apid = ((data[pos] & 0x07) << 8) | data[pos + 1]
        end = pos + _HEADER + 1 + ((data[pos + 4] << 8) | data[pos + 5])
        if not known[apid] or end > n:
            return None
        if has_crc[apid]:
            if end - pos < _SMALLEST_CHECKED or not _verifies(data, pos, end):
                return None
        else:
            unchecked.append((pos, end))
        starts.append(pos)
        ends.append(end)
        checked.append(bool(has_crc[apid]))
        pos = end
    if unchecked and _verified_start_inside(data, buf, known, has_crc, unchecked):
        return None
    return starts, ends, checked


def _verified_start_inside(
    data: bytes, buf: np.ndarray, known: np.ndarray, has_crc: np.ndarray, unchecked: list[tuple[int, int]]
) -> bool:
    """Whether a packet that passes its CRC starts at an offset ``start + 1 .. end - 6`` of a packet without
    one (the scan would then not accept that packet)."""
    if buf.size < _HEADER:
        return False
    first, second = buf[: -_HEADER + 1].astype(np.int64), buf[1 : buf.size - _HEADER + 2].astype(np.int64)
    apids = ((first & 0x07) << 8) | second
    candidates = np.flatnonzero(((first >> 5) == 0) & known[apids] & has_crc[apids])
    inside = np.zeros(buf.size + 1, np.int64)  # +1 at start + 1, -1 after end - 6: a running count
    for start, end in unchecked:
        if end - _HEADER >= start + 1:
            inside[start + 1] += 1
            inside[end - _HEADER + 1] -= 1
    candidates = candidates[np.cumsum(inside)[candidates] > 0]
    for at in candidates.tolist():
        end = at + _HEADER + 1 + ((data[at + 4] << 8) | data[at + 5])
        if end <= len(data) and end - at >= _SMALLEST_CHECKED and _verifies(data, at, end):
            return True
    return False
