"""Housekeeping conversions: the schema equals the mission table, and values equal the official L1b."""

from __future__ import annotations

import csv

import cdflib
import numpy as np
import pytest
from conftest import L1B_2023_12

import idex
from idex.resources import data_dir

TABLE = data_dir("defs") / "idex_variable_unpacking_and_eu_conversion.csv"


def _table_rows():
    with TABLE.open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_schema_housekeeping_is_the_mission_table():
    schema = idex.load_schema("science_2023_12")
    rows = _table_rows()
    assert [h.name for h in schema.housekeeping] == [r["mnemonic"] for r in rows]
    fields = {f.name: f for f in schema.header_fields if f.name}
    for item, row in zip(schema.housekeeping, rows, strict=True):
        assert fields[item.word].mnemonic.lower() == row["var_name"]
        assert item.bits == int(row["unsigned_nbits"])
        # the table's starting bit 4 is the low 12-bit half of the word, 20 the high half (checked against L1b below)
        assert item.lsb == {"4": 0, "20": 16}[row["starting_bit"]]
        coefficients = [float(row[f"c{i}"]) for i in range(8)]
        padded = list(item.conversion.polynomial) + [0.0] * (8 - len(item.conversion.polynomial))
        assert padded == coefficients
        assert item.attrs["units"] == {"C": "degC"}.get(row["unit"], row["unit"])


def test_housekeeping_equals_polynomial_of_the_word(events_2023_12):
    for row in _table_rows():
        word = events_2023_12[row["var_name"].replace("idx__txhdr", "")].values.astype(np.int64)
        raw = (word >> {"4": 0, "20": 16}[row["starting_bit"]]) & 0xFFF
        expected = sum(float(row[f"c{i}"]) * raw.astype(np.float64) ** i for i in range(8))
        np.testing.assert_allclose(events_2023_12[row["mnemonic"]].values, expected, rtol=1e-12)


@pytest.fixture(scope="module")
def l1b():
    return cdflib.CDF(str(L1B_2023_12))


def test_housekeeping_equals_official_l1b(events_2023_12, l1b):
    for row in _table_rows():
        name = row["mnemonic"]
        np.testing.assert_allclose(events_2023_12[name].values, l1b.varget(name), rtol=1e-6, err_msg=name)
        assert events_2023_12[name].attrs["units"]


def test_trigger_levels_and_dead_time_agree_with_l1b(events_2023_12, l1b):
    # L1b (imap-processing 1.0.40) reports the high-gain threshold as DN x 7.5e-5 mA (its TOF-High factor)
    np.testing.assert_allclose(
        events_2023_12["tof_high_trigger_level"].values * 7.5e-5, l1b.varget("trigger_level_hg"), rtol=1e-9
    )
    np.testing.assert_allclose(events_2023_12["dead_time"].values * 1e-6, l1b.varget("dead_time"), atol=1e-12)


def test_2023_07_hvps_channels_stay_raw(events_2023_07):
    assert "detector_voltage" not in events_2023_07
    assert events_2023_07["hvps_hk_ch0"].dtype == np.uint16
