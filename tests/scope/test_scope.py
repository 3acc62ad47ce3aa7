"""LeCroy traces and the dust-accelerator pipeline: real files, synthetic shots through .trc files, database join."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from trc_writer import synthetic_header, write_trc

import idex
from idex.apps.cli import main
from idex.exceptions import PacketWarning, ProductError
from idex.fit.models import MODELS
from idex.io.trc import TrcError, read_trc
from idex.scope import fit_shots, join_accelerator, load_setup, open_trc

LECROY = Path(__file__).parents[1] / "data" / "lecroy"


def test_header_only_file_matches_its_source_facts():
    header = read_trc(LECROY / "header.trc", header_only=True)
    assert (header.comm_type, header.comm_order, header.wave_descriptor) == (1, 1, 346)
    assert (header.trigtime_array, header.wave_array_1, header.wave_array_count) == (3200, 800800, 400400)
    assert header.subarray_count == 200 and header.nominal_bits == 8
    assert header.vertical_gain == pytest.approx(0.00012499500007834285, rel=1e-7)
    assert header.vertical_offset == pytest.approx(-0.949999988079071, rel=1e-7)
    assert header.horiz_interval == pytest.approx(9.999999717180685e-10, rel=1e-7)
    assert header.horiz_offset == -2.2824463729809135e-07
    assert str(header.trigger_time).startswith("2022-10-13T16:29:38.475715")
    assert header.timebase_text == "200 ns / div" and header.coupling == "DC 50 Ohm"
    assert (header.wave_source, header.source_channel) == (1, "C2")
    assert (header.vertunit, header.horunit, header.instrument_name) == ("V", "S", "LECROYWR64Xi-A")


def test_header_only_file_is_a_clear_truncation_error():
    with pytest.raises(TrcError, match=r"header.trc: truncated: the descriptor announces 804357 bytes"):
        read_trc(LECROY / "header.trc")


def test_single_sweep_and_sequence():
    single = read_trc(LECROY / "pulse.trc")
    assert single.volts.shape == (1, 502)
    h = single.header
    np.testing.assert_allclose(single.times[0, :2], [h.horiz_offset, h.horiz_offset + h.horiz_interval])  # i from 0
    raw = np.frombuffer((LECROY / "pulse.trc").read_bytes(), h.sample_dtype, 502, h.data_offset)
    np.testing.assert_allclose(single.volts[0], h.vertical_gain * raw - h.vertical_offset)
    sequence = read_trc(LECROY / "pulse_sequence.trc")
    assert sequence.volts.shape == (20, 502) and sequence.trigger_times.shape == (20,)
    assert sequence.trigger_times[0] == 0 and (np.diff(sequence.trigger_times) > 0).all()
    np.testing.assert_allclose(sequence.times[:, 0], sequence.trigger_offsets)


@pytest.mark.parametrize("name", ["pulse.trc", "pulse_sequence.trc"])
def test_writer_reproduces_the_real_files(tmp_path, name):
    """The test writer is trusted because it rewrites real files byte for byte (but 2 reserved bytes)."""
    trace = read_trc(LECROY / name)
    h = trace.header
    raw = np.frombuffer((LECROY / name).read_bytes(), h.sample_dtype, h.n_samples, h.data_offset)
    sequence = trace.volts.shape[0] > 1
    out = write_trc(
        tmp_path / name,
        h,
        raw.reshape(trace.volts.shape),
        trigger_times=trace.trigger_times if sequence else None,
        trigger_offsets=trace.trigger_offsets if sequence else None,
    )
    original, written = (LECROY / name).read_bytes(), out.read_bytes()
    differing = [i for i in range(len(original)) if original[i] != written[i]]
    assert len(written) == len(original) and differing == [123, 124]  # RESERVED1, not part of the format


@pytest.mark.parametrize(("comm_type", "order"), [(0, 0), (1, 0), (0, 1)], ids=["int8-big", "int16-big", "int8"])
def test_other_sample_types_and_byte_orders(tmp_path, comm_type, order):
    base = synthetic_header(
        points=100,
        interval_s=1e-9,
        offset_s=-2e-8,
        gain=0.01,
        offset_v=0.5,
        channel=1,
        trigger=np.datetime64("2026-05-01T12:00:00.123456789"),
    )
    header = type(base)(**{**base.__dict__, "comm_type": comm_type, "comm_order": order})
    raw = (np.arange(100) % 100 - 50).astype(np.int16)
    trace = read_trc(write_trc(tmp_path / "x.trc", header, raw))
    h = trace.header  # gain and offset are stored as float32
    np.testing.assert_allclose(trace.volts[0], h.vertical_gain * raw - h.vertical_offset, rtol=1e-12)
    assert h.vertical_gain == pytest.approx(0.01, rel=1e-7)
    assert str(h.trigger_time).startswith("2026-05-01T12:00:00.123456")  # seconds are float64: µs kept


def test_foreign_and_empty_files(tmp_path):
    (tmp_path / "foreign.trc").write_bytes(b"hello" * 100)
    with pytest.raises(TrcError, match="foreign.trc: not a LeCroy trace"):
        read_trc(tmp_path / "foreign.trc")
    (tmp_path / "empty.trc").write_bytes(b"")
    with pytest.raises(TrcError, match="empty file"):
        read_trc(tmp_path / "empty.trc")


TRUTH = {
    "target_low": (0.0, 3.0, 50.0, 2.0, 150.0),  # t0 µs, baseline pC, amplitude pC, rise µs, discharge µs
    "ion_grid": (0.5, -1.0, 8.0, 4.0, 300.0),
    "qd": (-70.0, -2.0, 5.0),  # entry µs, charge pC, velocity km/s
}


def synthetic_campaign(folder: Path, shots: int = 3, skip: tuple[int, str] | None = None) -> None:
    """Shots with known signals written as real .trc files: C1 target, C2 ion grid, C3 QD, C4 TOF."""
    setup = load_setup()
    rng = np.random.default_rng(2)
    points, interval, offset = 12000, 50e-9, -150e-6
    t_us = (np.arange(points) * interval + offset) * 1e6
    qd_model = MODELS["qd"].with_constants(20.0, 0.9, 160.0)
    for shot in range(1, shots + 1):
        trigger = np.datetime64("2026-03-02T10:00:00", "ns") + np.timedelta64(shot * 30, "s")
        signals = {
            "target_low": MODELS["impact"].function(t_us[None], np.array([TRUTH["target_low"]]))[0]
            + 0.3 * np.sin(2 * np.pi * 0.01 * t_us)
            + 0.002 * t_us,  # pickup and drift: removed before fitting
            "ion_grid": MODELS["impact"].function(t_us[None], np.array([TRUTH["ion_grid"]]))[0],
            "qd": qd_model.function(t_us[None], np.array([TRUTH["qd"]]))[0],
            "tof": np.zeros(points),
        }
        for name, picocoulombs in signals.items():
            if skip == (shot, name):
                continue
            channel = setup.channels[name]
            volts = picocoulombs / channel.gain
            scale = max(np.abs(volts).max(), 1e-3)
            volts = volts + rng.normal(0, 1e-3 * scale, points)
            gain_v = scale / 30000  # 16-bit samples spanning the signal
            header = synthetic_header(
                points=points,
                interval_s=interval,
                offset_s=offset,
                gain=gain_v,
                offset_v=0.0,
                channel=int(channel.scope_channel[1]),
                trigger=trigger,
            )
            raw = np.clip(np.rint(volts / gain_v), -32768, 32767).astype(np.int16)
            write_trc(folder / f"{channel.scope_channel}Trace{shot:05d}.trc", header, raw)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("campaign")
    synthetic_campaign(folder)
    return folder


def test_open_trc_builds_the_event_model(campaign):
    ds = open_trc(campaign)
    assert ds.sizes["event"] == 3 and list(ds["shot"].values) == ["00001", "00002", "00003"]
    assert ds["target_low"].attrs["calibration_units"] == "pC" and ds["target_low"].attrs["scope_channel"] == "C1"
    np.testing.assert_allclose(ds["trigger_time_target_low"], 150.0)
    assert ds.idex.time("qd").dims == ("event", "sample_qd")
    assert int(ds["quality_flags"].max()) == 0


def test_synthetic_shots_fit_within_one_percent(campaign):
    ds = fit_shots(open_trc(campaign))
    for name in ("target_low", "ion_grid"):
        assert ds[f"{name}_fit_success"].all()
        t0, baseline, amplitude, rise, discharge = TRUTH[name]
        np.testing.assert_allclose(ds[f"{name}_fit_amplitude"], amplitude, rtol=0.01)
        np.testing.assert_allclose(ds[f"{name}_fit_rise_time"], rise, rtol=0.01)
        np.testing.assert_allclose(ds[f"{name}_fit_discharge_time"], discharge, rtol=0.01)
        np.testing.assert_allclose(ds[f"{name}_fit_time_of_impact"], t0, atol=0.01 * rise)
    assert ds["qd_fit_success"].all()
    np.testing.assert_allclose(ds["particle_velocity"], TRUTH["qd"][2], rtol=0.01)
    np.testing.assert_allclose(ds["particle_charge"], abs(TRUTH["qd"][1]), rtol=0.01)
    expected_mass = 2 * 2e-12 * 2.2e6 / (5e3) ** 2
    np.testing.assert_allclose(ds["particle_mass"], expected_mass, rtol=0.03)


def test_missing_channel_is_reported(tmp_path):
    synthetic_campaign(tmp_path, shots=2, skip=(2, "ion_grid"))
    with pytest.warns(PacketWarning, match="shot 00002: no ion_grid trace"):
        ds = open_trc(tmp_path)
    assert int(ds["quality_flags"][1]) == idex.QualityFlag.MISSING_CHANNEL
    assert np.isnan(ds["ion_grid"][1]).all()


def accelerator_rows():
    base = np.datetime64("2026-03-02T10:00:00", "s")
    rows = []
    for shot in range(1, 4):
        before = (base + np.timedelta64(shot * 30 - 2, "s")).astype(object)
        rows.append((before, 5.02, 1.76e-16, 2.0e-12, 0.3e-6))  # matches (5 km/s within 0.1)
        rows.append(((base + np.timedelta64(shot * 30 - 1, "s")).astype(object), 9.0, 1e-17, 1e-12, 1e-7))  # too fast
    return rows


def _check_join(ds: xr.Dataset) -> None:
    np.testing.assert_allclose(ds["accelerator_velocity"], 5.02)
    np.testing.assert_allclose(ds["accelerator_mass"], 1.76e-16)
    assert (ds["accelerator_time"].values < ds["epoch"].values).all()


def test_join_with_sqlite(campaign, tmp_path):
    database = tmp_path / "accelerator.db"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE dust_event (event_time TIMESTAMP, velocity_kms REAL, mass_kg REAL, "
            "charge_c REAL, radius_m REAL)"
        )
        connection.executemany(
            "INSERT INTO dust_event VALUES (?, ?, ?, ?, ?)",
            [(r[0].isoformat(sep=" "), *r[1:]) for r in accelerator_rows()],
        )
    ds = join_accelerator(fit_shots(open_trc(campaign)), f"sqlite:///{database}")
    _check_join(ds)


def test_missing_database_is_reported_not_fatal(campaign, tmp_path, monkeypatch):
    monkeypatch.delenv("IDEX_ACCELERATOR_DB", raising=False)
    shots = fit_shots(open_trc(campaign))
    with pytest.warns(PacketWarning, match="no accelerator database"):
        assert np.isnan(join_accelerator(shots)["accelerator_velocity"]).all()
    with pytest.raises(ProductError, match="no such file"):
        join_accelerator(shots, f"sqlite:///{tmp_path}/none.db")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(ProductError, match="has no table 'dust_event'"):
        join_accelerator(shots, f"sqlite:///{empty}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]  # nothing created


@pytest.mark.skipif(not os.environ.get("IDEX_TEST_POSTGRES_URL"), reason="no PostgreSQL server (.ci/run starts one)")
def test_join_with_postgresql(campaign):
    import sqlalchemy as sa

    url = os.environ["IDEX_TEST_POSTGRES_URL"]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS dust_event"))
        connection.execute(
            sa.text(
                "CREATE TABLE dust_event (event_time TIMESTAMP, velocity_kms DOUBLE PRECISION, "
                "mass_kg DOUBLE PRECISION, charge_c DOUBLE PRECISION, radius_m DOUBLE PRECISION)"
            )
        )
        connection.execute(
            sa.text("INSERT INTO dust_event VALUES (:t, :v, :m, :c, :r)"),
            [dict(zip("tvmcr", row, strict=True)) for row in accelerator_rows()],
        )
    engine.dispose()
    _check_join(join_accelerator(fit_shots(open_trc(campaign)), url))


def test_scope_command_end_to_end(tmp_path, campaign, monkeypatch):
    monkeypatch.delenv("IDEX_ACCELERATOR_DB", raising=False)
    root = tmp_path / "campaigns"
    (root / "run1").mkdir(parents=True)
    for path in campaign.glob("*.trc"):
        (root / "run1" / path.name).write_bytes(path.read_bytes())
    (root / "broken").mkdir()
    (root / "broken" / "C1Trace00001.trc").write_bytes(b"not a trace")
    result = CliRunner().invoke(main, ["scope", str(root), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "2 campaigns: 1 done, 0 skipped (unchanged), 1 failed" in result.output
    assert "not a LeCroy trace" in result.output
    out = tmp_path / "out" / "run1"
    with xr.open_dataset(out / "shots.nc") as ds:
        assert ds.sizes["event"] == 3 and "particle_velocity" in ds
    assert (out / "shots.csv").exists() and len(list(out.glob("shot_*.png"))) == 3
    again = CliRunner().invoke(main, ["scope", str(root), "-o", str(tmp_path / "out")])
    assert "1 skipped (unchanged)" in again.output


def test_qd_fit_is_bounded_to_what_the_accelerator_can_do(campaign):
    """A QD record without a grain (noise only) once gave 31 634 km/s as a success: the fit is bounded to the
    setup's velocity range, and whatever it ends at, no particle speed outside that range is reported."""
    ds = open_trc(campaign)
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 2.0, ds["qd"].shape) / ds["qd"].attrs["calibration_factor"]
    ds["qd"] = ds["qd"].copy(data=noise.astype(ds["qd"].dtype))
    fitted = fit_shots(ds)
    slowest, fastest = load_setup().qd["velocity_range_kms"]
    speed = fitted["particle_velocity"].values
    assert np.all(np.isnan(speed) | ((speed >= slowest) & (speed <= fastest)))
    assert np.all(np.isnan(speed[fitted["qd_fit_status"].values != 0]))
    assert np.all(np.isnan(fitted["particle_mass"].values[np.isnan(speed)]))
