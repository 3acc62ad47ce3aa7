"""Fit models and the batched engine: known parameters, the official test pulse, lmfit agreement, dask."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr
from conftest import CAPTURE_2023_12, DATA

import idex
from idex.fit.columns import FitColumns
from idex.fit.detection import threshold
from idex.fit.engine import levenberg_marquardt
from idex.fit.events import fit_arrays
from idex.fit.models import MODELS, lmfit_model
from idex.model.quality import FitStatus

IMPACT = MODELS["impact"]
EMG = MODELS["emg"]
COLUMNS = FitColumns(IMPACT.parameters)  # of fit_arrays' rows: every spec fitted here is an impact model's


def synthetic_impacts(n: int, seed: int = 0, noise: float = 0.02):
    """Events on the low-rate time axis (µs from trigger) with known impact parameters."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.arange(512) / 4.0625 - 63.0, (n, 1))
    truth = np.column_stack(
        [
            rng.uniform(-5, 5, n),
            rng.uniform(-2, 2, n),
            rng.uniform(5, 50, n),
            rng.uniform(0.5, 5, n),
            rng.uniform(20, 200, n),
        ]
    )
    y = IMPACT.function(t, truth) + rng.normal(0, noise, t.shape)
    return t, y, truth


TARGET_LOW_PC_PER_DN = 15.8
TARGET_LOW_NOISE_DN = 2.0  # pre-trigger noise of the real Target Low records: 1.7-3.3 DN


def realistic_impacts(n: int, seed: int, amplitude_dn: tuple[float, float] = (20, 400)):
    """Target Low records as the instrument makes them: 12-bit samples around 2050 DN with the real noise level,
    pulses of known parameters (rise 0.5-10 µs, discharge 20-500 µs, onset within 3 µs of the trigger)."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.arange(512) / 4.0625 - 63.0, (n, 1))
    truth = np.column_stack(
        [
            rng.uniform(-3, 3, n),
            np.full(n, 2050 * TARGET_LOW_PC_PER_DN),
            rng.uniform(*amplitude_dn, n) * TARGET_LOW_PC_PER_DN,
            rng.uniform(0.5, 10, n),
            rng.uniform(20, 500, n),
        ]
    )
    counts = IMPACT.function(t, truth) / TARGET_LOW_PC_PER_DN + rng.normal(0, TARGET_LOW_NOISE_DN, t.shape)
    return t, np.clip(np.round(counts), 0, 4095) * TARGET_LOW_PC_PER_DN, truth


@pytest.mark.parametrize("model", [IMPACT, EMG], ids=["impact", "emg"])
def test_analytic_jacobians_match_finite_differences(model):
    t = np.tile(np.linspace(-10, 60, 300), (3, 1))
    p = (
        np.array([[1.0, 0.5, 12.0, 1.3, 40.0], [-2.0, -1.0, 3.0, 0.4, 150.0], [0.0, 2.0, 30.0, 3.0, 25.0]])
        if model is IMPACT
        else np.array([[10.0, 1.5, 0.8, 5.0], [20.0, 0.7, 2.0, 1.0], [30.0, 3.0, 0.3, 8.0]])
    )
    analytic = model.jacobian(t, p)
    for i in range(p.shape[1]):
        h = 1e-6 * np.maximum(np.abs(p[:, i]), 1.0)
        up, down = p.copy(), p.copy()
        up[:, i] += h
        down[:, i] -= h
        numeric = (model.function(t, up) - model.function(t, down)) / (2 * h[:, None])
        if model is IMPACT and i == 0:  # the kink at t0 is not differentiable: compare away from it
            keep = np.abs(t - p[:, :1]) > 0.5
            numeric, column = numeric[keep], analytic[..., i][keep]
        else:
            column = analytic[..., i]
        np.testing.assert_allclose(column, numeric, rtol=1e-5, atol=1e-7 * np.abs(numeric).max())


def test_emg_area_parameter_is_the_integral():
    t = np.linspace(-20, 200, 20001)[None, :]
    y = EMG.function(t, np.array([[10.0, 1.5, 0.2, 7.0]]))
    assert np.trapezoid(y[0], t[0]) == pytest.approx(7.0, rel=1e-6)


def test_impact_recovers_known_parameters_at_the_real_noise_level():
    """1 200 quantised Target Low records: every fit reaches a determined optimum at least as deep as the truth
    (the engine never stops in a worse local minimum) and the truth lies within the reported errors."""
    t, y, truth = realistic_impacts(1200, seed=1)
    spec = idex.load_schema("science_2023_12").fits["target_low"]
    out = fit_arrays(t, y, spec)
    assert (out[:, COLUMNS["status"]] == FitStatus.CONVERGED).all()
    chisqr_at_truth = np.sum((y - IMPACT.function(t, truth)) ** 2, axis=1)
    assert np.all(out[:, COLUMNS["chisqr"]] <= chisqr_at_truth * (1 + 1e-9))
    pulls = np.abs(out[:, COLUMNS.values] - truth) / out[:, COLUMNS.errors]
    assert np.all(np.percentile(pulls, 95, axis=0) < 2.5)  # Gaussian: 1.96
    assert np.all(np.percentile(pulls, 99.5, axis=0) < 4.0)


def test_weak_pulses_are_either_determined_or_say_so():
    """Pulses of 3-15 DN on 2 DN noise: a fit called a success still holds the truth within its errors."""
    t, y, truth = realistic_impacts(400, seed=2, amplitude_dn=(3, 15))
    spec = idex.load_schema("science_2023_12").fits["target_low"]
    out = fit_arrays(t, y, spec)
    status = out[:, COLUMNS["status"]]
    success = status == FitStatus.CONVERGED
    assert 0.2 < success.mean() < 1.0  # the easy ones succeed, the hardest do not claim to
    assert set(np.unique(status[~success])) <= {
        FitStatus.ITERATION_LIMIT,
        FitStatus.AT_BOUND,
        FitStatus.UNDETERMINED,
        FitStatus.NO_SIGNAL,
    }
    pulls = np.abs(out[success, COLUMNS.values] - truth[success]) / out[success, COLUMNS.errors]
    assert np.percentile(pulls[:, 2], 95) < 3.0  # amplitude
    assert np.all(np.isfinite(out[success, COLUMNS.errors]))


def test_noise_and_drift_are_not_impacts():
    """Pure noise is 'no signal'; a slow drift is never a successful impact fit."""
    rng = np.random.default_rng(11)
    t = np.tile(np.arange(512) / 4.0625 - 63.0, (200, 1))
    noise = np.round(2050 + rng.normal(0, TARGET_LOW_NOISE_DN, t.shape)) * TARGET_LOW_PC_PER_DN
    spec = idex.load_schema("science_2023_12").fits["target_low"]
    status = fit_arrays(t, noise, spec)[:, COLUMNS["status"]]
    assert (status == FitStatus.NO_SIGNAL).mean() > 0.95
    drift = noise + (t + 63.0) * rng.uniform(0.1, 0.3, (200, 1)) * TARGET_LOW_PC_PER_DN  # 13-38 DN over the record
    out = fit_arrays(t, drift, spec)
    assert not np.any(out[:, COLUMNS["status"]] == FitStatus.CONVERGED)


def test_a_pulse_of_the_wrong_sign_ends_at_a_bound():
    """A negative pulse on a target channel, whose amplitude the schema keeps >= 0, is no signal of the expected
    sign; forced to fit, the best fit sits on a bound (zero amplitude, or a ramp as slow as allowed), says so, and
    reports no error for the pinned parameter."""
    t, y, truth = realistic_impacts(20, seed=5, amplitude_dn=(50, 200))
    inverted = 2 * truth[:, 1:2] - y
    spec = idex.load_schema("science_2023_12").fits["target_low"]
    assert np.all(fit_arrays(t, inverted, spec)[:, COLUMNS["status"]] == FitStatus.NO_SIGNAL)
    out = fit_arrays(t, inverted, dataclasses.replace(spec, false_alarm_probability=1.0))
    status = out[:, COLUMNS["status"]]
    assert set(np.unique(status)) <= {FitStatus.ITERATION_LIMIT, FitStatus.AT_BOUND, FitStatus.UNDETERMINED}
    assert np.mean(status == FitStatus.AT_BOUND) >= 0.5
    pinned = out[status == FitStatus.AT_BOUND, COLUMNS.errors]
    assert np.all(np.isnan(pinned).any(axis=1))  # no error for a parameter on its bound


def test_official_synthetic_pulse_fits_exactly():
    """imap-processing's test: t0 0, C 1, A 10, rise = discharge = 0.371 on linspace(-60, 186.03, 512)."""
    t = np.linspace(-60, 186.03, 512)[None, :]
    truth = np.array([[0.0, 1.0, 10.0, 0.371, 0.371]])
    y = IMPACT.function(t, truth)
    result = levenberg_marquardt(
        IMPACT, t, y, np.array([[0.2, 0.9, 8.0, 0.5, 0.5]]), lower=np.array([-np.inf, -np.inf, 0, 1e-6, 1e-6])
    )
    assert result.chisqr[0] <= 1e-12
    np.testing.assert_allclose(result.params[0], truth[0], rtol=1e-5, atol=1e-7)


def test_emg_recovers_known_parameters():
    rng = np.random.default_rng(5)
    t = np.tile(np.linspace(0, 60, 400), (50, 1))
    truth = np.column_stack(
        [rng.uniform(15, 40, 50), rng.uniform(0.5, 2, 50), rng.uniform(0.3, 2, 50), rng.uniform(5, 20, 50)]
    )
    y = EMG.function(t, truth) + rng.normal(0, 1e-3, t.shape)
    p0 = truth * rng.uniform(0.9, 1.1, truth.shape)
    p0[:, 0] = truth[:, 0] + rng.uniform(-0.5, 0.5, 50) * truth[:, 1]  # start near the peak, as peak finding does
    result = levenberg_marquardt(EMG, t, y, p0, lower=np.array([-np.inf, 1e-3, 1e-3, 0]))
    assert result.success.all()
    np.testing.assert_allclose(result.params, truth, rtol=0.01)


def _lmfit_one(t, y, spec, p0):
    model = lmfit_model(spec.model)
    params = model.make_params()
    for value, parameter in zip(p0, spec.parameters, strict=True):
        params[parameter.name].set(value=value, min=parameter.min, max=parameter.max)
    return model.fit(y, params, t=t)


def test_never_worse_than_lmfit_from_far_off_starts():
    """lmfit started far from the truth (onset 8 µs late, rise x4, discharge /4, amplitude x3): the engine, from
    its own data-driven starts, finds a χ² at least as low on every event (to 1e-5: the discharge time of a slow
    pulse creeps along a flat valley where both stop), and the same errors where both agree."""
    t, y, truth = realistic_impacts(40, seed=3)
    spec = idex.load_schema("science_2023_12").fits["target_low"]
    ours = fit_arrays(t, y, spec)
    for i in range(40):
        start = truth[i] * np.array([1, 1, 3, 4, 0.25]) + np.array([8, 0, 0, 0, 0])
        reference = _lmfit_one(t[i], y[i], spec, start)
        assert ours[i, COLUMNS["chisqr"]] <= reference.chisqr * (1 + 1e-5)
        if reference.chisqr <= ours[i, COLUMNS["chisqr"]] * (1 + 1e-6):
            errors = np.array([reference.params[p.name].stderr for p in spec.parameters])
            np.testing.assert_allclose(ours[i, COLUMNS.errors], errors, rtol=0.02)


def test_weak_pulse_onset_in_the_best_sample_cell():
    """Weak pulses (4-12 DN on 2 DN noise), whose χ² kinks at every sample in the onset so a flat onset valley holds a
    local minimum in almost every cell: no fit of idex's ends above the best of an independent brute force, SciPy's
    bounded least squares started in every sample cell within 5 µs of the true onset (the other parameters at the
    truth's), by more than 0.01 of the noise variance (the reduced χ²: the same optimum, as in test_l2a; below
    that both optimisers stop at different points of a flat discharge-time valley). Printed: the largest excess."""
    from scipy.optimize import least_squares

    t, y, truth = realistic_impacts(16, seed=21, amplitude_dn=(4, 12))
    spec = dataclasses.replace(idex.load_schema("science_2023_12").fits["target_low"], false_alarm_probability=1.0)
    out = fit_arrays(t, y, spec)
    bounds = ([p.min for p in spec.parameters], [p.max for p in spec.parameters])
    step = t[0, 1] - t[0, 0]
    best = np.full(len(y), np.inf)
    for i in range(len(y)):

        def residual(p, i=i):
            return IMPACT.function(t[i][None], p[None])[0] - y[i]

        for shift in np.arange(-5.0, 5.0, step):
            start = truth[i] + np.array([shift + 0.5 * step, 0, 0, 0, 0])
            found = least_squares(residual, start, bounds=bounds, x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14)
            best[i] = min(best[i], 2 * found.cost)
    excess = (out[:, COLUMNS["chisqr"]] - best) / out[:, COLUMNS["redchi"]]
    print(f"idex's chi-square above the brute force's, in noise variances: at most {excess.max():+.1e}")
    assert np.all(excess < 0.01)


ORACLE = json.loads((DATA / "impact_fits_lmfit.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def real_fits(events_2023_12, events_2023_07):
    return {"20231214": events_2023_12.idex.fit(), "20230725": events_2023_07.idex.fit()}


def test_real_fits_reach_the_best_optimum_of_a_multi_start_lmfit(real_fits):
    """Acceptance of the trust issue, on every impact fit of both real captures (oracle:
    tests/oracles/impact_fits_lmfit.py, 63 starts per waveform): at most 1 % above lmfit's best for >= 95 % of
    the fits tried, at most 5 % for every fit called a success; channels without a pulse are not tried."""
    ratios, success_ratios, tried = [], [], 0
    for key, reference in ORACLE.items():
        day, channel, event = key.split("/")
        fits = real_fits[day]
        status = int(fits[f"{channel}_fit_status"][int(event)])
        if status == FitStatus.NO_SIGNAL:
            assert float(fits[f"{channel}_fit_significance"][int(event)]) < threshold(1e-3, 512)
            continue
        tried += 1
        ratio = float(fits[f"{channel}_fit_chisqr"][int(event)]) / reference["chisqr"]
        ratios.append(ratio)
        if status == FitStatus.CONVERGED:
            success_ratios.append(ratio)
    assert len(ORACLE) == 99 and tried >= 45
    assert np.mean(np.array(ratios) <= 1.01) >= 0.95
    assert max(success_ratios) <= 1.05 and len(success_ratios) >= 30


def test_real_fit_statuses_say_what_happened(real_fits):
    """The cases of the trust issue: no success with an onset outside the record, an amplitude no larger than
    its error, or a parameter on a bound; and every status is one of the declared flag values."""
    for fits in real_fits.values():
        for channel in ("target_low", "target_high", "ion_grid"):
            status = fits[f"{channel}_fit_status"].values
            assert set(np.unique(status)) <= set(fits[f"{channel}_fit_status"].attrs["flag_values"])
            success = fits[f"{channel}_fit_success"].values
            np.testing.assert_array_equal(success, status == FitStatus.CONVERGED)
            onset = fits[f"{channel}_fit_time_of_impact"].values[success]
            assert np.all((onset > -63.1) & (onset < 126.0))
            amplitude = np.abs(fits[f"{channel}_fit_amplitude"].values[success])
            assert np.all(fits[f"{channel}_fit_amplitude_stderr"].values[success] < amplitude)
            rise = fits[f"{channel}_fit_rise_time"].values[success]
            assert np.all((rise > 1.01e-3) & (rise < 990))


def test_fit_dataset_outputs(events_2023_12):
    fits = events_2023_12.idex.fit(curves=True)
    assert fits.sizes["event"] == 14
    for channel in ("target_low", "target_high", "ion_grid"):
        for name in ("time_of_impact", "baseline", "amplitude", "rise_time", "discharge_time"):
            assert f"{channel}_fit_{name}" in fits and f"{channel}_fit_{name}_stderr" in fits
        assert fits[f"{channel}_fit_amplitude"].attrs["units"] == "pC"
        assert fits[f"{channel}_fit_rise_time"].attrs["units"] == "us"
        assert fits[f"{channel}_fit_curve"].dims == ("event", "sample_low")
        assert set(np.unique(fits[f"{channel}_fit_message"].values)) <= set(idex.model.quality.STATUS_MESSAGES)
    ok = fits["target_low_fit_success"].values
    residual = (events_2023_12.idex.calibrated(["target_low"])["target_low"] - fits["target_low_fit_curve"]) ** 2
    np.testing.assert_allclose(
        residual.sum("sample_low").values[ok], fits["target_low_fit_chisqr"].values[ok], rtol=1e-9
    )


def test_one_bad_event_does_not_stop_the_others(events_2023_12):
    broken = events_2023_12.copy(deep=True)
    broken["target_low"][3, :] = 65535  # every sample missing (fill value)
    fits = broken.idex.fit(["target_low"], merge=True)
    assert not bool(fits["target_low_fit_success"][3])
    assert np.isnan(float(fits["target_low_fit_amplitude"][3]))
    assert "not finite" in str(fits["target_low_fit_message"][3].values)
    assert int(fits["quality_flags"][3]) & idex.QualityFlag.FIT_FAILED
    reference = events_2023_12.idex.fit(["target_low"])
    others = np.r_[0:3, 4:14]
    np.testing.assert_allclose(
        fits["target_low_fit_amplitude"].values[others], reference["target_low_fit_amplitude"].values[others]
    )


def test_unknown_channel_is_a_clear_error(events_2023_12):
    with pytest.raises(KeyError, match="declares no fit for"):
        events_2023_12.idex.fit(["tof_high"])


def test_fit_is_lazy_on_dask_and_matches(events_2023_12):
    lazy = events_2023_12.chunk(event=5).idex.fit()
    assert hasattr(lazy["target_low_fit_amplitude"].data, "dask")
    xr.testing.assert_allclose(lazy.compute(), events_2023_12.idex.fit())


@pytest.mark.slow
def test_fit_on_a_distributed_cluster_with_two_processes(events_2023_12):
    distributed = pytest.importorskip("distributed")
    eager = events_2023_12.idex.fit()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster),
    ):
        lazy = xr.open_mfdataset([CAPTURE_2023_12], engine="idex", chunks={"event": 4}).idex.fit()
        assert hasattr(lazy["ion_grid_fit_amplitude"].data, "dask")
        result = lazy.compute()
    xr.testing.assert_allclose(result, eager)
