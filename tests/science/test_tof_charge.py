"""TOF impact charge (idex.science.tof_charge): synthetic TOF records of known charge at a white or correlated
(AR(1)) noise of known level, on the real event model's time axes and calibration factors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

import idex.science.tof_charge as module
from idex.science.tof_charge import tof_charge

GAINS = ("tof_high", "tof_mid", "tof_low")


@pytest.fixture
def gaussian_noise(monkeypatch):
    """The estimator alone, for synthetic Gaussian noise: no excess scatter of real records (noise_excess 1)."""
    config = dict(module.settings(), noise_excess=1.0)
    monkeypatch.setattr(module, "settings", lambda: config)


def _noise(rng, shape, noise_dn, correlation):
    """Gaussian noise of standard deviation ``noise_dn``, AR(1) with lag-one ``correlation`` along the record."""
    white = rng.normal(0, noise_dn * np.sqrt(1 - correlation**2), shape)
    start = rng.normal(0, noise_dn, shape[:-1])  # the stationary state at the record's first sample
    return lfilter([1.0], [1.0, -correlation], white, axis=-1, zi=(correlation * start)[..., None])[0]


def _records(ds, charge_pc, rng, noise_dn=2.0, correlation=0.0):
    """Every TOF gain of ``ds`` replaced by baseline + noise + Gaussian ion peaks holding ``charge_pc``."""
    out = ds.copy()
    for name in GAINS:
        t = np.asarray(ds.idex.time(name).values, dtype=float)
        factor = ds[name].attrs["calibration_factor"]  # mA per dN
        peaks = sum(np.exp(-0.5 * ((t - c) / 0.01) ** 2) / (0.01 * np.sqrt(2 * np.pi)) for c in (2.0, 5.0, 9.0)) / 3
        signal_dn = charge_pc[:, None] / 1e3 * peaks / factor  # mA us -> pC is 1e3
        out[name] = (ds[name].dims, 512.0 + signal_dn + _noise(rng, t.shape, noise_dn, correlation), ds[name].attrs)
        out[f"{name}_saturation_flag"] = ("event", np.zeros(ds.sizes["event"], np.uint8))
    return out


@pytest.mark.parametrize(
    "correlation", [pytest.param(0.0, id="white-noise"), pytest.param(0.8, id="correlated-noise-ar1-0.8")]
)
def test_known_charges_are_recovered_within_their_errors(events_2023_12, correlation, gaussian_noise):
    """Pulls of unit width: with AR(1) noise of 0.8 a white-noise error would be 3x too small ((1+r)/(1-r) = 9)."""
    rng = np.random.default_rng(3)
    truth = np.linspace(5.0, 60.0, events_2023_12.sizes["event"])
    pulls = []
    for _ in range(20):
        out = tof_charge(_records(events_2023_12, truth, rng, correlation=correlation))
        assert set(out["tof_impact_charge_channel"].values) == {"tof_high"}
        pulls.append((out["tof_impact_charge"].values - truth) / out["tof_impact_charge_stderr"].values)
    pulls = np.concatenate(pulls)
    assert abs(pulls.mean()) < 0.25 and 0.8 < pulls.std() < 1.2  # the stated error is the real scatter


def test_never_from_a_saturated_gain(events_2023_12, gaussian_noise):
    rng = np.random.default_rng(4)
    ds = _records(events_2023_12, np.full(events_2023_12.sizes["event"], 40.0), rng)
    ds["tof_high_saturation_flag"][:] = 1
    ds["tof_mid_saturation_flag"][:3] = 1
    ds["tof_low_saturation_flag"][:2] = 1
    out = tof_charge(ds)
    channel = out["tof_impact_charge_channel"].values
    assert channel[:2].tolist() == ["", ""] and channel[2] == "tof_low" and set(channel[3:]) == {"tof_mid"}
    assert np.isnan(out["tof_impact_charge"].values[:2]).all()
    assert out["tof_impact_charge_status"].values[:2].tolist() == [1, 1]
    mid = out["tof_impact_charge"].values[3:]
    assert np.all(np.abs(mid - 40.0) < 5 * out["tof_impact_charge_stderr"].values[3:])


def test_a_missing_flag_is_named(events_2023_12):
    with pytest.raises(KeyError, match="tof_mid_saturation_flag"):
        tof_charge(events_2023_12.drop_vars("tof_mid_saturation_flag"))


def test_a_baseline_that_sags_after_the_impact_is_not_charge(events_2023_12, gaussian_noise):
    """Real impacts are followed by a baseline half a digital number low for the rest of the record; a flat
    pre-trigger baseline would integrate that into -0.9 pC (on TOF High) and hide charges of a few tenths of a pC."""
    rng = np.random.default_rng(5)
    truth = np.linspace(0.2, 2.0, events_2023_12.sizes["event"])
    ds = _records(events_2023_12, truth, rng)
    t = np.asarray(ds.idex.time("tof_high").values, dtype=float)
    ds["tof_high"] = ds["tof_high"] - 0.5 * (t > 0.5) * np.exp(-np.clip(t - 0.5, 0, None) / 40.0)
    out = tof_charge(ds)
    pulls = (out["tof_impact_charge"].values - truth) / out["tof_impact_charge_stderr"].values
    assert np.all(np.abs(pulls) < 4), pulls


def _real(capture):
    import idex

    return idex.open_raw(capture, group="events")


def test_real_impacts_give_a_positive_fraction_of_the_target_charge():
    """Every triggered event of both bundled captures (each trigger is a TOF pulse) has a positive TOF charge,
    beyond 5 standard errors; on the clear impacts (a converged target fit) it is a small fraction of the
    target's charge: the TOF sees only the ions that cross its grid."""
    import warnings

    from conftest import CAPTURE_2023_07, CAPTURE_2023_12

    for capture in (CAPTURE_2023_07, CAPTURE_2023_12):
        ds = _real(capture)
        out = tof_charge(ds)
        charge, error = out["tof_impact_charge"].values, out["tof_impact_charge_stderr"].values
        assert (out["tof_impact_charge_status"].values == 0).all()
        assert np.all(charge > 5 * error), (capture.name, charge / error)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits = ds.idex.fit(["target_low", "target_high"])
        clear = 0
        for channel in ("target_low", "target_high"):
            success = fits[f"{channel}_fit_success"].values
            target = fits[f"{channel}_impact_charge"].values[success]
            assert np.all(charge[success] < 0.1 * target), (capture.name, channel)
            clear += success.sum()
        assert clear >= 5, capture.name


@pytest.mark.parametrize("windows", [((-1e9, -4.0), (-4.0, -0.5)), ((-4.5, -0.5), (-1e9, -4.5))])
def test_the_stated_error_is_the_scatter_of_real_noise(monkeypatch, windows):
    """Null integrals: the same estimator over pre-trigger windows of the real records (no ion can be there).
    With noise_excess (the file's measured factor) their pulls have unit width; without it they are 1.45 wide."""
    from conftest import CAPTURE_2023_07, CAPTURE_2023_12

    config = dict(module.settings(), baseline_us=list(windows[0]), integrate_us=list(windows[1]))
    monkeypatch.setattr(module, "settings", lambda: config)
    pulls = []
    for capture in (CAPTURE_2023_07, CAPTURE_2023_12):
        out = tof_charge(_real(capture))
        ok = out["tof_impact_charge_status"].values == 0
        pulls.append((out["tof_impact_charge"].values / out["tof_impact_charge_stderr"].values)[ok])
    pulls = np.concatenate(pulls)
    print(f"null integrals {windows}: {pulls.size} pulls, mean {pulls.mean():+.2f}, width {pulls.std():.2f}")
    assert pulls.size >= 30 and abs(pulls.mean()) < 0.6 and 0.5 < pulls.std() < 1.6
