"""The campaign stretch prior: one event's lines cannot move the instrument's mass scale without being flagged."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import idex
from idex.science.mass import reference_lines
from idex.science.mass_polynomial import polynomial_mass
from idex.science.tof_calibration import calibrate_tof, write_tof_calibration
from tests.science.test_mass import TRIGGER, calibrate, synthetic_spectrum

CAMPAIGN = (1.43736, 0.00067)  # the schema's prior: idex calibrate --tof on the 2023-12-14 capture


def test_real_capture_every_stretch_is_the_campaign_value_or_flagged(events_2023_12):
    """Acceptance: on 2023-12-14 no event reports its own confident stretch far from the campaign value (events 1
    and 6 gave 1.264 and 1.513 with no flag before the prior)."""
    calibrated = events_2023_12.idex.mass()
    stretch = calibrated["mass_stretch"].values
    conflict = calibrated.idex.flagged(idex.QualityFlag.MASS_PRIOR_CONFLICT).values
    determined = np.isfinite(stretch)
    assert determined.sum() >= 8
    far = determined & (np.abs(stretch / CAMPAIGN[0] - 1) > 0.003)
    assert not (far & ~conflict).any(), stretch
    assert not np.any(np.isclose(stretch, 1.264, atol=0.01) | np.isclose(stretch, 1.513, atol=0.01))
    # a conflict never keeps the event's own number: campaign stretch and spread, or undetermined
    for i in np.flatnonzero(conflict):
        assert np.isnan(stretch[i]) or (
            stretch[i] == CAMPAIGN[0] and calibrated["mass_stretch_stderr"].values[i] == CAMPAIGN[1]
        )
    # the prior does not create conflicts where lines agree, and says where it came from
    assert conflict.sum() <= 2
    assert "campaign stretch prior 1.43736" in calibrated["mass_stretch"].attrs["calibration"]
    own = events_2023_12.idex.mass(prior=False)
    assert not own.idex.flagged(idex.QualityFlag.MASS_PRIOR_CONFLICT).any()
    assert np.nanmax(np.abs(own["mass_stretch"].values / CAMPAIGN[0] - 1)) > 0.03  # today's confident outliers


def test_lines_of_another_stretch_are_flagged_and_take_the_campaign_stretch():
    """A spectrum built with a 5 % different stretch (as event 6 claimed): flagged, campaign stretch, its spread."""
    rng = np.random.default_rng(11)
    present = np.array([1.00782503, 12.0, 22.98976928, 38.96370649, 55.93493633, 23.9850417])
    fit = calibrate(synthetic_spectrum(rng, 1.51, TRIGGER - 1.4, present, np.array([])), CAMPAIGN)
    assert fit.conflict
    assert fit.stretch_lines == pytest.approx(1.51, rel=1e-3)
    if fit.determined:
        assert fit.stretch == CAMPAIGN[0] and fit.stretch_stderr == CAMPAIGN[1]


def test_agreeing_lines_give_the_posterior_between_lines_and_prior():
    """Truth within two spreads of the prior: a posterior tighter than the prior, rarely a (false) conflict, and
    every reported stretch close to the truth."""
    rng = np.random.default_rng(5)
    _, masses, _ = reference_lines()
    errors, pulls, conflicts = [], [], 0
    for _ in range(60):
        stretch = CAMPAIGN[0] + rng.uniform(-2, 2) * CAMPAIGN[1]  # inside the prior
        shift = TRIGGER + rng.uniform(-1.5, -1.3)
        present = np.sort(rng.choice(masses, size=rng.integers(4, 8), replace=False))
        fit = calibrate(synthetic_spectrum(rng, stretch, shift, present, np.array([])), CAMPAIGN)
        assert fit.determined
        errors.append(fit.stretch / stretch - 1)
        if fit.conflict:
            conflicts += 1
            continue
        assert fit.stretch_stderr < CAMPAIGN[1]
        pulls.append((fit.stretch - stretch) / fit.stretch_stderr)
    assert conflicts <= 6
    assert np.max(np.abs(errors)) < 0.002 and np.percentile(np.abs(errors), 95) < 0.001
    assert 0.3 < np.std(pulls) < 2.0


def test_prior_from_a_tof_calibration_file(events_2023_12, tmp_path):
    """The YAML ``idex calibrate --tof`` writes is a prior; a file without its statistics is a clear error."""
    path = write_tof_calibration(calibrate_tof(events_2023_12.idex.mass(prior=False)), tmp_path / "tof.yaml")
    calibrated = events_2023_12.idex.mass(prior=path)
    doc = yaml.safe_load(path.read_text())
    assert str(doc["statistics"]["stretch_us_per_sqrt_u"]["median"]) in calibrated["mass_stretch"].attrs["calibration"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("mass: {}\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        events_2023_12.idex.mass(prior=bad)


def test_lab_polynomial_is_inverted_on_its_rising_branch(events_2023_12):
    """t = a0 + a1 sqrt(m) + a2 m round-trips; the linear case equals the stretch/shift axis; a time before a0 or
    past the turning point of the polynomial has no mass."""
    masses = np.array([1.0, 12.0, 23.985, 55.935, 196.97])
    terms = [-1.43, 1.44, -0.004]
    times = terms[0] + terms[1] * np.sqrt(masses) + terms[2] * masses
    np.testing.assert_allclose(polynomial_mass(times, terms), masses, rtol=1e-10)
    turning = (terms[1] / (-2 * terms[2])) ** 2  # sqrt(m) where dt/dsqrt(m) = 0
    assert np.isnan(polynomial_mass(np.array([terms[0] - 0.1, 1e3]), terms)).all()
    assert np.isnan(polynomial_mass(np.array([terms[0] + terms[1] * np.sqrt(turning) * 1.01]), terms, 2e4)).all()
    with pytest.raises(ValueError, match="positive a1"):
        polynomial_mass(times, [0.0, -1.0])
    ds = events_2023_12.isel(event=[2, 3]).idex.mass(prior=False)
    shift = ds["mass_shift"].values - ds["trigger_time_high"].values
    linear = events_2023_12.isel(event=[2]).idex.mass(prior=False, polynomial=[shift[0], ds["mass_stretch"].values[0]])
    late = linear["time_high"].values > ds["mass_shift"].values[0] + 1.0
    np.testing.assert_allclose(linear["mass_polynomial"].values[0, late], linear["mass"].values[0, late], rtol=1e-9)
    assert "lab calibration" in linear["mass_polynomial"].attrs["calibration"]
