"""Bad input never crashes a capture or loses data silently: flagged + warned, or raised with strict=True."""

from __future__ import annotations

import random

import numpy as np
import packet_tools as pt
import pytest
import xarray as xr

import idex
from idex import QualityFlag
from idex.exceptions import PacketDecodeError, PacketWarning

TOF_HIGH, TOF_LOW, TARGET_LOW, HEADER = 2, 4, 16, 1


def decode(data: bytes, **kwargs) -> xr.DataTree:
    return idex.decode_bytes(data, schema="science_2023_12", source="imap_idex_l0_raw_20231214_v001.pkts", **kwargs)


def decode_warned(data: bytes) -> tuple[xr.DataTree, list[str]]:
    """Decode, returning the tree and every warning message (all must be PacketWarnings)."""
    with pytest.warns(PacketWarning) as record:
        tree = decode(data)
    return tree, [str(w.message) for w in record]


def events(tree: xr.DataTree) -> xr.Dataset:
    return tree["events"].to_dataset()


def flags(ds: xr.Dataset, number: int) -> QualityFlag:
    return QualityFlag(int(ds["quality_flags"].sel(event=number)))


@pytest.fixture(scope="module")
def packets(bytes_2023_12) -> list[bytes]:
    return pt.split(bytes_2023_12)


def assert_other_events_intact(ds: xr.Dataset, reference: xr.Dataset, damaged: int) -> None:
    others = [n for n in reference["event"].values if n != damaged]
    xr.testing.assert_identical(
        ds.sel(event=others).drop_vars("quality_flags"), reference.sel(event=others).drop_vars("quality_flags")
    )
    assert (ds["quality_flags"].sel(event=others) == 0).all()


def test_empty_file():
    with pytest.warns(PacketWarning, match="empty"):
        tree = decode(b"")
    assert events(tree).sizes["event"] == 0
    with pytest.raises(PacketDecodeError, match="empty"):
        decode(b"", strict=True)


def test_open_raw_of_an_empty_file(tmp_path):
    path = tmp_path / "empty.pkts"
    path.write_bytes(b"")
    with pytest.warns(PacketWarning, match="empty.pkts: the capture is empty"):
        ds = idex.open_raw(path, group="events")
    assert ds.sizes["event"] == 0 and "tof_high" in ds


def test_truncated_last_packet(packets, events_2023_12):
    data = b"".join(packets)
    cut = data[:-500]
    last_start = len(data) - len(packets[-1])
    tree, messages = decode_warned(cut)
    ds = events(tree)
    assert any(f"byte offset {last_start}: last packet is truncated" in m for m in messages)
    assert any(f"event {pt.event_number(packets[-1])}: no ion_grid packet" in m for m in messages)
    last_event = pt.event_number(packets[-1])
    assert flags(ds, last_event) & QualityFlag.MISSING_CHANNEL  # its ion-grid packet was the one cut
    assert_other_events_intact(ds, events_2023_12, last_event)
    with pytest.raises(PacketDecodeError) as caught:
        decode(cut, strict=True)
    assert caught.value.offset == last_start


def test_garbage_between_packets(packets, events_2023_12):
    garbage = bytes(random.Random(1).randrange(256) for _ in range(333))
    where = 57
    data = b"".join(packets[:where]) + garbage + b"".join(packets[where:])
    offset = sum(len(p) for p in packets[:where])
    with pytest.warns(PacketWarning, match=f"byte offset {offset}: 333 bytes do not frame"):
        tree = decode(data)
    xr.testing.assert_identical(events(tree), events_2023_12)
    assert tree["packets"].sizes["packet"] == len(packets)
    assert int(tree["problems"]["offset"][0]) == offset


def test_corrupted_length_field(packets, events_2023_12):
    index = pt.find(packets, event=5, kind=TOF_LOW, offset=1008)
    damaged = bytearray(packets[index])
    damaged[4:6] = (int.from_bytes(damaged[4:6], "big") + 100).to_bytes(2, "big")
    data = b"".join(packets[:index]) + bytes(damaged) + b"".join(packets[index + 1 :])
    offset = sum(len(p) for p in packets[:index])
    tree, messages = decode_warned(data)
    ds = events(tree)
    assert any(f"byte offset {offset}:" in m and "do not frame" in m for m in messages)
    assert any("event 5" in m and "tof_low words 1008..2015 are missing" in m for m in messages)
    assert flags(ds, 5) == QualityFlag.TRUNCATED
    fill = ds["tof_low"].sel(event=5).values
    assert (fill[1008 * 3 : 2016 * 3] == 65535).all()
    np.testing.assert_array_equal(fill[: 1008 * 3], events_2023_12["tof_low"].sel(event=5).values[: 1008 * 3])
    assert_other_events_intact(ds, events_2023_12, 5)


def test_missing_fragment(packets, events_2023_12):
    index = pt.find(packets, event=3, kind=TOF_HIGH, offset=2016)
    with pytest.warns(PacketWarning, match="event 3: tof_high ends at word 2016 of 2731"):
        ds = events(decode(b"".join(packets[:index] + packets[index + 1 :])))
    assert flags(ds, 3) == QualityFlag.TRUNCATED
    assert (ds["tof_high"].sel(event=3).values[2016 * 3 :] == 65535).all()
    assert_other_events_intact(ds, events_2023_12, 3)


def test_missing_channel(packets, events_2023_12):
    index = pt.find(packets, event=7, kind=TARGET_LOW)
    with pytest.warns(PacketWarning, match="event 7: no target_low packet"):
        ds = events(decode(b"".join(packets[:index] + packets[index + 1 :])))
    assert flags(ds, 7) == QualityFlag.MISSING_CHANNEL
    assert (ds["target_low"].sel(event=7) == 65535).all()
    assert_other_events_intact(ds, events_2023_12, 7)


def test_identical_retransmission_is_kept_once(packets, events_2023_12):
    index = pt.find(packets, event=2, kind=TOF_HIGH, offset=1008)
    resent = bytearray(packets[index])
    resent[2:4] = (0xC000 | 1234).to_bytes(2, "big")  # new sequence count, like a real retransmission
    data = b"".join(packets) + pt.with_crc(bytes(resent))
    ds = events(decode(data))
    assert flags(ds, 2) == QualityFlag.DUPLICATE_PACKET
    xr.testing.assert_identical(ds.drop_vars("quality_flags"), events_2023_12.drop_vars("quality_flags"))


def test_conflicting_retransmission_last_copy_wins(packets, events_2023_12):
    index = pt.find(packets, event=9, kind=TARGET_LOW)
    resent = bytearray(packets[index])
    resent[44:48] = (0x00_123_456).to_bytes(4, "big")  # first word: samples 0x123, 0x456
    data = b"".join(packets) + pt.with_crc(bytes(resent))
    with pytest.warns(PacketWarning, match="event 9: target_low fragment arrived again with different content"):
        ds = events(decode(data))
    assert flags(ds, 9) == QualityFlag.CONFLICTING_FRAGMENT
    assert ds["target_low"].sel(event=9).values[:2].tolist() == [0x123, 0x456]
    np.testing.assert_array_equal(
        ds["target_low"].sel(event=9).values[2:], events_2023_12["target_low"].sel(event=9).values[2:]
    )


def test_reordered_packets_give_the_same_events(packets, events_2023_12):
    shuffled = packets[:]
    random.Random(7).shuffle(shuffled)
    xr.testing.assert_identical(events(decode(b"".join(shuffled))), events_2023_12)


def test_event_without_header(packets, events_2023_12):
    index = pt.find(packets, event=11, kind=HEADER)
    with pytest.warns(PacketWarning, match="event 11: no event-header packet"):
        ds = events(decode(b"".join(packets[:index] + packets[index + 1 :])))
    assert flags(ds, 11) == QualityFlag.MISSING_HEADER
    e11 = ds.sel(event=11)
    np.testing.assert_array_equal(e11["tof_high"].values, events_2023_12["tof_high"].sel(event=11).values)
    assert int(e11["trigger_id"]) == np.iinfo(np.uint16).max
    assert np.isnan(float(e11["trigger_time_high"])) and np.isnan(float(e11["detector_voltage"]))
    # epoch falls back to the sub-header event time: the same whole second as the header's trigger time
    assert e11["epoch"].values == events_2023_12["epoch"].sel(event=11).values.astype("datetime64[s]")
    assert_other_events_intact(ds, events_2023_12, 11)


def test_crc_mismatch_is_flagged_not_hidden(packets, events_2023_12):
    index = pt.find(packets, event=4, kind=TOF_HIGH)
    damaged = bytearray(packets[index])
    damaged[100] ^= 0x01
    data = b"".join(packets[:index]) + bytes(damaged) + b"".join(packets[index + 1 :])
    offset = sum(len(p) for p in packets[:index])
    with pytest.warns(PacketWarning, match=f"byte offset {offset}, event 4: packet failed its CRC-16 check"):
        tree = decode(data)
    ds = events(tree)
    assert flags(ds, 4) == QualityFlag.CRC_MISMATCH
    assert int(tree["packets"]["crc"][index]) == 0
    assert not np.array_equal(ds["tof_high"].sel(event=4).values, events_2023_12["tof_high"].sel(event=4).values)


def test_unknown_packet_type_is_skipped(packets, events_2023_12):
    index = pt.find(packets, event=6, kind=TARGET_LOW)
    odd = bytearray(packets[index])
    odd[16] = 128
    data = b"".join(packets[:index]) + pt.with_crc(bytes(odd)) + b"".join(packets[index + 1 :])
    with pytest.warns(PacketWarning) as record:
        ds = events(decode(data))
    assert any("science packet type 128 is not in schema" in str(w.message) for w in record)
    assert flags(ds, 6) == QualityFlag.MISSING_CHANNEL


def test_wrong_schema_is_reported(tmp_path, bytes_2023_12):
    text = idex.load_schema("science_2023_12").source.read_text(encoding="utf-8").replace("apid: 1424", "apid: 1425", 1)
    path = tmp_path / "science_2023_12.yaml"  # a user's edited copy keeps the name its file has
    path.write_text(text, encoding="utf-8")
    with pytest.warns(PacketWarning, match=r"no science packets \(APID 1425\); APIDs present: \[1376, 1377"):
        tree = idex.decode_bytes(bytes_2023_12, schema=path)
    assert tree["events"].sizes["event"] == 0
    assert tree["apid_1424"].sizes["packet"] == 182  # kept raw, not lost


def test_strict_mode_names_the_event(packets):
    index = pt.find(packets, event=3, kind=TOF_HIGH, offset=2016)
    with pytest.raises(PacketDecodeError, match="event 3: tof_high ends at word 2016"):
        decode(b"".join(packets[:index] + packets[index + 1 :]), strict=True)


def test_only_garbage():
    with pytest.warns(PacketWarning) as record:
        tree = decode(bytes(range(256)) * 4)
    assert any("1024 bytes do not frame" in str(w.message) for w in record)
    assert tree["events"].sizes["event"] == 0
