"""Official products in the event model, many-file archives, SNR study and sky maps."""

from __future__ import annotations

import shutil

import cdflib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from conftest import CAPTURE_2023_07, CAPTURE_2023_12, L1A_2023_12, L1B_2023_12

import idex
from idex.apps.cli import main
from idex.exceptions import IdexWarning
from idex.science.sky_maps import sky_map, synthetic


def test_l1a_product_equals_open_raw(events_2023_12):
    official = idex.open_cdf(L1A_2023_12)
    assert official.attrs["idex_schema"] == "science_2023_12"
    compared = 0
    for name, variable in events_2023_12.data_vars.items():
        if "comment" in official[name].attrs:  # a field the official product dropped (the sub-header AID)
            continue
        np.testing.assert_array_equal(official[name].values, variable.values, err_msg=name)
        assert official[name].dtype == variable.dtype and official[name].attrs == variable.attrs, name
        compared += 1
    assert compared >= 130
    assert np.abs((official["epoch"].values - events_2023_12["epoch"].values).astype(np.int64)).max() < 1000
    product = cdflib.CDF(str(L1A_2023_12))  # the mission's own flags in the product equal idex's
    for flag in (
        "science_event_flag",
        "noise_capture_flag",
        "pulser_flag",
        "dust_hit_flag",
        "tof_high_saturation_flag",
        "ion_grid_saturation_flag",
    ):
        np.testing.assert_array_equal(product.varget(flag), events_2023_12[flag].values, err_msg=flag)


def test_l1b_product_matches_our_conversions(events_2023_12):
    official = idex.open_cdf(L1B_2023_12)
    for channel in ("tof_high", "tof_mid", "tof_low", "target_low", "target_high", "ion_grid"):
        np.testing.assert_array_equal(official[channel].values, events_2023_12[channel].values, err_msg=channel)
    schema = idex.load_schema("science_2023_12")
    for item in schema.housekeeping:
        np.testing.assert_allclose(official[item.name].values, events_2023_12[item.name].values, rtol=1e-6)
        assert official[item.name].attrs["units"] == events_2023_12[item.name].attrs["units"]
    np.testing.assert_allclose(official["trigger_time_high"], events_2023_12["trigger_time_high"], atol=1e-9)
    np.testing.assert_allclose(official["dead_time"], events_2023_12["dead_time"], atol=1e-9)
    assert np.isnan(official["longitude"]).all()  # made without SPICE: fill values come back as NaN


def test_backend_opens_official_cdfs(events_2023_12):
    ds = xr.open_dataset(L1A_2023_12, engine="idex")
    np.testing.assert_array_equal(ds["tof_high"].values, events_2023_12["tof_high"].values)
    assert xr.open_dataset(L1A_2023_12)["ion_grid"].dtype == np.uint16  # engine guessed from the name


def test_open_products_lazy_sorted_and_deduplicated(tmp_path):
    for folder in ("2023/12", "copies"):
        (tmp_path / folder).mkdir(parents=True)
        shutil.copy(L1A_2023_12, tmp_path / folder)
    with pytest.warns(IdexWarning, match="14 duplicate event"):
        ds = idex.open_products(str(tmp_path / "**" / "*.cdf"))
    assert ds.sizes["event"] == 14 and ds.attrs["duplicates_dropped"] == 14
    assert hasattr(ds["tof_high"].data, "dask")
    assert (np.diff(ds["epoch"].values) > np.timedelta64(0)).all()
    fits = ds.idex.fit(["ion_grid"])
    assert hasattr(fits["ion_grid_fit_amplitude"].data, "dask")
    with pytest.raises(FileNotFoundError):
        idex.open_products(str(tmp_path / "nothing" / "*.cdf"))


def test_snr_command(tmp_path):
    result = CliRunner().invoke(main, ["snr", str(L1A_2023_12), str(CAPTURE_2023_07), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "snr.csv")
    assert len(table) == 12  # the dust hits only: 10 of the 14 December events, 2 of the 19 July ones
    assert {"tof_high_snr", "target_low_impact_charge"} <= set(table.columns)
    assert (table["tof_high_snr"] > 0).all()
    for channel in ("target_low", "target_high", "ion_grid"):  # a charge only from a converged fit, its status named
        converged = table[f"{channel}_fit_status"] == "converged"
        assert table.loc[converged, f"{channel}_impact_charge"].notna().all()
        assert table.loc[~converged, f"{channel}_impact_charge"].isna().all()
    assert (table["ion_grid_fit_status"] != "converged").any()
    for name in ("snr_vs_time.png", "snr_vs_charge.png", "snr_histograms.png"):
        assert (tmp_path / name).stat().st_size > 15_000


@pytest.mark.parametrize("smooth", [0.0, 1.5])
def test_sky_map_conserves_counts_and_finds_the_flow(smooth):
    events = synthetic(20_000, upstream=(259.0, 8.0), width_deg=10.0, background=0.3, seed=3)
    skymap = sky_map(events["longitude"].values, events["latitude"].values, smooth_bins=smooth)
    assert skymap.values.sum() == pytest.approx(20_000, rel=1e-12)
    lon, lat = skymap.peak
    assert abs(lon - 259.0) <= 10 and abs(lat - 8.0) <= 10


def test_sky_map_bins_are_equal_area():
    skymap = sky_map(np.array([10.0]), np.array([0.0]), n_lon=8, n_lat=6)
    bands = np.diff(np.sin(np.radians(skymap.lat_edges)))
    np.testing.assert_allclose(bands, bands[0])


def test_exposure_normalisation():
    events = synthetic(1000, seed=4)
    exposure = np.full((36, 72), 2.0)
    exposure[:, :36] = 0.0
    rate = sky_map(events["longitude"].values, events["latitude"].values, exposure=exposure)
    counts = sky_map(events["longitude"].values, events["latitude"].values)
    np.testing.assert_allclose(rate.values[:, 36:], counts.values[:, 36:] / 2)
    assert (rate.values[:, :36] == 0).all()
    with pytest.raises(ValueError, match="exposure has shape"):
        sky_map(events["longitude"].values, events["latitude"].values, exposure=np.ones((3, 3)))


def test_maps_command(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["maps", "--synthetic", "4000", "-o", str(tmp_path / "map.png"), "--smooth", "1"])
    assert result.exit_code == 0, result.output
    assert "4000 events" in result.output and (tmp_path / "map.png").stat().st_size > 20_000
    result = runner.invoke(main, ["maps", str(L1B_2023_12), "-o", str(tmp_path / "none.png")])
    assert result.exit_code == 1 and "NaN" in result.output


def test_open_products_index_is_unique_across_captures():
    """Event numbers repeat across the two captures (1-14 and 0-18): the combined index is the impact time."""
    ds = idex.open_products([CAPTURE_2023_07, CAPTURE_2023_12])
    assert ds.sizes["event"] == 33 and ds.indexes["epoch"].is_unique and "event" not in ds.indexes
    assert "epoch" in ds.attrs["event_index"]
    day = ds.sel(epoch="2023-12-14")
    assert day.sizes["event"] == 14 and set(day["source"].values) == {CAPTURE_2023_12.name}
    np.testing.assert_array_equal(day["event"].values, np.arange(1, 15))
