"""Detection by evidence (idex.fit.detection): real events, and detection probability and false alarms measured
on synthetic records at the real noise (phase-randomised surrogates of real quiet records)."""

from __future__ import annotations

import numpy as np
import pytest
from detection_records import drifts, pulses, surrogates

from idex.fit.columns import FitColumns
from idex.fit.detection import significance, threshold
from idex.fit.events import fit_arrays
from idex.fit.models import MODELS
from idex.model.calibration import calibrated, schema_of
from idex.model.quality import FitStatus

STATUS = FitColumns(MODELS["impact"].parameters)["status"]  # of fit_arrays' rows


def test_a_pulse_that_starts_before_the_trigger_is_fitted(events_2023_07):
    """2023-07-25 event 18, target high: a ~6 pC step 12 µs before the trigger, called no_signal by a single-sample
    significance of 2.9; the whole record's evidence finds it and the fit converges at the onset seen by eye."""
    fits = events_2023_07.idex.fit(["target_high"])
    row = fits.sel(event=18)
    assert int(row["target_high_fit_status"]) == FitStatus.CONVERGED
    assert float(row["target_high_fit_significance"]) > 3 * threshold(1e-3, 512)
    assert -14 < float(row["target_high_fit_time_of_impact"]) < -10
    assert 5 < float(row["target_high_fit_amplitude"]) < 10


def test_slow_drifts_stay_no_signal(events_2023_12):
    """2023-12-14 target low rows 1 and 5: a slow recovery and a slow decline, not impacts; their significance is
    kept so a user can make their own cut."""
    fits = events_2023_12.idex.fit(["target_low"])
    for row in (1, 5):
        assert int(fits["target_low_fit_status"][row]) == FitStatus.NO_SIGNAL
        assert 0 <= float(fits["target_low_fit_significance"][row]) < threshold(1e-3, 512)
        assert np.isnan(float(fits["target_low_fit_amplitude"][row]))


@pytest.fixture(scope="module")
def real_noise(events_2023_12):
    """Quiet target-high records of the real capture, their time axis, and the fit declaration."""
    fits = events_2023_12.idex.fit(["target_high"])
    quiet = fits["target_high_fit_status"].values == FitStatus.NO_SIGNAL
    records = calibrated(events_2023_12, ["target_high"])["target_high"].values[quiet]
    t = np.asarray(events_2023_12.idex.time("target_high").values)[0]
    return records, t, schema_of(events_2023_12).fits["target_high"]


def _claimed(t, y, spec):
    return fit_arrays(np.tile(t, (len(y), 1)), y, spec)[:, STATUS] != FitStatus.NO_SIGNAL


def test_false_alarms_on_real_noise_and_drifts(real_noise):
    """At the schema's false-alarm probability (1e-3 per record), noise and slow drifts are almost never pulses."""
    quiet, t, spec = real_noise
    rng = np.random.default_rng(26)
    noise = surrogates(quiet, 200, rng) + 330.0
    sigma = float(np.std(noise))
    assert _claimed(t, noise, spec).mean() <= 0.02
    assert _claimed(t, drifts(t, surrogates(quiet, 200, rng) + 330.0, 10 * sigma, rng), spec).mean() <= 0.02


def test_detection_probability_rises_with_amplitude(real_noise):
    """Pulses (onsets −15 to +3 µs) of 1, 4 and 8 times the per-sample noise: detected more often as they grow,
    almost always at 8."""
    quiet, t, spec = real_noise
    rng = np.random.default_rng(27)
    sigma = float(np.std(surrogates(quiet, 50, rng)))
    rates = [
        _claimed(t, pulses(t, surrogates(quiet, 100, rng) + 330.0, a * sigma, rng), spec).mean()
        for a in (1.0, 4.0, 8.0)
    ]
    assert rates[0] < 0.1 and rates[0] <= rates[1] <= rates[2] and rates[2] >= 0.95


def test_significance_is_nan_without_a_fit_and_zero_for_the_drift_model_itself():
    t = np.tile(np.linspace(-60, 60, 512), (2, 1))
    rng = np.random.default_rng(0)
    y = 0.01 * t**2 + rng.normal(0, 1, t.shape)
    curve = np.stack([np.full(512, np.nan), np.polyval(np.polyfit(t[1], y[1], 2), t[1])])
    out = significance(t, y, np.ones(t.shape, bool), curve, 5)
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.0, abs=1e-6)


def test_false_alarm_probability_is_checked():
    with pytest.raises(ValueError, match="false_alarm_probability"):
        threshold(0.0, 512)
