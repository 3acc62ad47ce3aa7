"""Clean captures are framed in plain Python (no kernel to compile): exactly as the plain statement of the rule
and as the compiled scan frame them, and anything else is left to the scan."""

from __future__ import annotations

import numpy as np
import pytest

from idex.decode import framing
from idex.decode.clean_framing import clean_chain
from idex.decode.framing import CRC_OK, NOT_CHECKED, frame
from idex.schema import load_schema
from idex.testing import sample_capture
from tests.decode.test_framing import packet
from tests.framing_reference import reference_frame

KNOWN, WITH_CRC = {1376, 1418, 1424}, {1418, 1424}


def _masks(apids: set[int] | frozenset[int] = KNOWN, crc_apids: set[int] | frozenset[int] = WITH_CRC):
    known, has_crc = np.zeros(2048, bool), np.zeros(2048, bool)
    known[list(apids)] = True
    has_crc[list(crc_apids)] = True
    return known, has_crc


def _mostly_clean(rng: np.random.Generator) -> bytes:
    """Good packets; CRC-less ones that sometimes hide a whole good packet in their body; now and then a flip."""
    parts = []
    for _ in range(rng.integers(1, 10)):
        apid = int(rng.choice([1376, 1418, 1424]))
        body = rng.integers(0, 256, rng.integers(1, 40), dtype=np.uint8).tobytes()
        if apid == 1376 and rng.random() < 0.3:
            body += packet(1418, body[:5], crc=True) + body
        part = bytearray(packet(apid, body, crc=apid != 1376))
        if rng.random() < 0.05:
            part[rng.integers(0, len(part))] ^= 1 << int(rng.integers(0, 8))
        parts.append(bytes(part))
    return b"".join(parts)


def _framed(got: framing.Framing) -> tuple[list, list]:
    return (
        list(zip(got.starts.tolist(), got.ends.tolist(), got.crc.tolist(), strict=True)),
        list(zip(got.gap_starts.tolist(), got.gap_ends.tolist(), got.gap_kinds.tolist(), strict=True)),
    )


@pytest.mark.parametrize("seed", range(3))
def test_frames_exactly_as_the_plain_rule(seed):
    rng = np.random.default_rng(seed)
    known, has_crc = _masks()
    fast = 0
    for _ in range(200):
        data = _mostly_clean(rng)
        buffer = np.frombuffer(data, np.uint8)
        expected = reference_frame(data, KNOWN, WITH_CRC)
        chain = clean_chain(buffer, known, has_crc)
        if chain is not None:
            fast += 1
            assert (
                list(zip(chain[0], chain[1], [CRC_OK if c else NOT_CHECKED for c in chain[2]], strict=True)),
                [],
            ) == expected
        assert _framed(frame(buffer, KNOWN, WITH_CRC)) == expected
    assert 20 < fast < 200  # both paths were taken


def test_a_good_packet_inside_one_without_crc_is_left_to_the_scan():
    hidden = packet(1418, b"abcde", crc=True)
    data = packet(1376, b"xy" + hidden + b"z", crc=False) + packet(1424, b"q", crc=True)
    assert clean_chain(np.frombuffer(data, np.uint8), *_masks()) is None


@pytest.mark.parametrize("version", ["2023_07", "2023_12"])
def test_real_captures_take_the_python_path_with_the_compiled_scans_result(version, monkeypatch):
    schema = load_schema(f"science_{version}")
    buffer = np.fromfile(sample_capture(version), np.uint8)
    chain = clean_chain(buffer, *_masks(schema.known_apids, schema.crc_apids))
    monkeypatch.setattr(framing, "CLEAN_CHAIN_LIMIT", -1)
    scanned = frame(buffer, schema.known_apids, schema.crc_apids)
    assert chain is not None and len(chain[0]) > 100
    assert list(zip(*chain, strict=True)) == [(s, e, c == CRC_OK) for s, e, c in _framed(scanned)[0]]
    assert scanned.gap_starts.size == 0


def test_the_python_path_is_taken_only_while_the_scan_is_not_compiled(monkeypatch):
    data = np.frombuffer(packet(1418, b"abc", crc=True), np.uint8)
    calls = []
    monkeypatch.setattr(framing, "clean_chain", lambda *args: calls.append(1) or clean_chain(*args))
    monkeypatch.setattr(framing, "_scan_compiled", lambda: False)
    assert frame(data, KNOWN, WITH_CRC).count == 1 and calls == [1]
    monkeypatch.setattr(framing, "_scan_compiled", lambda: True)
    assert frame(data, KNOWN, WITH_CRC).count == 1 and calls == [1]
