"""Compressed captures decode exactly like the originals; bad compressed data is flagged, not fatal."""

from __future__ import annotations

import numpy as np
import packet_tools as pt
import pytest
import xarray as xr
from compressed_capture import PAYLOAD, compress_capture

import idex
from idex import QualityFlag
from idex.exceptions import PacketDecodeError, PacketWarning

CASES = [("2023_07", "science_2023_07"), ("2023_12", "science_2023_12")]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def compressed(request):
    version, schema = request.param
    original = idex.testing.sample_capture(version).read_bytes()
    data, ratio = compress_capture(original, schema)
    return schema, original, data, ratio


def test_compressed_capture_decodes_to_the_same_dataset(compressed):
    schema, original, data, ratio = compressed
    assert len(data) < len(original) and ratio > 1.5
    expected = idex.decode_bytes(original, schema=schema)["events"].to_dataset()
    got = idex.decode_bytes(data, schema=schema)["events"].to_dataset()
    assert (got["sci_compressed"] == 1).all()
    xr.testing.assert_identical(got.drop_vars("sci_compressed"), expected.drop_vars("sci_compressed"))


def test_compressed_fragments_are_consistent(compressed):
    schema, _, data, _ = compressed
    packets = pt.split(data)
    science = [packets[i] for i in pt.science(packets) if pt.sci_type(packets[i]) != 1]
    assert all(p[19] & 1 for p in science)
    assert any(pt.fragment_offset(p) > 0 for p in science)  # TOF streams still span several packets
    tree = idex.decode_bytes(data, schema=schema)
    assert set(tree["packets"]["crc"].values[tree["packets"]["apid"].values != 1376]) == {1}


def _corrupt(data: bytes, event: int, kind: int) -> bytes:
    packets = pt.split(data)
    index = pt.find(packets, event=event, kind=kind)
    damaged = bytearray(packets[index])
    damaged[PAYLOAD : PAYLOAD + 40] = b"\xff" * 40  # psel 3, k 15, huge residuals: samples out of range
    packets[index] = pt.with_crc(bytes(damaged))
    return b"".join(packets)


def test_bad_compressed_data_flags_only_that_event(compressed):
    schema, original, data, _ = compressed
    number = 5
    bad = _corrupt(data, number, 16)
    with pytest.warns(PacketWarning, match=f"event {number}: target_low cannot be decompressed .SAMPLE_OUT_OF_RANGE"):
        got = idex.decode_bytes(bad, schema=schema)["events"].to_dataset()
    assert QualityFlag(int(got["quality_flags"].sel(event=number))) == QualityFlag.BAD_COMPRESSION
    assert (got["target_low"].sel(event=number) == 65535).all()
    expected = idex.decode_bytes(original, schema=schema)["events"].to_dataset()
    np.testing.assert_array_equal(got["tof_high"].values, expected["tof_high"].values)
    others = got["event"].values != number
    np.testing.assert_array_equal(got["target_low"].values[others], expected["target_low"].values[others])
    with pytest.raises(PacketDecodeError, match="target_low cannot be decompressed"):
        idex.decode_bytes(bad, schema=schema, strict=True)


@pytest.mark.parametrize(
    ("offset", "message", "flag"),
    [
        (0, "compressed tof_high bytes 0..4031 are missing", QualityFlag.TRUNCATED),
        (1008, "tof_high cannot be decompressed (", QualityFlag.BAD_COMPRESSION),  # runs out of data
    ],
    ids=["first", "last"],
)
def test_missing_compressed_fragment(compressed, offset, message, flag):
    schema, _, data, _ = compressed
    packets = pt.split(data)
    index = pt.find(packets, event=3, kind=2, offset=offset)
    with pytest.warns(PacketWarning) as record:
        got = idex.decode_bytes(b"".join(packets[:index] + packets[index + 1 :]), schema=schema)["events"]
    assert any(f"event 3: {message}" in str(w.message) for w in record), [str(w.message) for w in record]
    assert QualityFlag(int(got["quality_flags"].sel(event=3))) == flag
    assert (got["tof_high"].sel(event=3) == 65535).all()
