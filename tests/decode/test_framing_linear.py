"""Framing stays linear on hostile input and frames exactly as the plain statement of its rule."""

from __future__ import annotations

import time

import numpy as np
import pytest

from idex.decode.framing import CRC_OK, check_crc, frame
from tests.decode.test_framing import packet
from tests.framing_reference import reference_frame, resync_run

KNOWN, WITH_CRC = {1376, 1418, 1424}, {1418, 1424}


def _random_capture(rng: np.random.Generator) -> bytes:
    """Good, corrupted, truncated and CRC-less packets among garbage full of plausible headers."""
    parts = []
    for _ in range(rng.integers(1, 12)):
        kind = rng.integers(0, 6)
        apid = int(rng.choice([1376, 1418, 1424, 300]))
        body = rng.integers(0, 256, rng.integers(1, 40), dtype=np.uint8).tobytes()
        good = packet(apid, body, crc=apid != 1376)
        if kind == 0:
            parts.append(good)
        elif kind == 1:  # a flipped bit: the CRC fails
            flipped = bytearray(good)
            flipped[rng.integers(6, len(good))] ^= 1 << int(rng.integers(0, 8))
            parts.append(bytes(flipped))
        elif kind == 2:
            parts.append(good[: rng.integers(1, len(good))])
        elif kind == 3:  # plausible headers announcing random lengths
            parts.append(bytes([0x0D, 0x90, 0xC0, 0x00, 0x00, int(rng.integers(0, 60))]))
        else:
            parts.append(rng.integers(0, 256, rng.integers(1, 20), dtype=np.uint8).tobytes())
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(4))
def test_frames_exactly_as_the_plain_rule_on_random_captures(seed):
    rng = np.random.default_rng(seed)
    for _ in range(150):
        data = _random_capture(rng)
        got = frame(np.frombuffer(data, np.uint8), KNOWN, WITH_CRC)
        packets, gaps = reference_frame(data, KNOWN, WITH_CRC)
        assert list(zip(got.starts.tolist(), got.ends.tolist(), got.crc.tolist(), strict=True)) == packets
        assert list(zip(got.gap_starts.tolist(), got.gap_ends.tolist(), got.gap_kinds.tolist(), strict=True)) == gaps


def test_a_resync_run_of_64_kib_packets_frames_in_well_under_a_second():
    data, good = resync_run(256 * 1024)
    frame(np.frombuffer(data[:4096], np.uint8), KNOWN, WITH_CRC)  # compiled before timing
    start = time.perf_counter()
    framing = frame(np.frombuffer(data, np.uint8), KNOWN, WITH_CRC)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{len(data)} bytes took {elapsed:.1f} s"
    ok = framing.crc == CRC_OK
    # states are what the CRCs say; the valid packet is framed, or inside a packet that verifies (a false
    # header whose 64 KiB happen to pass the CRC: about one in 65 536 of them)
    buffer = np.frombuffer(data, np.uint8)
    assert check_crc(buffer, framing.starts[ok], framing.ends[ok]).all()
    assert not check_crc(buffer, framing.starts[~ok], framing.ends[~ok]).any()
    at = data.index(good)
    assert at in framing.starts.tolist() or ((framing.starts[ok] < at) & (framing.ends[ok] > at)).any()
    covered = (framing.ends - framing.starts).sum() + (framing.gap_ends - framing.gap_starts).sum()
    assert covered == len(data)


@pytest.mark.parametrize("packet_bytes", [606, 1200, 1206])
def test_frames_a_resync_run_exactly_as_the_plain_rule(packet_bytes):
    data = resync_run(14 * packet_bytes - 12, packet_bytes)[0]  # the valid packet late inside a false one
    got = frame(np.frombuffer(data, np.uint8), KNOWN, WITH_CRC)
    packets, gaps = reference_frame(data, KNOWN, WITH_CRC)
    assert list(zip(got.starts.tolist(), got.ends.tolist(), got.crc.tolist(), strict=True)) == packets
    assert list(zip(got.gap_starts.tolist(), got.gap_ends.tolist(), got.gap_kinds.tolist(), strict=True)) == gaps
