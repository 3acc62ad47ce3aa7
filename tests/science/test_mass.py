"""TOF -> mass calibration on synthetic spectra at the real noise level, with missing and extra peaks."""

from __future__ import annotations

import numpy as np
import pytest

import idex
from idex.exceptions import SchemaError
from idex.fit.models import MODELS
from idex.resources import data_dir
from idex.schema import PeakSearch, schema_from_text
from idex.science.mass import MIN_LINES, calibrate_spectrum, reference_lines

DT = 1 / 260  # µs per sample of the high-rate clock
N_SAMPLES = 8189
TRIGGER = 6.2  # µs from the record start, as on the 2023-12-14 capture
NOISE_DN = 2.97  # robust pre-trigger noise of the real TOF-High records (1.4826 MAD, DN)
BASELINE_DN = 511.0


def synthetic_spectrum(
    rng: np.random.Generator, stretch: float, shift: float, lines: np.ndarray, distractors: np.ndarray
) -> np.ndarray:
    """10-bit TOF-High record: EMG peaks at ``shift + stretch sqrt(m)``, quantised Gaussian noise, ADC clipping."""
    t = np.arange(N_SAMPLES)[None, :] * DT
    centres = np.concatenate([shift + stretch * np.sqrt(lines), distractors])
    heights = rng.uniform(25, 400, centres.size)  # DN above the baseline: 8 to 130 times the noise
    sigma = rng.uniform(1.2, 3.0, centres.size) * DT
    decay = 1 / (rng.uniform(1.0, 4.0, centres.size) * DT)
    params = np.column_stack([centres, sigma, decay, np.ones(centres.size)])
    shapes = MODELS["emg"].function(np.repeat(t, centres.size, axis=0), params)
    peaks = (shapes / shapes.max(axis=1, keepdims=True) * heights[:, None]).sum(axis=0)
    signal = BASELINE_DN + peaks + rng.normal(0, NOISE_DN, N_SAMPLES)
    return np.clip(np.round(signal), 0, 1023)


def calibrate(signal: np.ndarray, prior: tuple[float, float] | None = None):
    config = idex.load_schema("science_2023_12").mass
    _, masses, weights = reference_lines(config.lines)
    return calibrate_spectrum(
        signal,
        DT,
        stretch_range=config.stretch_us_per_sqrt_u,
        shift_range=(TRIGGER + config.shift_from_trigger_us[0], TRIGGER + config.shift_from_trigger_us[1]),
        masses=masses,
        weights=weights,
        baseline=slice(0, int((TRIGGER - 0.5) / DT)),
        tolerance_us=config.match_tolerance_us,
        prior=prior,
    )


def test_stretch_is_unbiased_with_missing_lines_and_a_distractor():
    """Acceptance of the trust issue: 5-8 rock lines present, one distractor peak, real noise, stretch 1.30-1.60."""
    rng = np.random.default_rng(2026)
    _, masses, _ = reference_lines()
    errors = []
    for _ in range(200):
        stretch = rng.uniform(1.30, 1.60)
        shift = TRIGGER + rng.uniform(-1.5, 1.5)
        present = np.sort(rng.choice(masses, size=rng.integers(5, 9), replace=False))
        flight = shift + stretch * np.sqrt(present)
        # a distractor at least 0.15 µs from every line of the true calibration
        while True:
            distractor = rng.uniform(shift + stretch, shift + stretch * np.sqrt(60))
            if np.min(np.abs(distractor - (shift + stretch * np.sqrt(masses)))) > 0.15:
                break
        fit = calibrate(synthetic_spectrum(rng, stretch, shift, present, np.array([distractor])))
        assert fit.determined, (stretch, present)
        assert fit.matched <= present.size  # the distractor never counts as a line
        errors.append(abs(fit.stretch / stretch - 1))
        assert fit.stretch_stderr > 0 and fit.shift_stderr > 0
    errors = np.array(errors)
    assert np.median(errors) <= 0.0005
    assert np.percentile(errors, 95) <= 0.003
    del flight


def test_lines_that_share_a_neighbourhood_are_paired_one_to_one():
    """K-39/Ca-40 and Fe-56/Fe-57 lie within the pairing tolerance of each other at IDEX's stretch: with only
    K-39 and Fe-56 present, Ca-40 and Fe-57 must not take their peaks and pull the stretch."""
    rng = np.random.default_rng(7)
    present = np.array([1.00782503, 12.0, 22.98976928, 38.96370649, 55.93493633])
    fit = calibrate(synthetic_spectrum(rng, 1.45, TRIGGER, present, np.array([])))
    assert fit.matched == present.size
    assert fit.stretch == pytest.approx(1.45, rel=3e-4)


def test_fewer_than_three_lines_is_undetermined():
    rng = np.random.default_rng(3)
    fit = calibrate(synthetic_spectrum(rng, 1.45, TRIGGER, np.array([1.00782503, 55.93493633]), np.array([])))
    assert not fit.determined and fit.matched < MIN_LINES
    assert np.isnan(fit.stretch) and np.isnan(fit.shift) and np.isnan(fit.stretch_stderr)


def test_noise_only_is_undetermined():
    rng = np.random.default_rng(4)
    fit = calibrate(np.clip(np.round(BASELINE_DN + rng.normal(0, NOISE_DN, N_SAMPLES)), 0, 1023))
    assert not fit.determined


def test_undetermined_events_have_no_mass_axis_and_a_flag(events_2023_12):
    calibrated = events_2023_12.idex.mass()
    undetermined = ~np.isfinite(calibrated["mass_stretch"].values)
    assert undetermined.any() and not undetermined.all()
    assert np.all(np.isnan(calibrated["mass"].values[undetermined]))
    flags = calibrated["quality_flags"].values & idex.QualityFlag.MASS_UNDETERMINED
    np.testing.assert_array_equal(flags > 0, undetermined)
    assert "isotope_masses.csv" in calibrated["mass_stretch"].attrs["calibration"]
    again = calibrated.idex.mass()  # idempotent
    np.testing.assert_array_equal(again["quality_flags"].values, calibrated["quality_flags"].values)
    np.testing.assert_array_equal(again["mass_stretch"].values, calibrated["mass_stretch"].values)


def test_peak_search_thresholds_come_from_the_schema(events_2023_12):
    """The peak search's thresholds are the schema's (``mass.peak_*``): a prominence of 99 % of the maximum keeps one
    peak per spectrum, so no event of the real capture keeps a mass scale; a meta-schema bound names the key."""
    schema = idex.load_schema("science_2023_12")
    assert schema.mass.peaks == PeakSearch(4.5, 0.015, 0.05, 5)
    text = (data_dir("schemas") / "science_2023_12.yaml").read_text(encoding="utf-8")
    strict = schema_from_text(text.replace("peak_prominence_fraction: 0.015", "peak_prominence_fraction: 0.99"))
    assert strict.mass.peaks.prominence_fraction == 0.99
    assert np.isfinite(events_2023_12.idex.mass()["mass_stretch"].values).sum() >= 7
    assert not np.isfinite(events_2023_12.idex.mass(schema=strict)["mass_stretch"].values).any()
    with pytest.raises(SchemaError, match="peak_prominence_fraction"):
        schema_from_text(text.replace("peak_prominence_fraction: 0.015", "peak_prominence_fraction: 1.5"))
