"""Velocity and mass from the target fits, SNR, and TOF -> mass calibration."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import idex.resources
from idex.exceptions import CalibrationWarning
from idex.science.mass import calibrate_spectrum, reference_lines
from idex.science.snr import snr_values
from idex.science.velocity import load_calibration


def test_official_yield_value():
    assert float(load_calibration().charge_yield(10.0)) == pytest.approx(755.0090524738858, rel=1e-12)


def test_official_mass_value():
    assert float(load_calibration().mass(10.0, 10.0)) == pytest.approx(1.3244874e-14, rel=1e-7)


def test_official_rise_time_round_trip():
    calibration = load_calibration()
    rise = calibration.rise_time(5.0)
    assert float(calibration.velocity_from_rise_time(rise)) == pytest.approx(5.0, rel=1e-12)


@pytest.mark.parametrize("rise", [0.0, -1.0, np.nan, 1e30])
def test_impossible_rise_times_give_nan(rise):
    assert np.isnan(load_calibration().velocity_from_rise_time(rise))


def test_ion_grid_velocity():
    calibration = load_calibration()
    got = calibration.ion_grid_velocity(np.array([1.0, 10.0, 0.001, 5.0]), np.array([10.0, 10.0, 10.0, 0.0]))
    assert got[0] == pytest.approx(55.0 * 10.0**-3.2 + 1.5)
    assert got[1] == pytest.approx(55.0 * 100.0**-3.2 + 1.5)
    assert np.isnan(got[2]) and np.isnan(got[3])  # ratio outside [0.01, 1], and a zero target charge


def test_estimates_from_real_fits(events_2023_12):
    merged = events_2023_12.idex.fit(merge=True)
    with pytest.warns(CalibrationWarning, match="test-parameters"):
        estimates = merged.idex.velocity()
    assert {"target_low_velocity", "target_low_mass", "ion_grid_velocity", "ion_grid_mass"} <= set(estimates)
    assert estimates["target_low_mass"].attrs["units"] == "kg"
    for name in estimates.data_vars:
        assert estimates[name].attrs["calibration"].startswith("test-parameters: imap-processing L2A unit-test")
    for channel in ("target_low", "target_high"):
        failed = ~merged[f"{channel}_fit_success"].values
        assert np.isnan(estimates[f"{channel}_velocity"].values[failed]).all()
        assert np.isnan(estimates[f"{channel}_mass"].values[failed]).all()
    no_ion_fit = ~merged["ion_grid_fit_success"].values
    no_target = ~(merged["target_low_fit_success"].values | merged["target_high_fit_success"].values)
    assert np.isnan(estimates["ion_grid_velocity"].values[no_ion_fit | no_target]).all()


def test_flight_curves_do_not_warn(tmp_path, events_2023_12):
    text = (idex.resources.data_dir("defs") / "velocity_calibration.yaml").read_text(encoding="utf-8")
    own = tmp_path / "flight.yaml"
    own.write_text(
        text.replace("status: test-parameters", "status: flight").replace(
            'source: "imap-processing', 'source: "my team, from'
        ),
        encoding="utf-8",
    )
    merged = events_2023_12.idex.fit(["target_low"], merge=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimates = merged.idex.velocity(calibration=own)
    assert estimates["target_low_velocity"].attrs["calibration"].startswith("flight: my team, from")
    assert estimates["target_low_velocity"].attrs["calibration"].endswith("(flight.yaml)")


def test_official_snr_value():
    signal = np.array([0, 0, 1, 2, 2, 10.0])
    time = np.array([-7.0, -6.5, -6.0, -5.5, -5.0, 1.0])
    assert float(snr_values(signal, time)) == 9.0


def test_snr_without_baseline_is_nan():
    assert np.isnan(snr_values(np.arange(5.0), np.arange(5.0)))


def test_snr_of_real_events(events_2023_12):
    values = events_2023_12.idex.snr()
    assert values.dims == ("event",) and np.isfinite(values).all() and (values > 0).all()
    lazy = events_2023_12.chunk(event=7).idex.snr()
    np.testing.assert_allclose(lazy.compute().values, values.values)


def synthetic_spectrum(stretch: float, shift: float, seed: int, dt: float = 1 / 260, n: int = 8189):
    rng = np.random.default_rng(seed)
    names, masses, _ = reference_lines()
    t = np.arange(n) * dt
    y = rng.normal(512, 1.5, n)
    for m in masses:
        center = shift + stretch * np.sqrt(m)
        y += rng.uniform(20, 200) * np.exp(-0.5 * ((t - center) / (2.5 * dt)) ** 2)
    return y


@pytest.mark.parametrize("seed", range(6))
def test_mass_calibration_recovers_known_stretch_and_shift(seed):
    rng = np.random.default_rng(100 + seed)
    stretch, shift = rng.uniform(1.3, 1.6), rng.uniform(5.0, 9.0)
    _, masses, weights = reference_lines()
    y = synthetic_spectrum(stretch, shift, seed)
    fit = calibrate_spectrum(
        y,
        1 / 260,
        stretch_range=(1.2, 1.7),
        shift_range=(shift - 1.5, shift + 1.5),
        masses=masses,
        weights=weights,
        baseline=slice(0, int((shift - 0.5) * 260)),
    )
    assert fit.stretch == pytest.approx(stretch, rel=1e-3)
    assert fit.shift == pytest.approx(shift, rel=1e-3)
    assert fit.matched == masses.size
    assert abs(fit.kappa) < 0.05


def test_mass_coordinate_on_real_captures(events_2023_12):
    calibrated = events_2023_12.idex.mass()
    assert calibrated["mass"].dims == ("event", "sample_high")
    good = calibrated["mass_lines_matched"].values >= 4
    assert good.sum() >= 8
    # most events with several matched lines agree on one instrument calibration within 1 %
    stretches = calibrated["mass_stretch"].values[good]
    agreeing = np.abs(stretches / np.median(stretches) - 1) < 0.01
    assert agreeing.sum() >= 7 and 1.40 < np.median(stretches) < 1.47
    row = np.flatnonzero(good)[0]
    masses = calibrated["mass"].values[row]
    assert masses[0] == 0 and np.all(np.diff(masses) >= 0)


def test_linear_trend_is_removed():
    from idex.fit.background import detrend

    t = np.linspace(-60, 186.03, 512)
    residual, _ = detrend(t, 10 * t)
    assert np.abs(residual).max() < 1e-9


def test_sine_pickup_and_trend_are_removed_in_real_units():
    """A 20 kHz (0.02 MHz) pickup plus a 5/µs trend under a pulse: both go, the pulse stays."""
    from idex.fit.background import remove_sine

    t = np.linspace(-60, 186.03, 512)
    pulse = np.where(t > 0, 3 * (1 - np.exp(-t / 2)) * np.exp(-t / 50), 0)
    y = 10 * np.sin(2 * np.pi * 0.02 * t + 45) + 5 * t + pulse
    quiet = t < -2
    cleaned, (amplitude, frequency, _, slope, _) = remove_sine(t, y, quiet)
    assert frequency == pytest.approx(0.02, rel=1e-6) and abs(amplitude) == pytest.approx(10, rel=1e-6)
    assert slope == pytest.approx(5, rel=1e-6)
    np.testing.assert_allclose(cleaned, pulse, atol=1e-4)


def test_lowpass_cutoff_is_a_frequency():
    from idex.fit.background import lowpass

    t = np.arange(512) / 4.0625  # the low-rate clock, µs
    slow = np.sin(2 * np.pi * 0.02 * t)
    noisy = slow + 0.5 * np.sin(2 * np.pi * 1.5 * t)
    np.testing.assert_allclose(lowpass(t, noisy, 0.2)[50:-50], slow[50:-50], atol=0.02)
    with pytest.raises(ValueError, match="Nyquist"):
        lowpass(t, noisy, 5.0)


def test_tof_peaks_are_found_and_fitted(events_2023_12):
    """Synthetic EMG peaks on a real event's baseline come back with their centres and areas."""
    from idex.fit.models import MODELS

    ds = events_2023_12.isel(event=[2]).copy(deep=True)
    t = ds.idex.time("tof_high").values
    truth = np.array([[2.0, 0.006, 150.0, 3e-4], [5.5, 0.008, 100.0, 5e-4], [9.0, 0.010, 80.0, 2e-4]])
    pulses = sum(MODELS["emg"].function(t, row[None])[0] for row in truth)
    factor = ds["tof_high"].attrs["calibration_factor"]
    baseline = np.median(ds["tof_high"].values)
    ds["tof_high"][:] = np.clip(np.rint(baseline + pulses / factor), 0, 1023).astype(np.uint16)[None]
    fitted = ds.idex.fit_peaks(min_snr=8)
    ok = fitted["tof_high_peak_success"].values[0]
    centers = fitted["tof_high_peak_center"].values[0][ok]
    areas = fitted["tof_high_peak_area"].values[0][ok]
    for center, _, _, area in truth:
        match = np.argmin(np.abs(centers - center))
        assert abs(centers[match] - center) < 0.01  # below 3 samples, against the EMG's skewed peak
        assert areas[match] == pytest.approx(area, rel=0.05)  # quantised to 10 bits


def test_tof_peaks_of_real_events_get_masses(events_2023_12):
    fitted = events_2023_12.idex.mass().idex.fit_peaks()
    masses = fitted["tof_high_peak_mass"].values[fitted["tof_high_peak_success"].values]
    assert masses.size >= 50
    near_integer = np.abs(masses - np.round(masses)) < 0.15
    assert near_integer.mean() > 0.6  # most fitted peaks sit on integer masses: the calibration holds
