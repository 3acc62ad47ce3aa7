"""Exporters: ISTP CDF in strict mode, netCDF/HDF5 and CSV round trips, and failures that leave no file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from cdflib.xarray import cdf_to_xarray

import idex
from idex.exceptions import ExportError
from idex.model.dataset import stored_form

VERSIONS = ["2023_07", "2023_12"]


@pytest.fixture(scope="module", params=VERSIONS)
def model(request) -> xr.Dataset:
    """A real capture's event model with the fit outputs merged in."""
    return idex.open_raw(idex.testing.sample_capture(request.param), group="events").idex.fit(merge=True)


def _same_values(a: xr.DataArray, b: xr.DataArray) -> bool:
    left, right = a.values, b.values
    if left.dtype == bool:
        left = left.astype(np.uint8)
    if left.dtype.kind == "f":
        return bool(np.array_equal(left, right, equal_nan=True))
    return bool(np.array_equal(left, right.astype(left.dtype)))


def test_cdf_strict_istp_and_round_trip(model, tmp_path):
    """cdf_to_xarray gives back every variable and value; the file holds every attribute.

    (cdflib's reader rewrites ``long_name``/``units`` of time variables, so attributes are read
    from the file with ``cdflib.CDF.varattsget``.)"""
    import cdflib

    path = model.to_cdf(tmp_path / "events.cdf")
    back = cdf_to_xarray(str(path), to_datetime=True, fillval_to_nan=True)  # NaN is written as FILLVAL -1e31
    stored = cdflib.CDF(str(path))
    for name, variable in stored_form(model).variables.items():  # the lazy trigger clocks are not stored
        assert name in back.variables, name
        assert _same_values(variable, back[name]), name
        attrs = stored.varattsget(name)
        for key, value in variable.attrs.items():
            if key != "units":
                assert np.array_equal(np.atleast_1d(attrs[key]), np.atleast_1d(value)), (name, key)
        assert attrs["UNITS"] == (variable.attrs.get("units") or " ") or variable.dtype.kind == "M"
    assert back["tof_high"].attrs["DEPEND_1"] == "time_high"
    assert back["tof_high"].attrs["VAR_TYPE"] == "data" and back["epoch"].attrs["VAR_TYPE"] == "support_data"
    assert stored.globalattsget()["Logical_source"] == ["imap_idex_l1a_sci"]


def test_cdf_epoch_is_tt2000(model, tmp_path):
    import cdflib

    path = idex.io.to_cdf(model, tmp_path / "events.cdf")
    cdf = cdflib.CDF(str(path))
    assert cdf.varinq("epoch").Data_Type_Description == "CDF_TIME_TT2000"
    back = np.array(cdflib.cdfepoch.to_datetime(cdf.varget("epoch")), dtype="datetime64[ns]")
    np.testing.assert_array_equal(back, model["epoch"].values)


def test_cdf_default_name_in_a_folder_and_explicit_overwrite(model, tmp_path):
    path = model.idex.to_cdf(tmp_path)
    day = np.datetime_as_string(model["epoch"].values.min(), unit="D").replace("-", "")
    assert path.name == f"imap_idex_l1a_sci_{day}_v001.cdf"
    with pytest.raises(ExportError, match="exists; pass overwrite=True"):
        model.to_cdf(path)
    before = path.stat().st_mtime_ns
    model.to_cdf(path, overwrite=True)
    assert path.stat().st_mtime_ns >= before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_cdf_attributes_read_well(model, tmp_path):
    """FIELDNAM at most 30 characters and cut at a word boundary; no variable depends on itself."""
    import cdflib

    stored = cdflib.CDF(str(model.to_cdf(tmp_path / "events.cdf")))
    for name in stored.cdf_info().zVariables:
        attrs = stored.varattsget(name)
        catdesc, fieldnam = attrs["CATDESC"], attrs["FIELDNAM"]
        assert len(fieldnam) <= 30 and catdesc.startswith(fieldnam), name
        assert len(catdesc) == len(fieldnam) or catdesc[len(fieldnam)] == " " or " " not in catdesc[:31], name
        assert all(attrs.get(f"DEPEND_{i}") != name for i in range(3)), name


@pytest.mark.parametrize("target", ["out/", "out", "deeper/out/"])
def test_cdf_to_a_missing_folder_creates_it(model, tmp_path, target, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = model.to_cdf(target)
    assert path.parent == Path(target.rstrip("/")) and path.name.startswith("imap_idex_l1a_sci_")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no hidden temporary file
    assert idex.open(path).sizes["event"] == model.sizes["event"]


@pytest.mark.parametrize("writer", ["to_hdf5", "to_netcdf"])
def test_hdf5_and_netcdf_round_trip_identically(model, tmp_path, writer):
    path = getattr(model.idex, writer)(tmp_path / "events.h5")
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), stored_form(model))
        assert back["tof_high"].dtype == np.uint16 and back["target_low_fit_success"].dtype == bool
    import h5py

    with h5py.File(path) as handle:
        assert handle["tof_high"].compression == "gzip"


def test_csv_round_trip(model, tmp_path):
    path = model.idex.to_csv(tmp_path / "events.csv")
    table = pd.read_csv(path, index_col="event")
    units = json.loads(Path(str(path) + ".units.json").read_text())
    scalars = [n for n, v in {**model.coords, **model.data_vars}.items() if v.dims == ("event",) and n != "event"]
    assert set(scalars) <= set(table.columns)
    for name in scalars:
        if name == "epoch" or model[name].dtype.kind in "UO":
            continue
        expected = model[name].values.astype(float if model[name].dtype.kind == "f" else model[name].dtype)
        np.testing.assert_array_equal(table[name].to_numpy().astype(expected.dtype), expected, err_msg=name)
    np.testing.assert_array_equal(pd.to_datetime(table["epoch"]).to_numpy(), model["epoch"].values)
    assert units["detector_voltage"]["units"] == "V" if "detector_voltage" in model else True
    assert units["target_low_fit_amplitude"]["units"] == "pC"


@pytest.mark.parametrize("suffix", [".cdf", ".nc", ".csv"])
def test_unwritable_input_fails_before_any_file(tmp_path, suffix):
    ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    ds["bad"] = ("event", np.array([object()] * ds.sizes["event"]), {"long_name": "objects"})
    ds["tof_high"].attrs["broken"] = None
    with pytest.raises(ExportError, match="'bad'|'broken'"):
        idex.io.to_file(ds, tmp_path / f"out{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_missing_attribute_is_named(tmp_path):
    ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    del ds["trigger_id"].attrs["long_name"]
    with pytest.raises(ExportError, match="variable 'trigger_id' has no 'long_name'"):
        ds.to_cdf(tmp_path / "x.cdf")
    assert list(tmp_path.iterdir()) == []


def test_failure_inside_the_writer_leaves_no_partial_file(tmp_path, monkeypatch):
    ds = idex.open_raw(idex.testing.sample_capture(), group="events")

    def explode(*_, **__):
        raise RuntimeError("disk full")

    from idex.io import netcdf

    monkeypatch.setattr(netcdf._BlockWriter, "add", explode)  # the file is open, being filled
    with pytest.raises(RuntimeError, match="disk full"):
        ds.idex.to_netcdf(tmp_path / "x.nc")
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix(tmp_path):
    ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    with pytest.raises(ExportError, match="unknown output format '.xyz'"):
        idex.io.to_file(ds, tmp_path / "x.xyz")


def test_official_profile_matches_the_official_l1a_product(tmp_path):
    """Every variable the profile produces equals the official L1a product's: values, CDF type, attributes."""
    import cdflib
    from conftest import L1A_2023_12

    from idex.io.official import profile

    ds = idex.open_raw(idex.testing.sample_capture("2023_12"), group="events")
    ours = cdflib.CDF(str(ds.to_cdf(tmp_path / "official.cdf", profile="official")))
    theirs = cdflib.CDF(str(L1A_2023_12))
    produced = set(profile()["variables"])
    assert produced | set(profile()["not_produced"]) == set(theirs.cdf_info().zVariables)
    assert set(ours.cdf_info().zVariables) == produced
    for name in produced:
        assert ours.varinq(name).Data_Type_Description == theirs.varinq(name).Data_Type_Description, name
        mine, official = ours.varget(name), theirs.varget(name)
        if name == "epoch":  # MET -> TT2000: ours applies leap seconds exactly, theirs through a float stand-in
            assert np.abs(mine.astype(np.int64) - official.astype(np.int64)).max() < 1000
        elif mine.dtype.kind == "f":
            np.testing.assert_allclose(mine, official, rtol=0, atol=1e-9, err_msg=name)
        else:
            np.testing.assert_array_equal(mine, official, err_msg=name)
        assert ours.varattsget(name).keys() == theirs.varattsget(name).keys(), name
    assert ours.globalattsget()["Logical_source"] == theirs.globalattsget()["Logical_source"]


@pytest.mark.parametrize("level", [0, 1, 9])
def test_compression_level_changes_size_not_content(events_2023_12, tmp_path, level):
    """Every level reads back the same model (idex's readers); higher levels make smaller files."""
    from idex.io import to_file

    for suffix in (".nc", ".cdf"):
        path = to_file(events_2023_12, tmp_path / f"events{suffix}", compression=level)
        xr.testing.assert_identical(
            stored_form(idex.open(path)),
            stored_form(idex.open(to_file(events_2023_12, tmp_path / f"reference{suffix}", overwrite=True))),
        )
    uncompressed = to_file(events_2023_12, tmp_path / "plain.nc", compression=0).stat().st_size
    assert (tmp_path / "events.nc").stat().st_size < uncompressed or level == 0


def test_compression_is_refused_for_csv_and_out_of_range(events_2023_12, tmp_path):
    from click.testing import CliRunner

    from idex.apps.cli import main
    from idex.io import to_file

    with pytest.raises(ExportError, match="CSV is written uncompressed"):
        to_file(events_2023_12, tmp_path / "events.csv", compression=4)
    with pytest.raises(ExportError, match="between 0 and 9"):
        to_file(events_2023_12, tmp_path / "events.nc", compression=12)
    result = CliRunner().invoke(
        main, ["decode", str(idex.testing.sample_capture()), "-o", str(tmp_path / "x.nc"), "--compression", "12"]
    )
    assert result.exit_code != 0 and "--compression" in result.output
    result = CliRunner().invoke(
        main, ["decode", str(idex.testing.sample_capture()), "-o", str(tmp_path / "x.cdf"), "--compression", "9"]
    )
    assert result.exit_code == 0, result.output
