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

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numba
import numpy as np

from idex.decode.clean_framing import CLEAN_CHAIN_LIMIT, clean_chain
from idex.schema.ccsds import PRIMARY_HEADER_BYTES

__all__ = [
    "CRC_MISMATCH",
    "CRC_OK",
    "Framing",
    "GAP_GARBAGE",
    "GAP_TRUNCATED",
    "NOT_CHECKED",
    "check_crc",
    "crc16_ccitt",
    "frame",
]

_Int = int | np.integer  # what the compiled helpers take and give back as a CRC register
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


@numba.njit(cache=True, nogil=True, inline="always")
def _eight_bytes(crc: _Int, buf: np.ndarray, i: int, table: np.ndarray) -> _Int:  # pragma: no cover - compiled
    """CRC-16/CCITT register after ``buf[i:i + 8]`` from ``crc`` (one slicing-by-8 step)."""
    return (
        table[7, (crc >> 8) ^ buf[i]]
        ^ table[6, (crc & 0xFF) ^ buf[i + 1]]
        ^ table[5, buf[i + 2]]
        ^ table[4, buf[i + 3]]
        ^ table[3, buf[i + 4]]
        ^ table[2, buf[i + 5]]
        ^ table[1, buf[i + 6]]
        ^ table[0, buf[i + 7]]
    )


@numba.njit(cache=True, nogil=True)
def _crc16(buf: np.ndarray, start: int, stop: int, table: np.ndarray, crc: _Int = 0xFFFF) -> _Int:
    """CRC-16/CCITT register after ``buf[start:stop]`` from ``crc``, eight bytes per step (slicing-by-8)."""
    i = start
    while i + 8 <= stop:
        crc = _eight_bytes(crc, buf, i, table)
        i += 8
    while i < stop:
        crc = ((crc << 8) & 0xFFFF) ^ table[0, ((crc >> 8) ^ buf[i]) & 0xFF]
        i += 1
    return crc


# Any CRC in O(1): the register is affine in its start value, so with checkpoints P[j] (register from 0
# after buf[:8j]) the CRC of buf[a:b] from 0xFFFF is Z^(b-a)(0xFFFF ^ P(a)) ^ P(b), where Z^k is k zero
# bytes fed to the register (a 16x16 bit matrix, tabulated once per k by its columns).
_MAX_CRC_SPAN = 65536 + PRIMARY_HEADER_BYTES + 1


@numba.njit(cache=True, nogil=True)
def _zero_feed_columns(table: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    columns = np.empty((_MAX_CRC_SPAN, 16), np.uint16)
    for bit in range(16):
        columns[0, bit] = 1 << bit
    for k in range(1, _MAX_CRC_SPAN):
        for bit in range(16):
            previous = np.int64(columns[k - 1, bit])
            columns[k, bit] = ((previous << 8) & 0xFFFF) ^ table[0, previous >> 8]
    return columns


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _checkpoints(buf: np.ndarray, points: np.ndarray, first: int, stop: int, table: np.ndarray) -> None:
    """Fill ``points[first + 1:stop]`` from ``points[first]``: the register from 0 after every 8th byte."""
    crc: _Int = np.int64(points[first])
    for j in range(first + 1, stop):  # one slicing-by-8 step per checkpoint, the register kept in a local
        crc = _eight_bytes(crc, buf, 8 * (j - 1), table)
        points[j] = crc


@numba.njit(cache=True, nogil=True)
def _register(buf: np.ndarray, points: np.ndarray, at: int, table: np.ndarray) -> _Int:
    """Register from 0 after ``buf[:at]``: the checkpoint before ``at``, then at most 7 bytes."""
    return _crc16(buf, at & ~7, at, table, np.int64(points[at >> 3]))


@numba.njit(cache=True, nogil=True)
def _crc_of(buf: np.ndarray, start: int, stop: int, points: np.ndarray, zeros: np.ndarray, table: np.ndarray) -> _Int:
    """CRC-16/CCITT-FALSE of ``buf[start:stop]`` in constant time, from the checkpoints."""
    shifted = 0xFFFF ^ _register(buf, points, start, table)
    crc = _register(buf, points, stop, table)
    for bit in range(16):
        if (shifted >> bit) & 1:
            crc ^= zeros[stop - start, bit]
    return crc


@numba.njit(cache=True, nogil=True)
def _plausible(buf: np.ndarray, pos: int, known: np.ndarray) -> bool:
    if pos + PRIMARY_HEADER_BYTES > buf.size or (buf[pos] >> 5) != 0:
        return False
    apid = ((buf[pos] & 0x07) << 8) | buf[pos + 1]
    return known[apid]


@numba.njit(cache=True, nogil=True)
def _packet_end(buf: np.ndarray, pos: int) -> int:
    return pos + PRIMARY_HEADER_BYTES + 1 + ((np.int64(buf[pos + 4]) << 8) | buf[pos + 5])


NOT_CHECKED, CRC_MISMATCH, CRC_OK = -1, 0, 1
_REJECT = -2


@numba.njit(cache=True, nogil=True)
def _crc_state(buf: np.ndarray, pos: int, has_crc: np.ndarray, crc_tools: tuple) -> int:
    """CRC state of the packet announced at ``pos``: ``CRC_OK``, ``CRC_MISMATCH`` or ``NOT_CHECKED``."""
    apid = ((buf[pos] & 0x07) << 8) | buf[pos + 1]
    end = _packet_end(buf, pos)
    if not has_crc[apid] or end - pos < 8 or end > buf.size:
        return NOT_CHECKED
    points, zeros, table = crc_tools
    if _crc_of(buf, pos, end - 2, points, zeros, table) == ((np.int64(buf[end - 2]) << 8) | buf[end - 1]):
        return CRC_OK
    return CRC_MISMATCH


# Scanner state between compiled calls (one int64 array), so that the Python loop around them can act
# on signals and grow the output arrays: no compiled call allocates or runs for more than a moment.
_POS, _SCAN, _TRUNCATED_AT, _SCANNING, _PACKETS, _GAPS, _HEAD, _TAIL, _FRONTIER, _WORK = range(10)
_DONE, _OUT_OF_BUDGET, _OUT_OF_ROOM = 0, 1, 2
_WORK_PER_CALL = 1 << 20


@numba.njit(cache=True, nogil=True)
def _verified_inside(buf, lo, hi, known, has_crc, crc_tools, queue, st) -> bool:  # pragma: no cover
    """Whether a packet starting in ``[lo, hi]`` verifies by its CRC.

    Offsets are checked once each, in increasing order (``st[_FRONTIER]``); those that verify wait in
    ``queue``. The lower bounds of successive calls never decrease, which keeps the whole scan linear.
    """
    mask = queue.size - 1
    while st[_HEAD] < st[_TAIL] and queue[st[_HEAD] & mask] < lo:
        st[_HEAD] += 1
    st[_FRONTIER] = max(st[_FRONTIER], lo)
    while st[_FRONTIER] <= hi:
        at = st[_FRONTIER]
        if _plausible(buf, at, known) and _crc_state(buf, at, has_crc, crc_tools) == CRC_OK:
            queue[st[_TAIL] & mask] = at
            st[_TAIL] += 1
        st[_FRONTIER] += 1
        st[_WORK] += 1
    return st[_HEAD] < st[_TAIL] and queue[st[_HEAD] & mask] <= hi


@numba.njit(cache=True, nogil=True)
def _accept(buf, pos, known, has_crc, crc_tools, queue, st) -> int:  # pragma: no cover - compiled
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
    state = _crc_state(buf, pos, has_crc, crc_tools)
    if state == CRC_OK:
        return state
    if not (end + PRIMARY_HEADER_BYTES > n or _plausible(buf, end, known)):
        return _REJECT
    if _verified_inside(buf, pos + 1, end - PRIMARY_HEADER_BYTES, known, has_crc, crc_tools, queue, st):
        return _REJECT
    return state


@numba.njit(cache=True, nogil=True)
def _push(table: np.ndarray, st: np.ndarray, counter: int, first: int, second: int, third: int) -> None:
    row = st[counter]
    table[row, 0] = first
    table[row, 1] = second
    table[row, 2] = third
    st[counter] = row + 1


@numba.njit(cache=True, nogil=True)
def _frame_some(buf, known, has_crc, crc_tools, queue, st, packets, gaps) -> int:  # pragma: no cover
    """Advance the scan described by ``st`` by about ``_WORK_PER_CALL`` steps; say why it stopped."""
    n = buf.size
    st[_WORK] = 0
    while True:
        if st[_SCANNING] == 0:
            if st[_POS] >= n:
                return _DONE
            if st[_PACKETS] >= packets.shape[0] or st[_GAPS] + 2 > gaps.shape[0]:
                return _OUT_OF_ROOM
            st[_SCAN] = st[_POS]
            st[_TRUNCATED_AT] = -1
            st[_SCANNING] = 1
        pos = st[_POS]
        found = -1
        state = _REJECT
        while st[_SCAN] + PRIMARY_HEADER_BYTES <= n:
            if st[_WORK] >= _WORK_PER_CALL:
                return _OUT_OF_BUDGET
            scan = st[_SCAN]
            st[_WORK] += 1
            if _plausible(buf, scan, known):
                state = _accept(buf, scan, known, has_crc, crc_tools, queue, st)
                if state != _REJECT:
                    found = scan
                    break
                if _packet_end(buf, scan) > n and st[_TRUNCATED_AT] < 0:
                    st[_TRUNCATED_AT] = scan
            st[_SCAN] = scan + 1
        st[_SCANNING] = 0
        if found < 0:
            # No complete packet left: the rest is garbage, possibly ending in a truncated packet.
            cut = st[_TRUNCATED_AT] if st[_TRUNCATED_AT] >= 0 else n
            if cut > pos:
                _push(gaps, st, _GAPS, pos, cut, GAP_GARBAGE)
            if cut < n:
                _push(gaps, st, _GAPS, cut, n, GAP_TRUNCATED)
            st[_POS] = n
            return _DONE
        if found > pos:
            _push(gaps, st, _GAPS, pos, found, GAP_GARBAGE)
        st[_POS] = _packet_end(buf, found)
        _push(packets, st, _PACKETS, found, st[_POS], state)


_CHECKPOINTS_PER_CALL = 1 << 22
_ZEROS: list[np.ndarray] = []


def _crc_tools(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checkpoints of ``buf``, the zero-feed table and the byte table, computed in short compiled calls."""
    if not _ZEROS:
        _ZEROS.append(_zero_feed_columns(_CRC_TABLE))
    points = np.zeros(buf.size // 8 + 1, np.uint16)
    for first in range(0, points.size, _CHECKPOINTS_PER_CALL):
        _checkpoints(buf, points, first, min(first + _CHECKPOINTS_PER_CALL + 1, points.size), _CRC_TABLE)
    return points, _ZEROS[0], _CRC_TABLE


def _scan_compiled() -> bool:
    """Whether the resynchronising scan is compiled, in this process or in numba's cache on disk (else a clean
    capture up to ``CLEAN_CHAIN_LIMIT`` bytes is framed in Python rather than compiling the scan for it)."""
    index = getattr(getattr(getattr(_frame_some, "_cache", None), "_cache_file", None), "_index_path", None)
    return bool(_frame_some.signatures) or (index is not None and os.path.exists(index))


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
    buf = np.ascontiguousarray(buffer, dtype=np.uint8).view()
    buf.flags.writeable = False  # always read-only (a view): numba compiles read-only and writable arrays apart
    known = np.zeros(2048, dtype=np.bool_)
    known[list(known_apids)] = True
    has_crc = np.zeros(2048, dtype=np.bool_)
    has_crc[list(crc_apids)] = True
    if buf.size <= CLEAN_CHAIN_LIMIT and not _scan_compiled() and (chain := clean_chain(buf, known, has_crc)):
        starts, ends, checked = (np.asarray(column, np.int64) for column in chain)  # no kernel to compile
        no_gap = np.zeros(0, np.int64)
        crc = np.where(checked.astype(bool), CRC_OK, NOT_CHECKED).astype(np.int8)
        return Framing(starts, ends, crc, no_gap, no_gap.copy(), no_gap.astype(np.int8))
    crc_tools = _crc_tools(buf)
    queue = np.empty(1 << 17, np.int64)  # more than the offsets one packet can cover
    st = np.zeros(10, np.int64)
    packets = np.empty((max(16, buf.size // 2048), 3), np.int64)
    gaps = np.empty((16, 3), np.int64)
    while (why := _frame_some(buf, known, has_crc, crc_tools, queue, st, packets, gaps)) != _DONE:
        if why == _OUT_OF_ROOM:
            packets = np.resize(packets, (2 * packets.shape[0], 3))
            gaps = np.resize(gaps, (2 * gaps.shape[0], 3))
    packets, gaps = packets[: st[_PACKETS]], gaps[: st[_GAPS]]
    return Framing(
        packets[:, 0].copy(),
        packets[:, 1].copy(),
        packets[:, 2].astype(np.int8),
        gaps[:, 0].copy(),
        gaps[:, 1].copy(),
        gaps[:, 2].astype(np.int8),
    )


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
