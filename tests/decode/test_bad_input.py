"""Bad input never crashes a capture or loses data silently: flagged + warned, or raised with strict=True.

One table: each case damages the bundled 2023-12-14 capture (its packets, split by ``packet_tools``) and says what
the decoder must warn, how it must flag the damaged event, what ``strict=True`` raises, and what else must hold.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass

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


def without(packets: list[bytes], index: int) -> bytes:
    return b"".join(packets[:index] + packets[index + 1 :])


def replaced(packets: list[bytes], index: int, packet: bytes) -> bytes:
    return b"".join(packets[:index]) + packet + b"".join(packets[index + 1 :])


def offset_of(packets: list[bytes], index: int) -> int:
    return sum(len(p) for p in packets[:index])


@dataclass(frozen=True)
class Damage:
    """One bad input and what the decoder must make of it."""

    make: Callable[[list[bytes]], bytes]
    """The damaged capture, from the capture's packets."""
    warnings: Callable[[list[bytes]], list[str]]
    """Texts that must each appear in one of the PacketWarnings (none: decoding must not warn)."""
    event: int | Callable[[list[bytes]], int] | None = None
    """The damaged event (or how to find it), flagged with ``flag``; every other event must come out as in the
    undamaged capture."""
    flag: QualityFlag = QualityFlag(0)
    only_flag: bool = True
    """``flag`` is all the damaged event's flags (else: among them)."""
    strict: str | None = None
    """What ``strict=True`` raises (a regular expression), when the case checks it."""
    check: Callable[[list[bytes], xr.DataTree, xr.Dataset], None] | None = None
    """Further checks: packets, decoded tree, undamaged events."""


def _truncated_last_packet(packets: list[bytes]) -> bytes:
    return b"".join(packets)[:-500]


def _check_truncated(packets: list[bytes], tree: xr.DataTree, reference: xr.Dataset) -> None:
    with pytest.raises(PacketDecodeError) as caught:
        decode(_truncated_last_packet(packets), strict=True)
    assert caught.value.offset == offset_of(packets, len(packets) - 1)


GARBAGE = bytes(random.Random(1).randrange(256) for _ in range(333))


def _check_garbage(packets: list[bytes], tree: xr.DataTree, reference: xr.Dataset) -> None:
    xr.testing.assert_identical(events(tree), reference)
    assert tree["packets"].sizes["packet"] == len(packets)
    assert int(tree["problems"]["offset"][0]) == offset_of(packets, 57)


def _longer_length(packets: list[bytes]) -> bytes:
    index = pt.find(packets, event=5, kind=TOF_LOW, offset=1008)
    damaged = bytearray(packets[index])
    damaged[4:6] = (int.from_bytes(damaged[4:6], "big") + 100).to_bytes(2, "big")
    return replaced(packets, index, bytes(damaged))


def _check_longer_length(packets: list[bytes], tree: xr.DataTree, reference: xr.Dataset) -> None:
    fill = events(tree)["tof_low"].sel(event=5).values
    assert (fill[1008 * 3 : 2016 * 3] == 65535).all()
    np.testing.assert_array_equal(fill[: 1008 * 3], reference["tof_low"].sel(event=5).values[: 1008 * 3])


def _resent(packets: list[bytes]) -> bytes:
    index = pt.find(packets, event=2, kind=TOF_HIGH, offset=1008)
    resent = bytearray(packets[index])
    resent[2:4] = (0xC000 | 1234).to_bytes(2, "big")  # new sequence count, like a real retransmission
    return b"".join(packets) + pt.with_crc(bytes(resent))


def _resent_changed(packets: list[bytes]) -> bytes:
    index = pt.find(packets, event=9, kind=TARGET_LOW)
    resent = bytearray(packets[index])
    resent[44:48] = (0x00_123_456).to_bytes(4, "big")  # first word: samples 0x123, 0x456
    return b"".join(packets) + pt.with_crc(bytes(resent))


def _check_resent_changed(packets: list[bytes], tree: xr.DataTree, reference: xr.Dataset) -> None:
    samples = events(tree)["target_low"].sel(event=9).values
    assert samples[:2].tolist() == [0x123, 0x456]
    np.testing.assert_array_equal(samples[2:], reference["target_low"].sel(event=9).values[2:])


def _shuffled(packets: list[bytes]) -> bytes:
    shuffled = packets[:]
    random.Random(7).shuffle(shuffled)
    return b"".join(shuffled)


def _check_headless(packets: list[bytes], tree: xr.DataTree, reference: xr.Dataset) -> None:
    e11 = events(tree).sel(event=11)
    np.testing.assert_array_equal(e11["tof_high"].values, reference["tof_high"].sel(event=11).values)
    assert int(e11["trigger_id"]) == np.iinfo(np.uint16).max
    assert np.isnan(float(e11["trigger_time_high"])) and np.isnan(float(e11["detector_voltage"]))
    # epoch falls back to the sub-header event time: the same whole second as the header's trigger time
    assert e11["epoch"].values == reference["epoch"].sel(event=11).values.astype("datetime64[s]")


def _flipped_bit(packets: list[bytes]) -> bytes:
    index = pt.find(packets, event=4, kind=TOF_HIGH)
    damaged = bytearray(packets[index])
    damaged[100] ^= 0x01
    return replaced(packets, index, bytes(damaged))


def _check_flipped_bit(packets: list[bytes], tree: xr.DataTree, reference: xr.Dataset) -> None:
    assert int(tree["packets"]["crc"][pt.find(packets, event=4, kind=TOF_HIGH)]) == 0
    assert not np.array_equal(events(tree)["tof_high"].sel(event=4).values, reference["tof_high"].sel(event=4).values)


def _unknown_type(packets: list[bytes]) -> bytes:
    index = pt.find(packets, event=6, kind=TARGET_LOW)
    odd = bytearray(packets[index])
    odd[16] = 128
    return replaced(packets, index, pt.with_crc(bytes(odd)))


def _check_nothing_decoded(packets: list[bytes], tree: xr.DataTree, reference: xr.Dataset) -> None:
    assert events(tree).sizes["event"] == 0


CASES = [
    pytest.param(
        Damage(
            lambda p: b"",
            lambda p: ["the capture is empty"],
            strict="empty",
            check=_check_nothing_decoded,
        ),
        id="empty",
    ),
    pytest.param(
        Damage(
            lambda p: bytes(range(256)) * 4,
            lambda p: ["1024 bytes do not frame"],
            check=_check_nothing_decoded,
        ),
        id="only-garbage",
    ),
    pytest.param(
        Damage(
            _truncated_last_packet,
            lambda p: [
                f"byte offset {offset_of(p, len(p) - 1)}: last packet is truncated",
                f"event {pt.event_number(p[-1])}: no ion_grid packet",
            ],
            event=lambda p: pt.event_number(p[-1]),  # its ion-grid packet is the one cut
            flag=QualityFlag.MISSING_CHANNEL,
            only_flag=False,
            check=_check_truncated,
        ),
        id="truncated-last-packet",
    ),
    pytest.param(
        Damage(
            lambda p: b"".join(p[:57]) + GARBAGE + b"".join(p[57:]),
            lambda p: [f"byte offset {offset_of(p, 57)}: 333 bytes do not frame"],
            check=_check_garbage,
        ),
        id="garbage-between-packets",
    ),
    pytest.param(
        Damage(
            _longer_length,
            lambda p: [
                f"byte offset {offset_of(p, pt.find(p, event=5, kind=TOF_LOW, offset=1008))}:",
                "tof_low words 1008..2015 are missing",
            ],
            event=5,
            flag=QualityFlag.TRUNCATED,
            check=_check_longer_length,
        ),
        id="corrupted-length-field",
    ),
    pytest.param(
        Damage(
            lambda p: without(p, pt.find(p, event=3, kind=TOF_HIGH, offset=2016)),
            lambda p: ["event 3: tof_high ends at word 2016 of 2731"],
            event=3,
            flag=QualityFlag.TRUNCATED,
            strict="event 3: tof_high ends at word 2016",
            check=lambda p, tree, ref: np.testing.assert_array_equal(
                events(tree)["tof_high"].sel(event=3).values[2016 * 3 :], 65535
            ),
        ),
        id="missing-fragment",
    ),
    pytest.param(
        Damage(
            lambda p: without(p, pt.find(p, event=7, kind=TARGET_LOW)),
            lambda p: ["event 7: no target_low packet"],
            event=7,
            flag=QualityFlag.MISSING_CHANNEL,
            check=lambda p, tree, ref: np.testing.assert_array_equal(events(tree)["target_low"].sel(event=7), 65535),
        ),
        id="missing-channel",
    ),
    pytest.param(
        Damage(_resent, lambda p: [], event=2, flag=QualityFlag.DUPLICATE_PACKET),
        id="identical-retransmission-kept-once",
    ),
    pytest.param(
        Damage(
            _resent_changed,
            lambda p: ["event 9: target_low fragment arrived again with different content"],
            event=9,
            flag=QualityFlag.CONFLICTING_FRAGMENT,
            check=_check_resent_changed,
        ),
        id="conflicting-retransmission-last-copy-wins",
    ),
    pytest.param(
        Damage(_shuffled, lambda p: [], check=lambda p, tree, ref: xr.testing.assert_identical(events(tree), ref)),
        id="reordered-packets",
    ),
    pytest.param(
        Damage(
            lambda p: without(p, pt.find(p, event=11, kind=HEADER)),
            lambda p: ["event 11: no event-header packet"],
            event=11,
            flag=QualityFlag.MISSING_HEADER,
            check=_check_headless,
        ),
        id="event-without-header",
    ),
    pytest.param(
        Damage(
            _flipped_bit,
            lambda p: [
                f"byte offset {offset_of(p, pt.find(p, event=4, kind=TOF_HIGH))}, "
                "event 4: packet failed its CRC-16 check"
            ],
            event=4,
            flag=QualityFlag.CRC_MISMATCH,
            check=_check_flipped_bit,
        ),
        id="crc-mismatch-flagged-not-hidden",
    ),
    pytest.param(
        Damage(
            _unknown_type,
            lambda p: ["science packet type 128 is not in schema"],
            event=6,
            flag=QualityFlag.MISSING_CHANNEL,
        ),
        id="unknown-packet-type-skipped",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case: Damage, packets, events_2023_12):
    data = case.make(packets)
    expected = case.warnings(packets)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tree = decode(data)
    messages = [str(w.message) for w in record]
    assert all(issubclass(w.category, PacketWarning) for w in record), messages
    for text in expected:
        assert any(text in message for message in messages), (text, messages)
    if not expected:
        assert not messages
    ds = events(tree)
    if case.event is not None:
        number = case.event(packets) if callable(case.event) else case.event
        found = flags(ds, number)
        assert found == case.flag if case.only_flag else found & case.flag, found
        assert_other_events_intact(ds, events_2023_12, number)
    if case.check is not None:
        case.check(packets, tree, events_2023_12)
    if case.strict is not None:
        with pytest.raises(PacketDecodeError, match=case.strict):
            decode(data, strict=True)


def test_open_raw_of_an_empty_file(tmp_path):
    path = tmp_path / "empty.pkts"
    path.write_bytes(b"")
    with pytest.warns(PacketWarning, match="empty.pkts: the capture is empty"):
        ds = idex.open_raw(path, group="events")
    assert ds.sizes["event"] == 0 and "tof_high" in ds


def test_wrong_schema_is_reported(tmp_path, bytes_2023_12):
    text = idex.load_schema("science_2023_12").source.read_text(encoding="utf-8").replace("apid: 1424", "apid: 1425", 1)
    path = tmp_path / "science_2023_12.yaml"  # a user's edited copy keeps the name its file has
    path.write_text(text, encoding="utf-8")
    with pytest.warns(PacketWarning, match=r"no science packets \(APID 1425\); APIDs present: \[1376, 1377"):
        tree = idex.decode_bytes(bytes_2023_12, schema=path)
    assert tree["events"].sizes["event"] == 0
    assert tree["apid_1424"].sizes["packet"] == 182  # kept raw, not lost
