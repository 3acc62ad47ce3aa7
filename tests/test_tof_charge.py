"""TOF impact charge (idex.science.tof_charge): synthetic TOF records of known charge at a white or correlated
(AR(1)) noise of known level, on the real event model's time axes and calibration factors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from idex.science.tof_charge import tof_charge

GAINS = ("tof_high", "tof_mid", "tof_low")


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
def test_known_charges_are_recovered_within_their_errors(events_2023_12, correlation):
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


def test_never_from_a_saturated_gain(events_2023_12):
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
