"""The schema stays the single truth: datasets carry theirs, versions are told apart by content."""

from __future__ import annotations

import numpy as np
import packet_tools as pt
import pytest
import xarray as xr
import yaml
from click.testing import CliRunner

import idex
from idex.apps.cli import main
from idex.exceptions import PacketWarning
from idex.model.calibration import schema_of
from idex.schema import SCHEMA_PATH_ENV

SHIPPED = idex.load_schema("science_2023_12").source


def edited(mutate) -> str:
    document = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    mutate(document)
    return yaml.safe_dump(document, sort_keys=False)


def next_version(document):
    """A made-up next packet version: one more 32-bit word at the end of the event header, from 2023-11-01."""
    document["name"] = "science_v3"
    document["valid_from"] = "2023-11-01T00:00:00"
    document["science"]["event_header"]["fields"].append(
        {"mnemonic": "IDX__TXHDRNEWWORD", "bits": 32, "name": "new_word", "long_name": "A new header word"}
    )


def with_longer_headers(capture: bytes) -> bytes:
    """The capture as the next version would send it: four more header bytes (0x0000002A) after the 300 bytes of
    header fields, before the 4-byte trailer."""
    end = idex.load_schema("science_2023_12").header_end
    out = []
    for packet in pt.split(capture):
        if pt.apid(packet) == pt.SCIENCE_APID and pt.sci_type(packet) == 1:
            longer = packet[:end] + (42).to_bytes(4, "big") + packet[end:]
            packet = pt.with_crc(longer[:4] + (len(longer) - 7).to_bytes(2, "big") + longer[6:])
        out.append(packet)
    return b"".join(out)


@pytest.fixture(scope="module")
def v3(tmp_path_factory, bytes_2023_12):
    folder = tmp_path_factory.mktemp("schemas")
    path = folder / "science_v3.yaml"
    path.write_text(edited(next_version), encoding="utf-8")
    capture = folder / "v3.pkts"
    capture.write_bytes(with_longer_headers(bytes_2023_12))
    return path, capture


def test_a_dataset_decoded_with_a_user_schema_fits_and_calibrates_with_it(v3, tmp_path):
    schema, capture = v3
    ds = idex.open_raw(capture, schema=schema, group="events")
    assert (ds["new_word"] == 42).all() and int(ds["quality_flags"].max()) == 0
    fits = ds.idex.fit(["target_low"])
    assert fits.sizes["event"] == 14
    assert np.isfinite(ds.idex.mass()["mass_stretch"].values).any()
    ds.to_netcdf(tmp_path / "v3.nc")
    with xr.open_dataset(tmp_path / "v3.nc") as back:
        assert schema_of(back).name == "science_v3"
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "v3.nc"), "-o", str(tmp_path / "f.nc")])
    assert result.exit_code == 0, result.output


def test_a_user_copy_with_the_shipped_name_keeps_its_own_fits(tmp_path, monkeypatch):
    def narrower(document):
        document["fits"]["target_low"]["parameters"]["rise_time"]["max"] = 50.0

    copy = tmp_path / "copy" / "science_2023_12.yaml"
    copy.parent.mkdir()
    copy.write_text(edited(narrower), encoding="utf-8")
    ds = idex.open_raw(idex.testing.sample_capture(), schema=copy, group="events")
    assert ds.attrs["idex_schema"] == "science_2023_12"
    assert schema_of(ds).fits["target_low"].parameters[3].max == 50.0
    shipped = idex.open_raw(idex.testing.sample_capture(), group="events")
    monkeypatch.setenv(SCHEMA_PATH_ENV, str(copy.parent))  # a same-named file on the search path now
    assert schema_of(shipped).fits["target_low"].parameters[3].max == 1000.0
    assert schema_of(shipped, "science_2023_12").fits["target_low"].parameters[3].max == 50.0  # explicit wins


def test_the_old_schema_on_new_data_says_so(v3):
    _, capture = v3
    with pytest.warns(PacketWarning, match="longer than the 304 bytes"):
        ds = idex.open_raw(capture, schema="science_2023_12", group="events")
    assert (ds["quality_flags"] & idex.QualityFlag.SCHEMA_MISMATCH > 0).all()


def test_content_evidence_comes_before_the_date(v3, monkeypatch):
    """The v3 capture is dated 2023-12-14, inside both science_2023_12's and science_v3's windows; only v3's
    header length fits its bits."""
    schema, capture = v3
    monkeypatch.setenv(SCHEMA_PATH_ENV, str(schema.parent))
    tree = idex.open_raw(capture)
    assert tree.attrs["idex_schema"] == "science_v3"
    assert "308 bytes allow science_v3;" in tree.attrs["idex_schema_choice"]
    plain = idex.open_raw(idex.testing.sample_capture())  # v3's open window covers it too, but its bits do not fit
    assert plain.attrs["idex_schema"] == "science_2023_12"
    assert "304 bytes allow science_2023_07, science_2023_12;" in plain.attrs["idex_schema_choice"]


def test_a_clock_outside_every_window_is_reported(bytes_2023_12):
    """A capture whose spacecraft clock reads 2010-01-01 (MET 0): decoded, but the warning says what was seen."""
    packets = pt.split(bytes_2023_12)
    zeroed = [pt.with_crc(p[:6] + bytes(6) + p[12:]) if pt.apid(p) == pt.SCIENCE_APID else p for p in packets]
    with pytest.warns(PacketWarning, match=r"dated 2010-01-01T00:00:00, outside the validity of every schema"):
        tree = idex.decode_bytes(b"".join(zeroed))
    assert "outside its validity" in tree.attrs["idex_schema_choice"]


def write(folder, name, text):
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_validator_catches_overlapping_housekeeping_bits_and_a_wrong_name(tmp_path):
    def overlapping(document):
        document["housekeeping"][1]["lsb"] = 8  # reads bits 8..19, overlapping housekeeping[0] (bits 0..11)

    result = idex.validate_schema(write(tmp_path, "science_2023_12", edited(overlapping)))
    assert any(i.code == "bit-range" and "also read by housekeeping[0]" in i.message for i in result.issues)
    result = idex.validate_schema(write(tmp_path, "other_name", edited(lambda d: None)))
    assert any(i.code == "name" and "differs from the file name" in i.message for i in result.issues)


def test_unquoted_yaml_dates_are_accepted(tmp_path):
    def dated(document):
        document["name"] = "dated"

    text = edited(dated).replace("valid_from: '2023-10-01T00:00:00'", "valid_from: 2025-03-01")
    assert "valid_from: 2025-03-01\n" in text
    schema = idex.load_schema(write(tmp_path, "dated", text))
    assert schema.valid_from == np.datetime64("2025-03-01")


def test_a_broken_file_on_the_search_path_only_affects_its_own_use(tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    monkeypatch.setenv(SCHEMA_PATH_ENV, str(tmp_path))
    with pytest.warns(idex.exceptions.SchemaWarning, match="'broken' is skipped"):
        ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    assert ds.sizes["event"] == 14
    with pytest.raises(idex.exceptions.SchemaError):
        idex.load_schema("broken")
    shown = CliRunner().invoke(main, ["schema", "show"])
    assert shown.exit_code == 0 and "science_2023_12: valid" in shown.output and "'broken' is skipped" in shown.output


def test_overlapping_windows_that_bits_cannot_tell_apart_are_warned_about(tmp_path, monkeypatch):
    monkeypatch.setenv(SCHEMA_PATH_ENV, str(tmp_path))
    result = CliRunner().invoke(main, ["schema", "new", "science_2025_lab", "--from", "science_2023_12"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "science_2025_lab.yaml").is_file()
    validated = CliRunner().invoke(main, ["schema", "validate", str(tmp_path / "science_2025_lab.yaml")])
    assert validated.exit_code == 0
    assert "science_2023_12 and science_2025_lab overlap" in validated.output


def test_show_prints_offsets_and_diff_shows_changes():
    shown = CliRunner().invoke(main, ["schema", "show", "science_2023_12"])
    line = next(line for line in shown.output.splitlines() if line.strip().startswith("trigger_id "))
    assert "byte   56 bit 6  10 bits  IDX__TXHDRTRIGID" in line
    diff = CliRunner().invoke(main, ["schema", "diff", "science_2023_07", "science_2023_12"])
    assert diff.exit_code == 0 and "~ validity:" in diff.output
    same = CliRunner().invoke(main, ["schema", "diff", "science_2023_12", "science_2023_12"])
    assert same.output.strip() == "no differences"
