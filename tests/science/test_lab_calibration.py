"""Lab calibration from accelerator shots: synthetic campaigns from known curves are recovered within the
reported uncertainties, and velocities of held-out shots come back within their stated errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import synthetic_campaign as truth
import xarray as xr
from click.testing import CliRunner

import idex
from idex.apps.cli import main
from idex.science.lab_calibration import calibrate, write_calibration
from idex.science.velocity import estimate, load_calibration


@pytest.fixture(scope="module")
def result():
    return calibrate([truth.campaign(500, 1, "first"), truth.campaign(500, 2, "second")], bootstrap=60, seed=3)


def test_curves_are_recovered_within_their_bands(result):
    for fit, curve in ((result.rise_time, truth.RISE_TIME), (result.charge_yield, truth.CHARGE_YIELD)):
        speeds = fit.band_velocity
        pulls = (fit.curve.log10(speeds) - curve.log10(speeds)) / fit.band_sigma
        assert np.all(np.abs(pulls) < 4), pulls
        assert np.mean(np.abs(pulls)) < 1.5
        assert 2.0 <= fit.velocity_range[0] < 2.5 and 45 < fit.velocity_range[1] <= 50.0


def test_ion_grid_law_is_recovered_within_its_errors(result):
    grid = result.ion_grid
    for name, value in truth.ION_GRID.items():
        assert abs(grid.parameters[name] - value) < 4 * grid.stderr[name], (name, grid.parameters[name])


def test_excluded_shots_are_counted_by_reason(result):
    excluded = result.rise_time.excluded
    assert excluded["no QD velocity"] > 0 and excluded["target_low fit not successful"] > 0
    assert excluded["outlier"] > 0  # the pile-ups the generator put 4x off the curve
    assert result.rise_time.used + sum(excluded.values()) == result.shots
    assert result.rise_time.residual_rms < 2 * truth.RISE_SCATTER_DEX


def test_round_trip_on_held_out_shots(result, tmp_path):
    """calibrate -> file -> velocity(): held-out shots' speeds within the stated errors, none outside the range."""
    path = write_calibration(result, tmp_path / "lab.yaml")
    calibration = load_calibration(path)
    assert calibration.status == "lab" and "first" in calibration.source
    held_out = truth.campaign(400, 99, "held out", speeds=(1.6, 80.0))  # beyond the calibrated 2-50 km/s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", idex.exceptions.CalibrationWarning)
        out = estimate(held_out, calibration=calibration)
    v, error, status = (out[f"target_low_velocity{s}"].values for s in ("", "_stderr", "_status"))
    true = held_out["particle_velocity"].values
    low, high = calibration.valid_velocity
    assert np.all((v[np.isfinite(v)] >= low) & (v[np.isfinite(v)] <= high))  # never extrapolated
    on_curve = np.isfinite(true) & (held_out["target_low_fit_rise_time"].values < 3 * truth.RISE_TIME(true))
    far_outside = on_curve & ((true < low / 1.5) | (true > high * 1.5))
    assert far_outside.sum() >= 8 and (status[far_outside] == 2).all() and np.isnan(v[far_outside]).all()
    assert set(np.unique(status)) <= {0, 1, 2, 3}
    good = (status == 0) & on_curve
    pulls = (v[good] - true[good]) / error[good]
    assert good.sum() > 250
    assert np.mean(np.abs(pulls) < 2) > 0.9  # errors neither too small nor wildly large
    assert np.mean(np.abs(pulls) < 0.5) < 0.6
    mass = out["target_low_mass"].values[good]
    mass_pulls = (mass - held_out["particle_mass"].values[good]) / out["target_low_mass_stderr"].values[good]
    assert 0.85 < np.mean(np.abs(mass_pulls) < 2) and np.mean(np.abs(mass_pulls) < 0.5) < 0.6
    ion = out["ion_grid_velocity"].values
    inside = np.isfinite(ion) & np.isfinite(true)
    ion_pulls = (ion[inside] - true[inside]) / out["ion_grid_velocity_stderr"].values[inside]
    assert inside.sum() > 250 and 0.85 < np.mean(np.abs(ion_pulls) < 2) and np.mean(np.abs(ion_pulls) < 0.5) < 0.6


def test_the_shipped_test_curves_have_no_range_and_no_band():
    calibration = load_calibration()
    assert calibration.valid_velocity == (0.0, np.inf) and calibration.rise_time_band == idex.science.velocity.Band()


def test_command_writes_the_file_and_the_report(tmp_path):
    for name, seed in (("run_a", 5), ("run_b", 6)):
        (tmp_path / "products" / name).mkdir(parents=True)
        truth.campaign(300, seed, name).to_netcdf(tmp_path / "products" / name / "shots.nc")
    result = CliRunner().invoke(
        main,
        [
            "calibrate",
            str(tmp_path / "products"),
            "-o",
            str(tmp_path / "cal.yaml"),
            "--report",
            str(tmp_path / "report"),
            "--bootstrap",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "600 shots of 2 campaign(s)" in result.output
    text = (tmp_path / "report" / "calibration.md").read_text()
    assert "run_a" in text and "| log_a |" in text and "outlier" in text
    assert (tmp_path / "report" / "calibration.png").stat().st_size > 10_000
    assert load_calibration(tmp_path / "cal.yaml").status == "lab"
    empty = CliRunner().invoke(main, ["calibrate", str(tmp_path / "report"), "-o", str(tmp_path / "x.yaml")])
    assert empty.exit_code != 0 and "idex scope" in empty.output


def test_too_few_shots_is_a_clear_error():
    with pytest.raises(ValueError, match="usable shots"):
        calibrate(truth.campaign(10, 1), bootstrap=0)


def test_no_ion_grid_fits_leaves_the_law_uncalibrated():
    shots = truth.campaign(200, 4)
    shots["ion_grid_fit_success"] = xr.zeros_like(shots["ion_grid_fit_success"])
    assert calibrate(shots, bootstrap=5).ion_grid is None


def test_tof_calibration_of_a_known_composition_run(events_2023_12, tmp_path):
    """The real capture: 9 events calibrated, two of them off the common stretch (left out and counted)."""
    from idex.science.tof_calibration import calibrate_tof

    result = calibrate_tof(events_2023_12)
    assert (result.used, result.undetermined, result.outliers) == (7, 5, 2)
    stretch, spread = result.stretch
    assert abs(stretch - 1.4374) < 0.001 and spread < 0.002
    section = result.mass_section()
    low, high = section["stretch_us_per_sqrt_u"]
    assert low < stretch < high and 1.2 <= low and high <= 1.7  # inside the shipped search range, much narrower
    output = tmp_path / "tof.yaml"
    command = CliRunner().invoke(main, ["calibrate", "--tof", str(idex.testing.sample_capture()), "-o", str(output)])
    assert command.exit_code == 0, command.output
    assert "7 events (5 undetermined, 2 outliers left out)" in command.output
    assert idex.resources.read_yaml(output)["mass"] == section


def test_tof_statistics_recover_a_synthetic_distribution(events_2023_12):
    """Known stretch and shift spreads with 5 % far outliers: median and spread recovered."""
    from idex.science.tof_calibration import calibrate_tof

    rng = np.random.default_rng(11)
    n = 2000
    stretch = rng.normal(1.45, 0.003, n)
    shift = rng.normal(-1.40, 0.02, n)
    stretch[:100] += rng.choice([-0.2, 0.2], 100)
    trigger = rng.uniform(7.5, 7.8, n)
    base = events_2023_12.isel(event=np.zeros(n, int)).assign_coords(event=np.arange(n))
    ds = base.assign(
        mass_stretch=("event", stretch),
        mass_shift=("event", shift + trigger),
        trigger_time_high=("event", trigger, base["trigger_time_high"].attrs),
    )
    result = calibrate_tof(ds)
    assert result.outliers == 100 and result.used == n - 100
    assert abs(result.stretch[0] - 1.45) < 3 * 1.2533 * 0.003 / np.sqrt(n - 100)
    assert abs(result.stretch[1] / 0.003 - 1) < 0.1 and abs(result.shift_from_trigger[1] / 0.02 - 1) < 0.1
