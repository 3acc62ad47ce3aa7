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
"""Largest capture (bytes) framed in Python (about 20 ms a MB) rather than compiling the scan (seconds)."""

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
    for start, end in unchecked:
        first = buf[start + 1 : end - _HEADER + 1]
        offsets = start + 1 + np.flatnonzero((first >> 5) == 0)  # version 0
        apids = ((buf[offsets].astype(np.int64) & 0x07) << 8) | buf[offsets + 1]
        for at in offsets[known[apids] & has_crc[apids]].tolist():
            end_at = at + _HEADER + 1 + ((data[at + 4] << 8) | data[at + 5])
            if end_at <= len(data) and end_at - at >= _SMALLEST_CHECKED and _verifies(data, at, end_at):
                return True
    return False
