"""The velocity estimate reads its channel roles from ``defs/velocity_channels.yaml``, not from Python."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from idex.resources import data_dir, read_yaml
from idex.science import velocity
from idex.science.velocity_channels import VelocityChannels, velocity_channels


def _fits(rng: np.random.Generator, n: int = 200) -> xr.Dataset:
    out = {}
    for channel in ("target_low", "target_high", "ion_grid"):
        out[f"{channel}_fit_success"] = ("event", rng.random(n) > 0.3)
        out[f"{channel}_fit_rise_time"] = ("event", 10 ** rng.uniform(-1, 1.5, n))
        out[f"{channel}_impact_charge"] = ("event", 10 ** rng.uniform(-15, -11, n))
    return xr.Dataset(out, coords={"event": np.arange(n)})


def test_roles_are_the_shipped_file():
    doc = read_yaml(data_dir("defs") / "velocity_channels.yaml")
    roles = velocity_channels()
    assert roles.rise_time_channels == tuple(doc["rise_time_channels"])
    assert roles.ion_grid_channel == doc["ion_grid_channel"]
    assert roles.target_preference == tuple(doc["target_preference"])


def test_target_preference_decides_the_ion_grid_charge(monkeypatch):
    """With Target Low alone preferred, the ion-grid results are those of a fit set without Target High's charge."""
    fits = _fits(np.random.default_rng(5))
    roles = velocity_channels()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        without_high = velocity.estimate(fits.drop_vars(["target_high_impact_charge", "target_high_fit_rise_time"]))
        monkeypatch.setattr(
            velocity,
            "velocity_channels",
            lambda: VelocityChannels(roles.rise_time_channels, roles.ion_grid_channel, ("target_low",)),
        )
        low_only = velocity.estimate(fits)
        default = velocity.estimate(fits.drop_vars(["target_low_impact_charge", "target_low_fit_rise_time"]))
    xr.testing.assert_identical(low_only["ion_grid_velocity"], without_high["ion_grid_velocity"])
    assert np.isfinite(low_only["ion_grid_velocity"]).any()
    assert not np.allclose(low_only["ion_grid_mass"], default["ion_grid_mass"], equal_nan=True)
