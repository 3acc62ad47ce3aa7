"""Acceptance numbers of both real captures (PACKETS.md §5 and §7) and agreement with the official L1a."""

from __future__ import annotations

import cdflib
import numpy as np
import pytest
from conftest import IMPACT_14, L1A_2023_12

import idex
from idex.decode.raw import raw_packets


def test_2023_07_packet_counts(tree_2023_07):
    packets = tree_2023_07["packets"].to_dataset()
    assert packets.sizes["packet"] == 2206
    apids, counts = np.unique(packets["apid"].values, return_counts=True)
    assert dict(zip(apids.tolist(), counts.tolist(), strict=True)) == {
        1376: 1829,
        1377: 73,
        1413: 17,
        1414: 35,
        1418: 5,
        1424: 247,
    }
    assert int(packets["length"].sum()) == 763736
    # every packet of a CRC-carrying APID passes its CRC
    assert set(np.unique(packets["crc"].values[packets["apid"].values != 1376])) == {1}
    assert "problems" not in tree_2023_07.children


def test_2023_07_events(events_2023_07):
    ds = events_2023_07
    assert ds.attrs["idex_schema"] == "science_2023_07"
    assert ds["event"].values.tolist() == list(range(19))
    for name in ("tof_high", "tof_low", "tof_mid"):
        assert ds[name].shape == (19, 8189) and ds[name].dtype == np.uint16
    for name in ("target_low", "target_high", "ion_grid"):
        assert ds[name].shape == (19, 512)
    assert int(ds["quality_flags"].max()) == 0


def test_2023_07_impact_14_tof_high_is_exact(events_2023_07):
    expected = np.loadtxt(IMPACT_14, dtype=np.int64)
    assert expected.size == 8189 and expected.sum() == 4187707
    np.testing.assert_array_equal(events_2023_07["tof_high"].sel(event=13).values, expected)
    # only event 13 matches
    matches = [(events_2023_07["tof_high"].values[i] == expected).all() for i in range(19)]
    assert matches == [i == 13 for i in range(19)]


def test_2023_07_header_values(events_2023_07):
    ds = events_2023_07
    e0, e13 = ds.sel(event=0), ds.sel(event=13)
    assert (int(e0.shcoarse), int(e0.shfine)) == (428000256, 9421)
    assert int(e0.hvps_hk_ch0) == 2011 and int(e0.tof_high_trigger_level) == 530
    assert (int(e13.shcoarse), int(e13.shfine)) == (428000437, 9505)
    assert ds["adc0i_delay"].values.tolist() == [
        15,
        31,
        39,
        1023,
        15,
        39,
        31,
        23,
        39,
        39,
        15,
        55,
        39,
        55,
        55,
        23,
        55,
        23,
        31,
    ]
    assert (ds["tof_high_trigger_level"] == 530).all()
    assert ds["hvps_hk_ch2"].values.tolist().count(135) == 18
    assert int(e0.tof_low_trigger_level) == 1023 and int(e0.low_sample_trigger_level) == 4095
    assert int(e0.trigger_id) == 1 and int(e0.tof_high_trigger_mode) == 1
    assert (int(e0.hs_pre_blocks), int(e0.hs_post_blocks), int(e0.ls_pre_blocks), int(e0.ls_post_blocks)) == (
        3,
        11,
        12,
        50,
    )


def test_2023_07_trigger_times(events_2023_07):
    e13 = events_2023_07.sel(event=13)
    assert float(e13.trigger_time_high) == pytest.approx(7.876923, abs=1e-6)
    assert float(e13.trigger_time_low) == pytest.approx(25.388462, abs=1e-6)
    rel = events_2023_07.idex.time("tof_high").sel(event=13)
    assert float(rel[0]) == pytest.approx(-7.876923, abs=1e-6)
    # arange clock: exactly one sample period between samples (no linspace N/(N-1) stretch)
    np.testing.assert_allclose(np.diff(events_2023_07["time_high"].values), 1 / 260, rtol=1e-12)
    np.testing.assert_allclose(np.diff(events_2023_07["time_low"].values), 1 / 4.0625, rtol=1e-12)


def test_2023_12_counts(tree_2023_12, events_2023_12):
    packets = tree_2023_12["packets"].to_dataset()
    assert packets.sizes["packet"] == 413
    apids, counts = np.unique(packets["apid"].values, return_counts=True)
    assert dict(zip(apids.tolist(), counts.tolist(), strict=True)) == {
        1376: 209,
        1377: 8,
        1413: 3,
        1414: 7,
        1418: 4,
        1424: 182,
    }
    assert events_2023_12.attrs["idex_schema"] == "science_2023_12"
    assert events_2023_12["event"].values.tolist() == list(range(1, 15))
    assert events_2023_12["tof_high"].sel(event=14).values[:6].tolist() == [508, 507, 512, 512, 511, 511]
    assert int(events_2023_12["quality_flags"].max()) == 0


def test_other_apids_kept_byte_for_byte(tree_2023_12, bytes_2023_12):
    packets = tree_2023_12["packets"].to_dataset()
    node = tree_2023_12["apid_1418"].to_dataset()
    assert node.sizes["packet"] == 4
    assert node["raw"].dims == ("byte",) and node["raw"].dtype == np.uint8  # ragged, no padding
    for index, raw in zip(node["packet_index"].values, raw_packets(node), strict=True):
        offset, length = int(packets["offset"][index]), int(packets["length"][index])
        assert raw == bytes_2023_12[offset : offset + length]


@pytest.fixture(scope="module")
def l1a():
    return cdflib.CDF(str(L1A_2023_12))


@pytest.mark.parametrize(
    ("ours", "official"),
    [
        ("tof_high", "TOF_High"),
        ("tof_low", "TOF_Low"),
        ("tof_mid", "TOF_Mid"),
        ("target_low", "Target_Low"),
        ("target_high", "Target_High"),
        ("ion_grid", "Ion_Grid"),
    ],
)
def test_2023_12_waveforms_equal_official_l1a(events_2023_12, l1a, ours, official):
    np.testing.assert_array_equal(events_2023_12[ours].values, l1a.varget(official))


def test_2023_12_header_fields_equal_official_l1a(events_2023_12, l1a):
    schema = idex.load_schema("science_2023_12")
    compared = 0
    for field in schema.header_fields:
        if field.name is None:
            continue
        official = field.mnemonic.lower()
        if official in l1a.cdf_info().zVariables:
            ours = events_2023_12[field.name].values
            if field.enumeration:  # the official product stores enumeration labels
                ours = np.array([field.enumeration[int(v)] for v in ours])
            np.testing.assert_array_equal(ours, l1a.varget(official), err_msg=field.name)
            compared += 1
    assert compared >= 60


def test_2023_12_time_axes_and_epoch_equal_official_l1a(events_2023_12, l1a):
    np.testing.assert_allclose(
        events_2023_12.idex.time("tof_high").values, l1a.varget("time_high_sample_rate"), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        events_2023_12.idex.time("ion_grid").values, l1a.varget("time_low_sample_rate"), rtol=0, atol=1e-9
    )
    official = np.array(cdflib.cdfepoch.to_datetime(l1a.varget("epoch")), dtype="datetime64[ns]")
    # cdflib's TT2000 -> UTC conversion rounds through floating point: agree to well under a microsecond
    assert np.abs((events_2023_12["epoch"].values - official).astype(np.int64)).max() < 1000


def test_event_messages_match_the_official_message_product(tree_2023_12):
    """APID 1418: same times as the official L1a message product, same text (theirs wraps dictionary
    values as 'nameDictionary(value)')."""
    import re

    from conftest import DATA

    official = cdflib.CDF(str(DATA / "imap_idex_l1a_msg-10days_20231214_v001.0001.cdf"))
    ours = tree_2023_12["event_messages"].to_dataset()
    np.testing.assert_array_equal(ours["message_seconds"].values, official.varget("elsec_evtpkt"))
    np.testing.assert_array_equal(ours["message_subseconds"].values, official.varget("elssec_evtpkt"))
    unwrapped = [re.sub(r"\w+Dictionary\(([^)]*)\)", r"\1", text) for text in official.varget("messages")]
    assert list(ours["message_text"].values) == unwrapped
    assert list(ours["message_name"].values) == ["EXEC_CMD"] * 4
