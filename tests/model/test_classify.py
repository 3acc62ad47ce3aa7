"""Dust or noise: the mission's event flags, checked against the mission pipeline's own outputs (the oracle in
``tests/data/event_flags_official.json``, made by ``tests/oracles/event_flags_official.py`` with imap-processing
1.0.40) on both real captures and on synthetic events that reach every branch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import synthetic_events
from conftest import DATA

import idex
from idex.model.classify import DECIDED_BY, classify

ORACLE = json.loads((DATA / "event_flags_official.json").read_text(encoding="utf-8"))
FLAGS = list(ORACLE["synthetic"]["flags"])


@pytest.mark.parametrize("capture", list(ORACLE["captures"]))
def test_every_flag_of_every_real_event_equals_the_mission_pipeline(capture):
    ds = idex.open_raw(DATA / capture, group="events")
    expected = ORACLE["captures"][capture]
    np.testing.assert_array_equal(ds["event"].values, expected["event_number"])
    for flag in FLAGS:
        np.testing.assert_array_equal(ds[flag].values, expected[flag], err_msg=f"{capture} {flag}")


@pytest.fixture(scope="module")
def synthetic(events_2023_12):
    """The synthetic events in the event model: a real event's layout, the synthetic values written into it."""
    made = synthetic_events.events(ORACLE["synthetic"]["seed"], ORACLE["synthetic"]["n"])
    ds = events_2023_12.isel(event=np.zeros(len(made), int)).assign_coords(event=np.arange(len(made)))
    for name in (
        "trigger_id",
        "tof_high_trigger_mode",
        "tof_mid_trigger_mode",
        "tof_low_trigger_mode",
        "tof_high_trigger_level",
    ):
        ds[name] = ("event", np.array([e[name] for e in made]).astype(ds[name].dtype), ds[name].attrs)
    for name in ("tof_high", "tof_mid", "tof_low", "target_high", "target_low", "ion_grid"):
        values = np.stack([e[name] for e in made])
        ds[name] = (ds[name].dims, np.where(np.isfinite(values), values, 65535).astype(np.uint16), ds[name].attrs)
    trigger = ds["time_high"].values[0] - np.stack([e["time_high"] for e in made])[:, 0]  # the axis' own offset
    ds["trigger_time_high"] = ("event", trigger, ds["trigger_time_high"].attrs)
    return ds.assign(classify(ds, idex.load_schema("science_2023_12")))


def test_every_flag_of_every_synthetic_event_equals_the_mission_pipeline(synthetic):
    for flag in FLAGS:
        np.testing.assert_array_equal(synthetic[flag].values, ORACLE["synthetic"]["flags"][flag], err_msg=flag)


def test_the_synthetic_events_reach_every_branch(synthetic):
    """Noise, pulser and science events; dust by two peaks, by one wide high-gain peak and after a truncated
    baseline; saturated peaks measured on a lower gain."""
    for flag in (
        "noise_capture_flag",
        "pulser_flag",
        "science_event_flag",
        "tof_high_saturation_flag",
        "tof_mid_saturation_flag",
        "target_high_saturation_flag",
    ):
        assert synthetic[flag].values.sum() > 0, flag
    decided = synthetic["dust_decided_by"].values
    for rule in (
        "not_science",
        "not_dust",
        "two_peaks_in_one_gain",
        "single_wide_high_gain_peak",
        "two_peaks_after_truncated_baseline",
    ):
        assert (decided == DECIDED_BY.index(rule)).sum() > 0, rule
    exclusive = synthetic["science_event_flag"] + synthetic["noise_capture_flag"] + synthetic["pulser_flag"]
    assert (exclusive == 1).all()
    assert not (synthetic["dust_hit_flag"].values & (synthetic["science_event_flag"].values == 0)).any()


def test_the_why_is_recorded(events_2023_12):
    """Baseline and noise of each gain near the references; dust events have qualifying peaks."""
    ds = events_2023_12
    assert np.allclose(ds["tof_high_dust_baseline"], 511, atol=3)
    dust = ds["dust_hit_flag"].values == 1
    assert (
        ds["tof_high_dust_peaks"].values[dust]
        + ds["tof_mid_dust_peaks"].values[dust]
        + ds["tof_low_dust_peaks"].values[dust]
        >= 2
    ).all()
    assert ds["active_channels"].attrs["flag_meanings"].split()[0] == "tof_high"


def test_thresholds_live_in_the_schema(tmp_path, events_2023_12):
    """A copy of the schema with a stricter width rule calls fewer events dust: the rule is data, not code."""
    import yaml

    document = yaml.safe_load(idex.load_schema("science_2023_12").text)
    document["classification"]["dust"]["min_width_us"] = 0.2
    path = tmp_path / "science_2023_12.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    strict = idex.open_raw(idex.testing.sample_capture(), schema=path, group="events")
    assert strict["dust_hit_flag"].sum() < events_2023_12["dust_hit_flag"].sum()


def test_dust_selection_and_the_commands_that_use_it(tmp_path, events_2023_12):
    from click.testing import CliRunner

    from idex.apps.cli import main
    from idex.apps.quicklook import classification_counts, summary_figure

    dust = events_2023_12.idex.dust()
    assert dust.sizes["event"] == 10 and (dust["dust_hit_flag"] == 1).all()
    path = tmp_path / "events.nc"
    events_2023_12.to_netcdf(path)
    result = CliRunner().invoke(main, ["table", str(path), "-o", str(tmp_path / "t.csv"), "--dust-only"])
    assert result.exit_code == 0 and "10 events" in result.output
    result = CliRunner().invoke(main, ["snr", str(path), "-o", str(tmp_path / "snr"), "--no-fit"])
    assert result.exit_code == 0 and result.output.startswith("10 events")
    result = CliRunner().invoke(main, ["snr", str(path), "-o", str(tmp_path / "all"), "--no-fit", "--all-events"])
    assert result.output.startswith("14 events")
    assert classification_counts(events_2023_12) == {
        "dust": 10,
        "science, not dust": 4,
        "noise capture": 0,
        "pulser": 0,
        "saturated": 4,
    }
    assert "10 dust, 4 science, not dust" in summary_figure(events_2023_12, "x")._suptitle.get_text()
