"""Exposure, rates and the L2B/L2C products, against the mission pipeline's ``idex_l2b`` on the same inputs.

The inputs are ``tests/synthetic_l2.py``; the pipeline's outputs are ``tests/data/rates_official.json`` (made by
``tests/oracles/rates_official.py``). Where both are right they agree exactly; where they differ, the test says
which of the pipeline's defects (``idex.science.rates``) makes the difference.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import synthetic_l2
import xarray as xr

from idex.exceptions import IdexWarning
from idex.io.rate_products import rates, read_rates, write_rates
from idex.science.exposure import exposure, spec, utc_to_met, window_edges
from idex.science.rates import poisson_interval, tally
from idex.science.spin_table import read_spin_tables, spin_phase

DATA = Path(__file__).parents[1] / "data"
DAY_S = 86400.0


@pytest.fixture(scope="module")
def oracle() -> dict:
    return json.loads((DATA / "rates_official.json").read_text())["scenarios"]


def _events() -> xr.Dataset:
    values = synthetic_l2.events()
    epoch = values.pop("epoch")
    return xr.Dataset({k: ("event", v) for k, v in values.items()}, coords={"epoch": ("event", epoch)})


def _messages(scenario: str, *, with_previous: bool) -> xr.Dataset:
    times, states = synthetic_l2.messages(scenario, with_previous=with_previous)
    return xr.Dataset({"science_on": ("message", states)}, coords={"epoch": ("message", times)})


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdexWarning)
        return function(*args, **kwargs)


def _window() -> tuple[np.ndarray, np.ndarray]:
    return window_edges("official", np.array([synthetic_l2.WINDOW[0]], dtype="datetime64[ns]"))


def test_official_window_is_the_schedule_row(oracle: dict) -> None:
    starts, ends = _window()
    assert str(starts[0])[:10] == synthetic_l2.WINDOW[0] and str(ends[0])[:10] == synthetic_l2.WINDOW[1]
    assert int((ends - starts)[0].astype(np.int64)) == oracle["first_on"]["epoch_delta_plus"]


def test_counts_differ_from_pipeline_only_by_its_defects(oracle: dict) -> None:
    events = _events()
    starts, ends = _window()
    every = _quiet(tally, events, exposure(_messages("first_on", with_previous=False), starts, ends))
    dust = events["dust_hit_flag"].values == 1
    nan_phase = dust & np.isnan(events["spin_phase"].values)
    # the pipeline counts a NaN phase in the 225-315 quadrant (defect); idex keeps it out of every quadrant
    assert (every["counts"].values[0] + [0, 0, 0, nan_phase.sum()]).tolist() == oracle["first_on"]["counts"][0]
    assert every["counts_without_spin_phase"].item() == nan_phase.sum()
    # maps: both leave NaN directions out; identical
    map_cells = [
        [i, j, int(every["counts_map"].values[0, i, j])]
        for i, j in zip(*np.nonzero(every["counts_map"].values[0]), strict=True)
    ]
    assert map_cells == oracle["first_on"]["counts_map_nonzero"]
    # by charge: what the pipeline computes (then withholds) is idex's plus its NaN-phase events in the last quadrant
    charge_bins = np.clip(
        np.searchsorted(spec()["charge_edges_pC"], events["target_low_impact_charge"].values[nan_phase], "right") - 1,
        0,
        9,
    )
    extra = np.zeros((10, 4), dtype=int)
    np.add.at(extra, (charge_bins, 3), 1)
    assert (every["counts_by_charge"].values[0] + extra).tolist() == oracle["first_on"]["internal_counts_by_charge"]
    assert oracle["first_on"]["published_counts_by_charge_fill"] and oracle["first_on"]["published_rate_by_mass_nan"]
    # by mass: the pipeline multiplies kg by 1e-15 again, so every mass lands in the lowest bin (defect)
    pipeline_mass = np.array(oracle["first_on"]["internal_counts_by_mass"])
    assert pipeline_mass[1:].sum() == 0 and pipeline_mass[0].sum() == dust.sum()
    assert (every["counts_by_mass"].values[0] > 0).sum(axis=1).tolist().count(0) < 3  # idex spreads over the bins


def test_retransmitted_events_count_once() -> None:
    events = _events()
    starts, ends = _window()
    with pytest.warns(IdexWarning, match="4 duplicates removed"):
        out = rates(events, _messages("first_on", with_previous=False))
    every = _quiet(tally, events, exposure(_messages("first_on", with_previous=False), starts, ends))
    assert out["duplicates_removed"].item() == len(synthetic_l2.DUPLICATED)
    assert out["counts_total"].item() == every["counts_total"].item() - len(synthetic_l2.DUPLICATED)


def test_rate_is_counts_over_acquisition_seconds_as_in_the_pipeline(oracle: dict) -> None:
    out = _quiet(rates, _events(), _messages("first_on", with_previous=False))
    pipeline = oracle["first_on"]
    pipeline_on = np.array(pipeline["counts"][0]) / np.array(pipeline["rate"][0])
    expected_on = (3.0 - 0.5 + 9.5 - 3.2) * DAY_S
    np.testing.assert_allclose(pipeline_on, expected_on, rtol=1e-12)
    assert out["on_seconds"].item() == pytest.approx(expected_on, rel=1e-15)
    assert out["unknown_state_seconds"].item() == pytest.approx(0.5 * DAY_S)
    assert out["rate_calculation_quality_flags"].item() == pipeline["rate_calculation_quality_flags"][0] == 1
    np.testing.assert_allclose(out["rate"].values, out["counts"].values / expected_on, rtol=1e-15)
    # no spin table: each quadrant gets a quarter of the time, so the per-quadrant-time rate is 4x the official one
    np.testing.assert_allclose(out["rate_per_quadrant_time"].values, 4 * out["rate"].values, rtol=1e-14)


def test_state_before_the_first_message_is_taken_from_the_last_earlier_message(oracle: dict) -> None:
    pipeline = oracle["first_off"]
    pipeline_on = pipeline["counts"][0][0] / pipeline["rate"][0][0]
    known = _quiet(rates, _events(), _messages("first_off", with_previous=True))
    unknown = _quiet(rates, _events(), _messages("first_off", with_previous=False))
    # truth: off before the window (the earlier message), on from day 2 to day 9
    assert known["on_seconds"].item() == pytest.approx(7.0 * DAY_S)
    assert known["state_at_start_known"].item() == 1 and known["unknown_state_seconds"].item() == 0
    # the pipeline guesses "on" before its first (off) message: one day too many (defect)
    assert pipeline_on == pytest.approx(8.0 * DAY_S, rel=1e-12)
    # without the earlier message idex does not guess: that day is unknown, reported, and not counted as on
    assert unknown["on_seconds"].item() == pytest.approx(7.0 * DAY_S)
    assert unknown["state_at_start_known"].item() == 0
    assert unknown["unknown_state_seconds"].item() == pytest.approx(1.0 * DAY_S)
    dust_on_day_0 = known["events_outside_acquisition"].item() - unknown["events_outside_acquisition"].item()
    assert dust_on_day_0 > 0  # events of day 0: outside acquisition when known, not claimed when unknown


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    [
        pytest.param(0, 0.0, 1.841, id="n0"),
        pytest.param(1, 0.173, 3.300, id="n1"),
        pytest.param(5, 2.840, 8.382, id="n5"),
        pytest.param(10, 6.891, 14.27, id="n10"),
    ],
)
def test_poisson_intervals_match_gehrels_table(counts: int, low: float, high: float) -> None:
    lower, upper = poisson_interval(np.array([counts]))  # Gehrels (1986) tables 1 and 2, S = 1 (4 figures)
    assert lower[0] == pytest.approx(low, abs=5e-3) and upper[0] == pytest.approx(high, abs=5e-3)


def test_no_acquisition_gives_nan_rates_with_the_flag_and_empty_windows_zero_counts() -> None:
    off_only = xr.Dataset(
        {"science_on": ("message", [0])},
        coords={"epoch": ("message", np.array(["2025-06-08"], dtype="datetime64[ns]"))},
    )
    with pytest.warns(IdexWarning, match="no acquisition time"):
        out = rates(_events(), off_only, windows="1D")
    assert out.sizes["epoch"] == 10 and (out["counts_total"].values > 0).all()
    assert np.isnan(out["rate"].values).all() and (out["rate_calculation_quality_flags"].values == 0).all()
    edges = np.array(["2025-06-01", "2025-06-05", "2025-06-09", "2025-06-20"], dtype="datetime64[ns]")
    sparse = _quiet(rates, _events(), _messages("first_on", with_previous=False), windows=edges)
    assert sparse["counts_total"].values.tolist()[:2] == [0, 0] and sparse["counts"].values[:2].sum() == 0


def test_messages_without_acquisition_give_nan_rates_naming_the_file() -> None:
    none = xr.Dataset(
        {"message_text": ("message", ["SEQ success"])},
        coords={"epoch": ("message", np.array(["2025-06-10"], dtype="datetime64[ns]"))},
        attrs={"source": "msg.cdf"},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdexWarning)
        out = rates(_events(), none)
    assert any("msg.cdf: no science-acquisition message at all" in str(w.message) for w in caught)
    assert np.isnan(out["rate"].values).all() and out["rate_calculation_quality_flags"].item() == 0
    assert out["counts_total"].item() > 0 and "msg.cdf" in out.attrs["rates_missing_reason"]


def test_quadrant_exposure_follows_the_spin_table() -> None:
    tables = read_spin_tables(sorted((DATA / "spice").glob("*.spin.csv")))
    start, end = np.datetime64("2025-06-15T00:00:00", "ns"), np.datetime64("2025-06-15T00:10:00", "ns")
    messages = xr.Dataset({"science_on": ("message", [1, 0])}, coords={"epoch": ("message", np.array([start, end]))})
    offset = 179.9229
    got = exposure(
        messages,
        np.array([start - np.timedelta64(1, "h")]),
        np.array([end + np.timedelta64(1, "h")]),
        spin_table=tables,
        spin_offset_deg=offset,
    ).quadrant_seconds[0]
    # independent check: sample the phase every 0.5 ms and count the samples in each quadrant
    met = utc_to_met(np.array([start]))[0] + np.arange(0.00025, 600.0, 0.0005)
    flags = {"OUTSIDE_SPIN_TABLE": 4, "SPIN_INVALID": 8, "THRUSTER_FIRING": 16}
    phase, _ = spin_phase(tables, met, offset, flags)
    sampled = np.array([np.sum(np.isfinite(phase) & ((phase + 45.0) % 360.0 // 90.0 == q)) for q in range(4)]) * 0.0005
    np.testing.assert_allclose(got, sampled, atol=2e-3)
    assert 600.0 - got.sum() == pytest.approx(3 * 15.0, abs=0.05)  # three spins invalid or thrusting


def test_rates_netcdf_round_trip(tmp_path: Path) -> None:
    import idex

    out = _quiet(rates, _events(), _messages("first_on", with_previous=False))
    back = idex.open(write_rates(out, tmp_path / "rates.nc"))
    xr.testing.assert_identical(back.drop_attrs(), out.drop_attrs())
    assert back.attrs["idex_product"] == "rates"


@pytest.mark.parametrize("profile", ["l2b", "l2c"])
def test_l2_cdf_round_trip(tmp_path: Path, profile: str) -> None:
    out = _quiet(rates, _events(), _messages("first_on", with_previous=False))
    path = write_rates(out, tmp_path / f"imap_idex_{profile}.cdf", profile=profile)
    back = read_rates(path)
    assert back.attrs["Logical_source"] == spec()["profiles"][profile]["Logical_source"]
    for name in (
        ("counts", "rate", "counts_by_charge", "on_seconds")
        if profile == "l2b"
        else ("counts_map", "rate_map", "counts_by_mass_map")
    ):
        np.testing.assert_array_equal(back[name].values, out[name].values)
        assert back[name].dims == out[name].dims
    assert np.array_equal(back["epoch"].values, out["epoch"].values)


def test_acquisition_messages_in_both_renderings() -> None:
    from idex.decode.messages import message_text
    from idex.science.exposure import transitions

    dictionaries = json.loads(
        (Path(__file__).parents[2] / "defs" / "idex_evt_msg_parsing_dictionaries.json").read_text()
    )
    on = message_text(192, [0, 2, 0, 3], dictionaries)  # ACQSETUP ==> ACQ, as idex decodes a capture
    off = message_text(192, [0, 3, 0, 5], dictionaries)  # ACQ ==> CHILL
    official_on = "SCI state change: sciState16Dictionary(ACQSETUP) ==> sciState16Dictionary(ACQ)"
    epoch = np.array(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"], dtype="datetime64[ns]")
    messages = xr.Dataset(
        {"message_text": ("message", [on, "CMD success", off, official_on])}, coords={"epoch": ("message", epoch)}
    )
    times, states = transitions(messages)
    assert times.tolist() == epoch[[0, 2, 3]].tolist() and states.tolist() == [1, 0, 1]


def test_dead_time_of_recorded_events_is_taken_off_the_acquisition_time() -> None:
    start = np.datetime64("2025-06-10T00:00:00", "ns")
    messages = xr.Dataset(
        {"science_on": ("message", [1, 0])},
        coords={"epoch": ("message", np.array([start, start + np.timedelta64(100, "s")]))},
    )
    offsets = np.array([10.0, 50.0, 99.9999, 150.0])  # the third is cut at the interval end, the fourth is outside
    events = xr.Dataset(
        {"dust_hit_flag": ("event", [1, 0, 1, 1]), "dead_time": ("event", [20.0, 30.0, 500.0, 40.0], {"units": "us"})},
        coords={"epoch": ("event", start + (offsets * 1e9).astype("timedelta64[ns]"))},
    )
    out = _quiet(rates, events, messages, windows=np.array([start, start + np.timedelta64(1, "D")]))
    assert out["dead_seconds"].item() == pytest.approx(20e-6 + 30e-6 + 100e-6, abs=1e-9)
    assert out["live_seconds"].item() == pytest.approx(100.0 - 150e-6, abs=1e-9)
    assert out["rate_total_live"].item() == pytest.approx(3 / (100.0 - 150e-6))


def test_healpix_pixels_contain_their_events() -> None:
    from astropy_healpix import HEALPix

    out = _quiet(rates, _events(), _messages("first_on", with_previous=False))
    nside = out["counts_healpix"].attrs["healpix_nside"]
    assert out["counts_healpix"].sum() == out["counts_map"].sum()
    grid = HEALPix(nside=nside, order="nested")
    lon, lat = (a.to_value("rad") for a in grid.healpix_to_lonlat(np.flatnonzero(out["counts_healpix"].values[0])))
    centres = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    events = _events().isel(event=slice(0, synthetic_l2.N_EVENTS))
    dust = events.isel(event=(events["dust_hit_flag"].values == 1) & np.isfinite(events["longitude"].values))
    lo, la = np.radians(dust["longitude"].values), np.radians(dust["latitude"].values)
    vectors = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)
    nearest = np.degrees(np.arccos(np.clip(vectors @ centres.T, -1, 1))).min(axis=1)
    assert nearest.max() < 58.6 / nside  # within the largest pixel's radius of a counted pixel's centre


OFFICIAL = {  # written by the pipeline (tests/oracles/rates_official.py, scenario first_on)
    "l2b": DATA / "imap_idex_l2b_sci-10days_20250609_v001.0001.cdf",
    "l2c": DATA / "imap_idex_l2c_rectangular-map-10days_20250609_v001.0001.cdf",
}


@pytest.mark.parametrize("profile", ["l2b", "l2c"])
def test_idex_products_have_the_official_layout(tmp_path: Path, profile: str) -> None:
    import cdflib

    out = _quiet(rates, _events(), _messages("first_on", with_previous=False))
    official = cdflib.CDF(str(OFFICIAL[profile]))
    ours = cdflib.CDF(str(write_rates(out, tmp_path / f"{profile}.cdf", profile=profile)))
    keys = ("DEPEND_0", "DEPEND_1", "DEPEND_2", "DEPEND_3", "LABL_PTR_1", "LABL_PTR_2", "LABL_PTR_3", "VAR_TYPE")
    for name in official.cdf_info().zVariables:
        theirs, mine = official.varinq(name), ours.varinq(name)
        assert (mine.Data_Type_Description, mine.Rec_Vary, mine.Dim_Sizes) == (
            theirs.Data_Type_Description,
            theirs.Rec_Vary,
            theirs.Dim_Sizes,
        ), name
        their_attrs, my_attrs = official.varattsget(name), ours.varattsget(name)
        assert {k: my_attrs.get(k) for k in keys} == {k: their_attrs.get(k) for k in keys}, name
        if their_attrs.get("VAR_TYPE") != "metadata":
            assert my_attrs.get("UNITS") == their_attrs.get("UNITS"), name
    their_globals, my_globals = official.globalattsget(), ours.globalattsget()
    for key in ("Logical_source", "Data_level", "sky_tiling_type", "Spacing_degrees", "Spice_reference_frame"):
        assert my_globals.get(key) == their_globals.get(key), key


def test_official_l2b_reads_back_with_its_withheld_arrays_as_nan(oracle: dict) -> None:
    import idex

    l2b = idex.open(OFFICIAL["l2b"])
    assert l2b["counts"].values.tolist() == oracle["first_on"]["counts"]
    assert l2b["counts"].dims == ("epoch", "spin_phase") and l2b["charge_labels"].dims == ("impact_charge",)
    assert np.isnan(l2b["counts_by_charge"].values).all() and l2b["counts_by_charge"].attrs["fill_values"] == 40
    l2c = idex.open(OFFICIAL["l2c"])
    cells = [
        [i, j, int(l2c["counts_map"].values[0, i, j])]
        for i, j in zip(*np.nonzero(l2c["counts_map"].values[0]), strict=True)
    ]
    assert cells == oracle["first_on"]["counts_map_nonzero"]
