"""Packet surgery for tests: split a real capture into packets, edit them, and join them again."""

from __future__ import annotations

import numpy as np

from idex.decode.framing import crc16_ccitt, frame

KNOWN = (1376, 1377, 1413, 1414, 1418, 1419, 1424, 1425)
SCIENCE_APID = 1424
CRC = (1377, 1413, 1414, 1418, 1419, 1424, 1425)


def split(capture: bytes) -> list[bytes]:
    """The packets of a well-formed capture, in order."""
    framing = frame(np.frombuffer(capture, np.uint8), KNOWN, CRC)
    assert framing.gap_starts.size == 0
    return [capture[a:b] for a, b in zip(framing.starts, framing.ends, strict=True)]


def apid(packet: bytes) -> int:
    return ((packet[0] & 0x07) << 8) | packet[1]


def sci_type(packet: bytes) -> int:
    """IDX__SCI0TYPE: byte 16 of a science packet (after 6+6 header bytes and the 4-byte AID)."""
    return packet[16]


def event_number(packet: bytes) -> int:
    return int.from_bytes(packet[20:22], "big")


def fragment_offset(packet: bytes) -> int:
    return int.from_bytes(packet[24:26], "big")


def with_crc(packet: bytes) -> bytes:
    """Recompute the trailing CRC-16 after an edit."""
    return packet[:-2] + crc16_ccitt(packet[:-2]).to_bytes(2, "big")


def science(packets: list[bytes]) -> list[int]:
    """Indices of the science packets."""
    return [i for i, p in enumerate(packets) if apid(p) == SCIENCE_APID]


def find(packets: list[bytes], *, event: int, kind: int, offset: int = 0) -> int:
    """Index of the science packet of ``event`` with type ``kind`` and fragment offset ``offset``."""
    return next(
        i
        for i in science(packets)
        if event_number(packets[i]) == event and sci_type(packets[i]) == kind and fragment_offset(packets[i]) == offset
    )
