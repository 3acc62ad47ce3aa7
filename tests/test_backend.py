"""The xarray backend entry point and the ds.idex accessor."""

from __future__ import annotations

import numpy as np
import xarray as xr
from conftest import CAPTURE_2023_07, CAPTURE_2023_12

import idex


def test_open_dataset_engine_idex(events_2023_12):
    ds = xr.open_dataset(CAPTURE_2023_12, engine="idex")
    xr.testing.assert_identical(ds, events_2023_12)


def test_engine_is_guessed_from_the_suffix(events_2023_12):
    xr.testing.assert_identical(xr.open_dataset(CAPTURE_2023_12), events_2023_12)


def test_open_dataset_other_group_and_drop_variables():
    packets = xr.open_dataset(CAPTURE_2023_12, engine="idex", group="packets")
    assert packets.sizes["packet"] == 413
    ds = xr.open_dataset(CAPTURE_2023_12, engine="idex", drop_variables=["tof_low", "tof_mid"])
    assert "tof_low" not in ds and "tof_high" in ds


def test_open_datatree():
    tree = xr.open_datatree(CAPTURE_2023_07, engine="idex")
    assert {"events", "packets", "apid_1418"} <= set(tree.children)


def test_open_mfdataset_is_lazy_and_complete(events_2023_07, events_2023_12):
    ds = xr.open_mfdataset(
        [CAPTURE_2023_12, CAPTURE_2023_12],
        engine="idex",
        combine="nested",
        concat_dim="event",
        data_vars="minimal",
        coords="minimal",
        compat="override",
    )
    assert ds.sizes["event"] == 28
    assert hasattr(ds["tof_high"].data, "dask")
    np.testing.assert_array_equal(ds["tof_high"].values[14:], events_2023_12["tof_high"].values)


def test_group_argument_of_open_raw():
    ds = idex.open_raw(CAPTURE_2023_12, group="events")
    assert isinstance(ds, xr.Dataset)
    try:
        idex.open_raw(CAPTURE_2023_12, group="nope")
    except KeyError as error:
        assert "events" in str(error)
    else:  # pragma: no cover
        raise AssertionError("expected KeyError")


def test_time_relative_to_trigger(events_2023_12):
    rel = events_2023_12.idex.time("target_low")
    assert rel.dims == ("event", "sample_low") and rel.attrs["units"] == "us"
    np.testing.assert_allclose(rel.values[:, 0], -events_2023_12["trigger_time_low"].values)


def test_flagged(events_2023_12):
    assert not events_2023_12.idex.flagged(idex.QualityFlag.TRUNCATED).any()


def test_trigger_clocks_are_lazy_and_exact(events_2023_12):
    """The 2-D trigger-relative clocks cost nothing until looked at, then equal time - trigger_time."""
    from xarray.core.indexing import LazilyIndexedArray

    ds = idex.open_raw(CAPTURE_2023_12, group="events")
    assert isinstance(ds["time_from_trigger_high"].variable._data, LazilyIndexedArray)
    one = ds["tof_high"].isel(event=5)
    assert one["time_from_trigger_high"].dims == ("sample_high",)
    expected = np.arange(8189) / 260.0 - events_2023_12["trigger_time_high"].values[5]
    np.testing.assert_allclose(one["time_from_trigger_high"].values, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ds["time_from_trigger_low"].values, ds.idex.time("target_low").values)
    line = one.plot(x="time_from_trigger_high")[0]
    np.testing.assert_allclose(line.get_xdata(), expected, rtol=0, atol=1e-12)


def test_concatenated_captures_name_their_source():
    ds = xr.open_mfdataset(
        [CAPTURE_2023_07, CAPTURE_2023_12],
        engine="idex",
        combine="nested",
        concat_dim="event",
        data_vars="minimal",
        coords="minimal",
        compat="override",
    )
    assert list(np.unique(ds["source"].values)) == [CAPTURE_2023_07.name, CAPTURE_2023_12.name]
    assert (ds["source"].values[:19] == CAPTURE_2023_07.name).all()
    assert hasattr(ds["time_from_trigger_high"].data, "dask")  # still lazy after concatenation
    np.testing.assert_allclose(ds["time_from_trigger_high"].values[19:, 0], -ds["trigger_time_high"].values[19:])
