"""CCSDS space-packet framing of a raw capture, with resynchronisation and CRC checks.

A capture is a plain concatenation of CCSDS packets (6-byte primary header, then
``packet_length + 1`` data bytes). Framing is inherently sequential (each length gives the next
start), so it runs in a small compiled loop (numba) instead of per-packet Python: that keeps it
at memory speed on captures of hundreds of MB (see ``benchmarks/decode.py``). Everything else
(field extraction, grouping) is vectorised NumPy over the packet table this module returns.

Resynchronisation: a candidate header is accepted when its version is 0, its APID is one the
schema knows, and the packet it announces passes its CRC-16 (for APIDs that carry one), or, when it
cannot be verified (no CRC, or a failed one whose content is then kept and flagged), ends the
capture or lands on another such header *and* covers the start of no packet that verifies on its
own. So a packet just before garbage is kept, and a false header or a corrupted length field never
swallows good packets. Bytes that do not frame are reported as *gaps* with their byte offsets; a
final packet cut short by the end of the capture is reported as a truncated gap. Nothing is
skipped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["CRC_MISMATCH", "CRC_OK", "Framing", "GAP_GARBAGE", "GAP_TRUNCATED", "NOT_CHECKED", "check_crc",
           "crc16_ccitt", "frame"]

PRIMARY_HEADER_BYTES = 6
GAP_GARBAGE = 0
GAP_TRUNCATED = 1


@dataclass(frozen=True)
class Framing:
    """Where the packets of a capture are.

    Attributes
    ----------
    starts, ends : numpy.ndarray
        Byte offsets (int64) of the first byte and one past the last byte of every packet.
    crc : numpy.ndarray
        Per packet (int8): ``CRC_OK``, ``CRC_MISMATCH``, or ``NOT_CHECKED`` (no CRC for its APID).
    gap_starts, gap_ends, gap_kinds : numpy.ndarray
        Byte ranges that did not frame as packets, and why (``GAP_GARBAGE`` or ``GAP_TRUNCATED``).
    """

    starts: np.ndarray
    ends: np.ndarray
    crc: np.ndarray
    gap_starts: np.ndarray
    gap_ends: np.ndarray
    gap_kinds: np.ndarray

    @property
    def count(self) -> int:
        """Number of packets found."""
        return int(self.starts.size)


def _crc_tables(slices: int = 8) -> np.ndarray:
    """CRC-16/CCITT tables for slicing-by-``slices``: row j is the effect of a byte followed by j zero bytes."""
    tables = np.zeros((slices, 256), dtype=np.int64)
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        tables[0, byte] = crc & 0xFFFF
    for j in range(1, slices):
        previous = tables[j - 1]
        tables[j] = ((previous << 8) & 0xFFFF) ^ tables[0, previous >> 8]
    return tables


_CRC_TABLE = _crc_tables()


@numba.njit(cache=True)
def _crc16(buf: np.ndarray, start: int, stop: int, table: np.ndarray) -> int:
    """CRC-16/CCITT-FALSE of ``buf[start:stop]``, eight bytes per step (slicing-by-8), then byte by byte."""
    crc = 0xFFFF
    i = start
    while i + 8 <= stop:
        crc = (table[7, (crc >> 8) ^ buf[i]] ^ table[6, (crc & 0xFF) ^ buf[i + 1]] ^ table[5, buf[i + 2]]
               ^ table[4, buf[i + 3]] ^ table[3, buf[i + 4]] ^ table[2, buf[i + 5]] ^ table[1, buf[i + 6]]
               ^ table[0, buf[i + 7]])
        i += 8
    while i < stop:
        crc = ((crc << 8) & 0xFFFF) ^ table[0, ((crc >> 8) ^ buf[i]) & 0xFF]
        i += 1
    return crc


@numba.njit(cache=True)
def _plausible(buf: np.ndarray, pos: int, known: np.ndarray) -> bool:
    if pos + PRIMARY_HEADER_BYTES > buf.size or (buf[pos] >> 5) != 0:
        return False
    apid = ((buf[pos] & 0x07) << 8) | buf[pos + 1]
    return known[apid]


@numba.njit(cache=True)
def _packet_end(buf: np.ndarray, pos: int) -> int:
    return pos + PRIMARY_HEADER_BYTES + 1 + ((np.int64(buf[pos + 4]) << 8) | buf[pos + 5])


@numba.njit(cache=True)
def _grow(array: np.ndarray, count: int) -> np.ndarray:
    if count < array.shape[0]:
        return array
    bigger = np.empty((array.shape[0] * 2,) + array.shape[1:], array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


@numba.njit(cache=True)
def _push_gap(gaps: np.ndarray, count: int, start: int, stop: int, kind: int) -> np.ndarray:
    gaps = _grow(gaps, count)
    gaps[count, 0] = start
    gaps[count, 1] = stop
    gaps[count, 2] = kind
    return gaps


NOT_CHECKED, CRC_MISMATCH, CRC_OK = -1, 0, 1
_REJECT = -2


@numba.njit(cache=True)
def _crc_state(buf: np.ndarray, pos: int, known: np.ndarray, has_crc: np.ndarray, table: np.ndarray) -> int:
    """CRC state of the packet announced at ``pos``: ``CRC_OK``, ``CRC_MISMATCH`` or ``NOT_CHECKED``."""
    apid = ((buf[pos] & 0x07) << 8) | buf[pos + 1]
    end = _packet_end(buf, pos)
    if not has_crc[apid] or end - pos < 8 or end > buf.size:
        return NOT_CHECKED
    if _crc16(buf, pos, end - 2, table) == ((np.int64(buf[end - 2]) << 8) | buf[end - 1]):
        return CRC_OK
    return CRC_MISMATCH


@numba.njit(cache=True)
def _accept(buf: np.ndarray, pos: int, known: np.ndarray, has_crc: np.ndarray, table: np.ndarray) -> int:
    """CRC state of the packet whose plausible header is at ``pos``, or ``_REJECT`` when it is no packet.

    A packet that passes its CRC-16 is accepted at once. One that cannot be verified (its APID has no
    CRC, or the CRC fails: its content is kept and flagged later) must end at the end of the capture or
    on another plausible header, and must not cover the start of any packet that verifies on its own:
    a false or corrupted length never swallows good packets.
    """
    end = _packet_end(buf, pos)
    n = buf.size
    if end > n:
        return _REJECT
    state = _crc_state(buf, pos, known, has_crc, table)
    if state == CRC_OK:
        return state
    if not (end == n or end + PRIMARY_HEADER_BYTES > n or _plausible(buf, end, known)):
        return _REJECT
    for inner in range(pos + 1, end - PRIMARY_HEADER_BYTES + 1):
        if _plausible(buf, inner, known) and _crc_state(buf, inner, known, has_crc, table) == CRC_OK:
            return _REJECT
    return state


@numba.njit(cache=True)
def _frame(buf: np.ndarray, known: np.ndarray, has_crc: np.ndarray, table: np.ndarray):  # pragma: no cover
    n = buf.size
    capacity = max(16, n // 2048)
    starts = np.empty(capacity, np.int64)
    ends = np.empty(capacity, np.int64)
    crc = np.empty(capacity, np.int8)
    gaps = np.empty((16, 3), np.int64)
    n_packets = 0
    n_gaps = 0
    pos = 0
    while pos < n:
        scan = pos
        truncated_at = -1
        found = -1
        state = _REJECT
        while scan + PRIMARY_HEADER_BYTES <= n:
            if _plausible(buf, scan, known):
                state = _accept(buf, scan, known, has_crc, table)
                if state != _REJECT:
                    found = scan
                    break
                if _packet_end(buf, scan) > n and truncated_at < 0:
                    truncated_at = scan
            scan += 1
        if found < 0:
            # No complete packet left: the rest is garbage, possibly ending in a truncated packet.
            cut = truncated_at if truncated_at >= 0 else n
            if cut > pos:
                gaps = _push_gap(gaps, n_gaps, pos, cut, GAP_GARBAGE)
                n_gaps += 1
            if cut < n:
                gaps = _push_gap(gaps, n_gaps, cut, n, GAP_TRUNCATED)
                n_gaps += 1
            break
        if found > pos:
            gaps = _push_gap(gaps, n_gaps, pos, found, GAP_GARBAGE)
            n_gaps += 1
        starts = _grow(starts, n_packets)
        ends = _grow(ends, n_packets)
        crc = _grow(crc, n_packets)
        starts[n_packets] = found
        ends[n_packets] = _packet_end(buf, found)
        crc[n_packets] = state
        n_packets += 1
        pos = ends[n_packets - 1]
    return starts[:n_packets].copy(), ends[:n_packets].copy(), crc[:n_packets].copy(), gaps[:n_gaps].copy()


def frame(buffer: np.ndarray, known_apids: Iterable[int], crc_apids: Iterable[int] = ()) -> Framing:
    """Split a capture into packets.

    Parameters
    ----------
    buffer : numpy.ndarray
        The capture as a 1-D ``uint8`` array.
    known_apids : iterable of int
        APIDs that may appear; used to tell packets from garbage when resynchronising.
    crc_apids : iterable of int
        APIDs whose packets end in a CRC-16, which then confirms a packet followed by garbage.

    Returns
    -------
    Framing
    """
    known = np.zeros(2048, dtype=np.bool_)
    known[list(known_apids)] = True
    has_crc = np.zeros(2048, dtype=np.bool_)
    has_crc[list(crc_apids)] = True
    starts, ends, crc, gaps = _frame(np.ascontiguousarray(buffer, dtype=np.uint8), known, has_crc, _CRC_TABLE)
    return Framing(starts, ends, crc, gaps[:, 0], gaps[:, 1], gaps[:, 2].astype(np.int8))


@numba.njit(cache=True)
def _check(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, table: np.ndarray) -> np.ndarray:
    ok = np.empty(starts.size, np.bool_)
    for i in range(starts.size):
        stored = (np.int64(buf[ends[i] - 2]) << 8) | buf[ends[i] - 1]
        ok[i] = _crc16(buf, starts[i], ends[i] - 2, table) == stored
    return ok


def crc16_ccitt(data: bytes | np.ndarray) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR).

    Examples
    --------
    >>> hex(crc16_ccitt(b"123456789"))
    '0x29b1'
    """
    array = np.frombuffer(bytes(data), dtype=np.uint8)
    return int(_crc16(array, 0, array.size, _CRC_TABLE))


def check_crc(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Check the trailing CRC-16 of each packet ``buffer[starts[i]:ends[i]]``.

    Returns
    -------
    numpy.ndarray
        Boolean array, True where the stored CRC matches.
    """
    return _check(buffer, starts.astype(np.int64), ends.astype(np.int64), _CRC_TABLE)
