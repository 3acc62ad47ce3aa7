"""CCSDS framing and CRC-16 on synthetic packets."""

from __future__ import annotations

import numpy as np
import pytest

from idex.decode.framing import GAP_GARBAGE, GAP_TRUNCATED, check_crc, crc16_ccitt, frame


def packet(apid: int, payload: bytes, *, crc: bool = True) -> bytes:
    body = payload + (b"\0\0" if crc else b"")
    header = bytes([(apid >> 8) & 0x07 | 0x08, apid & 0xFF, 0xC0, 0x00]) + (len(body) - 1).to_bytes(2, "big")
    data = header + body
    return data[:-2] + crc16_ccitt(data[:-2]).to_bytes(2, "big") if crc else data


def buf(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


@pytest.mark.parametrize(("data", "expected"), [(b"123456789", 0x29B1), (b"", 0xFFFF), (b"\x00", 0xE1F0)])
def test_crc16_ccitt_false_check_values(data, expected):
    assert crc16_ccitt(data) == expected


def test_frames_back_to_back_packets():
    packets = [packet(1424, bytes(range(40))), packet(1376, b"\x01" * 6, crc=False), packet(1418, b"xyz")]
    framing = frame(buf(b"".join(packets)), [1376, 1418, 1424], [1418, 1424])
    assert framing.count == 3 and framing.gap_starts.size == 0
    assert np.diff(np.r_[framing.starts, framing.ends[-1]]).tolist() == [len(p) for p in packets]
    ok = check_crc(buf(b"".join(packets)), framing.starts[[0, 2]], framing.ends[[0, 2]])
    assert ok.all()


def test_unknown_apid_is_garbage_with_offset():
    good, alien = packet(1424, b"a" * 20), packet(300, b"b" * 20)
    framing = frame(buf(good + alien + good), [1424], [1424])
    assert framing.count == 2
    assert (framing.gap_starts.tolist(), framing.gap_ends.tolist()) == ([len(good)], [len(good) + len(alien)])
    assert framing.gap_kinds.tolist() == [GAP_GARBAGE]


def test_truncated_tail():
    good = packet(1424, b"a" * 20)
    framing = frame(buf(good + good[:-5]), [1424], [1424])
    assert framing.count == 1
    assert framing.gap_kinds.tolist() == [GAP_TRUNCATED] and framing.gap_starts.tolist() == [len(good)]


def test_short_tail_below_a_header():
    good = packet(1424, b"a" * 20)
    framing = frame(buf(good + b"\x00\x01"), [1424], [1424])
    assert framing.count == 1 and framing.gap_kinds.tolist() == [GAP_GARBAGE]


def test_packet_before_garbage_is_kept_by_its_crc():
    good = packet(1424, b"a" * 20)
    framing = frame(buf(good + b"\xff" * 9 + good), [1424], [1424])
    assert framing.count == 2 and framing.gap_starts.tolist() == [len(good)]


def test_many_packets_grow_the_tables():
    data = packet(1376, b"\x00" * 6, crc=False) * 5000
    framing = frame(buf(data), [1376])
    assert framing.count == 5000 and framing.ends[-1] == len(data)


def test_empty_buffer():
    framing = frame(buf(b""), [1424])
    assert framing.count == 0 and framing.gap_starts.size == 0
