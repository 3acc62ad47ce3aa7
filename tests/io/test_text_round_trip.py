"""Text through every writer: long, non-ASCII strings (fit messages, schema and file names) come back whole, and
netCDF gives back the same text dtypes (docs/export.md promises an identical Dataset)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import xarray as xr

import idex
from idex.model.quality import STATUS_MESSAGES

LONG = "impact at the rim; " * 20 + "µs, ±3 σ, Ångström — " + "end"
"""A 400-character text with non-ASCII characters, longer than any width idex declares."""


@pytest.fixture(scope="module")
def fitted(events_2023_12):
    return events_2023_12.isel(event=slice(0, 3)).idex.fit()


def _with_long_texts(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out["target_low_fit_message"] = ("event", np.array([LONG, "", "short"]), {"long_name": "a long message"})
    out["source"] = ("event", np.array(["/data/" + "capture_" * 30 + "Ω.pkts"] * 3), ds["source"].attrs)
    out.attrs["source_file"] = LONG
    return out


def _texts(ds: xr.Dataset) -> list[str]:
    return [name for name, variable in ds.variables.items() if variable.dtype.kind == "U"]


def test_fit_messages_are_as_wide_as_the_longest_message(fitted):
    message = fitted["ion_grid_fit_message"]
    assert message.dtype == np.dtype(f"U{max(len(text) for text in message.values.tolist())}")
    assert set(message.values.tolist()) <= set(STATUS_MESSAGES)


@pytest.mark.parametrize("reader", [xr.open_dataset, idex.open])
def test_netcdf_gives_back_every_text_whole_with_its_dtype(tmp_path, fitted, reader):
    for ds in (fitted, _with_long_texts(fitted)):
        path = ds.idex.to_netcdf(tmp_path / "events.nc", overwrite=True)
        back = reader(path).load()
        assert _texts(ds)
        for name in _texts(ds):
            assert back[name].dtype == ds[name].dtype, name
            assert back[name].values.tolist() == ds[name].values.tolist(), name
        assert back.attrs.get("source_file") == ds.attrs.get("source_file")


def test_cdf_gives_back_long_text_whole_with_its_dtype(tmp_path, fitted):
    ds = _with_long_texts(fitted)
    back = idex.open(ds.idex.to_cdf(tmp_path / "events.cdf"))
    for name in ("target_low_fit_message", "ion_grid_fit_message", "source"):
        assert back[name].dtype == ds[name].dtype, name
        assert back[name].values.tolist() == ds[name].values.tolist(), name


def test_csv_holds_long_text_whole(tmp_path, fitted):
    ds = _with_long_texts(fitted)
    path = ds.idex.to_csv(tmp_path / "events.csv")
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["target_low_fit_message"] for row in rows] == [LONG, "", "short"]


def test_cdf_gives_back_the_models_own_global_attributes_and_invents_none(tmp_path, fitted):
    """Text, numbers and lists of numbers a user put on the model come back as they were; the schema's ISTP
    global attributes (Mission_group, Logical_source, ...) stay in the file and are not added to the model."""
    ds = _with_long_texts(fitted)
    ds.attrs.update(campaign_number=7, gain_ratio=9.75, window_us=[-7.0, -5.0])
    back = idex.open(ds.idex.to_cdf(tmp_path / "events.cdf"))
    assert set(back.attrs) == set(ds.attrs)
    for key, value in ds.attrs.items():
        assert np.all(np.asarray(back.attrs[key]) == np.asarray(value)), key


@pytest.mark.parametrize(
    "listed",
    [
        pytest.param("not json {", id="not-json"),
        pytest.param('["names"]', id="not-a-mapping"),
        pytest.param('{"names": ["note"], "unicode_escape": ["note"]}', id="bad-escape"),
    ],
)
def test_a_crafted_global_attribute_list_is_a_warning_not_a_traceback(listed):
    from idex.exceptions import IdexWarning
    from idex.io.cdf import _own_global_attributes

    stored = {"idex_global_attributes": listed, "idex_schema": "science_2023_12", "note": "ends in \\"}
    with pytest.warns(IdexWarning, match="crafted.cdf: global attribute idex_global_attributes"):
        assert _own_global_attributes(stored, "crafted.cdf") == {"idex_schema": "science_2023_12"}
