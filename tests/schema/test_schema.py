"""Schema language: loading, validation that reports every problem with its line, and new versions as data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CAPTURE_2023_12

import idex
from idex.exceptions import SchemaError
from idex.resources import data_dir
from idex.schema import SCHEMA_PATH_ENV

SHIPPED = data_dir("schemas") / "science_2023_12.yaml"


def test_shipped_schemas_load():
    assert {"science_2023_07", "science_2023_12"} <= set(idex.available_schemas())
    for name in ("science_2023_07", "science_2023_12"):
        schema = idex.load_schema(name)
        assert schema.payload_offset == 44
        assert schema.header_end == 300
        assert idex.validate_schema(name).ok


def test_missing_schema_names_the_choices():
    with pytest.raises(SchemaError, match="science_2023_12"):
        idex.load_schema("science_1999_01")


def _write(tmp_path: Path, text: str, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _edited(mutate) -> str:
    document = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    mutate(document)
    return yaml.safe_dump(document, sort_keys=False)


def test_structural_errors_are_all_reported_with_lines(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("sample_bits: 10, samples_per_word: 3", "sample_bits: ten, samples_per_word: 3", 1)
    text = text.replace("apid: 1424", "apid: 5000", 1)
    text = text.replace("fine_tick_s: 20.0e-6", "fine_tick_s: 20.0e-6\n  bogus_key: 1", 1)
    path = _write(tmp_path, text)
    with pytest.raises(SchemaError) as caught:
        idex.load_schema(path)
    issues = caught.value.result.issues
    paths = {issue.path for issue in issues}
    assert {"channels.tof_high.sample_bits", "science.apid", "time"} <= paths
    lines = text.splitlines()
    for issue in issues:
        assert issue.line is not None
    sample_issue = next(i for i in issues if i.path == "channels.tof_high.sample_bits")
    assert "ten" in lines[sample_issue.line - 1]
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("mutate", "code", "where"),
    [
        (
            lambda d: d["derived"].append({"name": "oops", "expr": "nonexistent + 1"}),
            "unknown-name",
            "derived[16].expr",
        ),
        (lambda d: d["derived"].append({"name": "oops", "expr": "__import__('os')"}), "expression", "derived[16].expr"),
        (lambda d: d["housekeeping"][0].update(word="no_such_word"), "unknown-name", "housekeeping[0].word"),
        (lambda d: d["housekeeping"][0].update(lsb=24), "bit-range", "housekeeping[0]"),
        (lambda d: d["channels"]["tof_low"].update(type_code=2), "duplicate-code", "channels.tof_low.type_code"),
        (lambda d: d["channels"]["tof_high"].update(samples_per_word=4), "bit-range", "channels.tof_high"),
        (
            lambda d: d["channels"]["tof_high"].update(trigger_time="nope"),
            "unknown-name",
            "channels.tof_high.trigger_time",
        ),
        (lambda d: d["science"]["roles"].update(event_number="nope"), "unknown-name", "science.roles.event_number"),
        (
            lambda d: d["science"]["event_header"]["fields"][1].update(bits=15),
            "bit-alignment",
            "science.event_header.fields",
        ),
        (lambda d: d["derived"].append({"name": "tof_high", "expr": "1"}), "duplicate-name", "channels.tof_high"),
        (lambda d: d["derived"].append({"name": "epoch", "expr": "1"}), "reserved-name", "derived[16].name"),
        (
            lambda d: d["channels"]["tof_high"].setdefault("attrs", {}).update(VALIDMIN=["a", 1]),
            "attr-type",
            "channels.tof_high.attrs.VALIDMIN",
        ),
        (lambda d: d.update(valid_from="yesterday"), "datetime", "valid_from"),
        (lambda d: d["channels"]["tof_mid"].update(n_samples=100), "dimension", "channels.tof_mid"),
    ],
    ids=[
        "unknown-name",
        "unsafe-expression",
        "hk-word",
        "hk-bits",
        "dup-code",
        "packing",
        "trigger-ref",
        "role",
        "alignment",
        "dup-name",
        "reserved",
        "attr-type",
        "datetime",
        "dimension",
    ],
)
def test_semantic_errors(tmp_path, mutate, code, where):
    result = idex.validate_schema(_write(tmp_path, _edited(mutate)))
    assert not result.ok
    assert any(issue.code == code and issue.path == where for issue in result.issues), str(result)
    assert all(issue.line for issue in result.issues)


def test_several_semantic_errors_reported_at_once(tmp_path):
    def mutate(document):
        document["housekeeping"][0]["word"] = "nope"
        document["channels"]["tof_low"]["type_code"] = 2
        document["derived"].append({"name": "x", "expr": "missing_name"})

    result = idex.validate_schema(_write(tmp_path, _edited(mutate)))
    assert {issue.code for issue in result.issues} >= {"unknown-name", "duplicate-code"}
    assert len(result.issues) >= 3


def test_duplicate_yaml_keys_are_reported(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8").replace("  apid: 1424\n", "  apid: 1424\n  apid: 1424\n", 1)
    result = idex.validate_schema(_write(tmp_path, text))
    assert any(issue.code == "duplicate-key" and issue.path == "science.apid" for issue in result.issues)


def test_invalid_yaml_syntax(tmp_path):
    result = idex.validate_schema(_write(tmp_path, "name: [unclosed\n"))
    assert result.issues[0].code == "yaml" and result.issues[0].line


def test_third_packet_version_needs_no_python_change(tmp_path, monkeypatch):
    """A new YAML file in $IDEX_SCHEMA_PATH is found, chosen by date and decoded with its own names."""

    def mutate(document):
        document["name"] = "science_2023_12_lab"
        document["valid_from"] = "2023-12-01T00:00:00"
        document["channels"]["tof_hg"] = document["channels"].pop("tof_high")
        document["mass"]["channel"] = "tof_hg"
        classification = document["classification"]  # the classification rules name the channel too
        for key in ("trigger_bits", "trigger_modes"):
            classification[key] = {("tof_hg" if k == "tof_high" else k): v for k, v in classification[key].items()}
        classification["pulser"]["channel"] = "tof_hg"
        classification["dust"]["channels"][0] = "tof_hg"
        document["composition"]["gains"]["channels"][0] = "tof_hg"  # so do the gains the composition joins
        document["derived"].append(
            {"name": "pre_trigger_samples_high", "expr": "(hs_pre_blocks + 1) * high_block_samples", "dtype": "uint16"}
        )
        document["housekeeping"][8]["name"] = "detector_hv"

    folder = tmp_path / "my_schemas"
    folder.mkdir()
    _write(folder, _edited(mutate), "science_2023_12_lab.yaml")
    monkeypatch.setenv(SCHEMA_PATH_ENV, str(folder))
    assert "science_2023_12_lab" in idex.available_schemas()
    ours = idex.open_raw(CAPTURE_2023_12, group="events")
    assert ours.attrs["idex_schema"] == "science_2023_12_lab"
    reference = idex.open_raw(CAPTURE_2023_12, schema="science_2023_12", group="events")
    np.testing.assert_array_equal(ours["tof_hg"].values, reference["tof_high"].values)
    np.testing.assert_array_equal(ours["detector_hv"].values, reference["detector_voltage"].values)
    assert ours["pre_trigger_samples_high"].dtype == np.uint16
    assert (ours["pre_trigger_samples_high"] == (reference["hs_pre_blocks"] + 1) * 512).all()


def test_schema_override_wins_over_date(events_2023_12):
    """The forced schema is used, and every event outside its dates says so (flag and warning)."""
    with pytest.warns(idex.exceptions.PacketWarning, match="outside the validity of the given schema science_2023_07"):
        forced = idex.open_raw(CAPTURE_2023_12, schema="science_2023_07", group="events")
    assert forced.attrs["idex_schema"] == "science_2023_07"
    np.testing.assert_array_equal(forced["tof_high"].values, events_2023_12["tof_high"].values)
    assert (forced["quality_flags"].values & idex.QualityFlag.SCHEMA_MISMATCH).all()


def test_optional_keys_take_the_meta_schema_defaults():
    """Leaving out the optional keys the shipped schema states with their default values builds the same specs;
    the values come from ``_meta.schema.json`` (read here with json), not from Python."""
    import json

    from idex.schema import schema_from_text

    meta = json.loads((data_dir("schemas") / "_meta.schema.json").read_text(encoding="utf-8"))
    channel_keys = meta["properties"]["channels"]["additionalProperties"]["properties"]
    mass_keys = meta["properties"]["mass"]["properties"]

    def strip(document):
        for entry in document["channels"].values():
            entry.pop("drop_trailing", None)
            entry.pop("fill_value", None)
        for key in ("baseline_before_trigger_us", "match_tolerance_us", "prior_sigmas"):
            assert document["mass"][key] == mass_keys[key]["default"]
            del document["mass"][key]

    shipped = idex.load_schema(SHIPPED)
    bare = schema_from_text(_edited(strip))
    assert bare.mass == shipped.mass
    for name, channel in bare.channels.items():
        assert channel.fill_value == channel_keys["fill_value"]["default"]
        assert channel.drop_trailing == channel_keys["drop_trailing"]["default"]
        assert channel.n_samples == shipped.channels[name].n_samples
