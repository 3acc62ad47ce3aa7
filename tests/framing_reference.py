"""A slow, plain-Python statement of the framing rule, for checking ``idex.decode.framing`` against.

It follows the rule of ``idex.decode.framing``'s module docstring literally (every candidate header
is tried in turn, every plausible header inside an unverifiable packet has its CRC recomputed from
scratch), so its cost grows with the cube of the packet length: use it on small buffers only.
"""

from __future__ import annotations

from idex.decode.framing import CRC_MISMATCH, CRC_OK, GAP_GARBAGE, GAP_TRUNCATED, NOT_CHECKED, crc16_ccitt

HEADER = 6


def _plausible(data: bytes, pos: int, known: set[int]) -> bool:
    return pos + HEADER <= len(data) and data[pos] >> 5 == 0 and ((data[pos] & 7) << 8 | data[pos + 1]) in known


def _end(data: bytes, pos: int) -> int:
    return pos + HEADER + 1 + (data[pos + 4] << 8 | data[pos + 5])


def _crc_state(data: bytes, pos: int, with_crc: set[int]) -> int:
    end = _end(data, pos)
    if ((data[pos] & 7) << 8 | data[pos + 1]) not in with_crc or end - pos < 8 or end > len(data):
        return NOT_CHECKED
    return CRC_OK if crc16_ccitt(data[pos : end - 2]) == int.from_bytes(data[end - 2 : end], "big") else CRC_MISMATCH


def _accept(data: bytes, pos: int, known: set[int], with_crc: set[int]) -> int | None:
    end = _end(data, pos)
    if end > len(data):
        return None
    state = _crc_state(data, pos, with_crc)
    if state == CRC_OK:
        return state
    if not (end + HEADER > len(data) or _plausible(data, end, known)):
        return None
    for inner in range(pos + 1, end - HEADER + 1):
        if _plausible(data, inner, known) and _crc_state(data, inner, with_crc) == CRC_OK:
            return None
    return state


def reference_frame(data: bytes, known: set[int], with_crc: set[int]) -> tuple[list, list]:
    """Packets ``[(start, end, crc_state)]`` and gaps ``[(start, end, kind)]`` of ``data``."""
    packets: list[tuple[int, int, int]] = []
    gaps: list[tuple[int, int, int]] = []
    pos = 0
    while pos < len(data):
        truncated_at, found, state = -1, -1, None
        for scan in range(pos, len(data) - HEADER + 1):
            if _plausible(data, scan, known):
                state = _accept(data, scan, known, with_crc)
                if state is not None:
                    found = scan
                    break
                if _end(data, scan) > len(data) and truncated_at < 0:
                    truncated_at = scan
        if found < 0:
            cut = truncated_at if truncated_at >= 0 else len(data)
            if cut > pos:
                gaps.append((pos, cut, GAP_GARBAGE))
            if cut < len(data):
                gaps.append((cut, len(data), GAP_TRUNCATED))
            break
        if found > pos:
            gaps.append((pos, found, GAP_GARBAGE))
        assert state is not None
        packets.append((found, _end(data, found), state))
        pos = _end(data, found)
    return packets, gaps


def resync_run(total: int, packet_bytes: int = 65538) -> tuple[bytes, bytes]:
    """About ``total`` bytes of plausible APID 1424 headers every 6th byte around one valid packet.

    Every false header announces a ``packet_bytes``-byte packet whose CRC fails; with the default (a
    multiple of 6, near the largest packet) each one ends on another false header, so each must be
    checked against every header it covers: the input that made framing cubic. Returns the capture
    and the valid packet.
    """
    length = packet_bytes - 7
    header = bytes([0x0D, 0x90, 0xC0, 0x00, length >> 8, length & 0xFF])
    body = b"\x5a" * 196  # a 204-byte packet keeps the false headers after it on the 6-byte grid
    good = bytes([0x0D, 0x90, 0xC0, 0x00, 0x00, len(body) + 1]) + body
    good += crc16_ccitt(good).to_bytes(2, "big")
    half = header * (total // 12)
    return half + good + half, good
