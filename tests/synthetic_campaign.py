"""Synthetic dust-accelerator campaigns from known curves: the truth the calibration tests recover.

Grains with log-uniform speeds and masses; the target's rise time and charge follow the true rise-time and
yield curves with log-normal scatter, the ion-grid charge follows the true ratio law; a few shots are
outliers, lack a QD velocity or have a failed target fit, as at the accelerator.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from idex.science.velocity import BrokenPowerLaw

RISE_TIME = BrokenPowerLaw(log_a=1.3, a1=-0.4, a2=-1.3, a3=-0.7, vb=5.0, vc=20.0, k=4.0)
"""µs: about 20 µs at 1 km/s down to a few tenths of a µs at 60 km/s."""
CHARGE_YIELD = BrokenPowerLaw(log_a=0.06, a1=2.8, a2=5.9, a3=4.1, vb=13.0, vc=22.7, k=8.2)
"""C/kg: the mission pipeline's test curve (755 C/kg at 10 km/s)."""
ION_GRID = {"scale": 55.0, "exponent": -3.2, "offset": 1.5}
RISE_SCATTER_DEX, CHARGE_SCATTER_DEX, RATIO_SCATTER_DEX = 0.04, 0.05, 0.03
"""Grain-to-grain scatter about the laws (physical, larger than the fit errors)."""
FIT_ERROR = 0.01
"""Relative standard error the waveform fits report for rise time and amplitude."""


def campaign(n: int, seed: int, name: str = "synthetic", speeds: tuple[float, float] = (2.0, 50.0)) -> xr.Dataset:
    """``n`` shots as ``idex scope`` writes them (the variables :func:`idex.calibrate` reads)."""
    rng = np.random.default_rng(seed)
    velocity = 10 ** rng.uniform(*np.log10(speeds), n)
    mass = 10 ** rng.uniform(-17, -13, n)
    rise = RISE_TIME(velocity) * 10 ** rng.normal(0, RISE_SCATTER_DEX, n)
    outlier = rng.random(n) < 0.03
    rise[outlier] *= 4.0  # a pile-up or a mis-fit: far off the curve
    charge = CHARGE_YIELD(velocity) * mass * 1e12 * 10 ** rng.normal(0, CHARGE_SCATTER_DEX, n)
    ratio = ((velocity - ION_GRID["offset"]) / ION_GRID["scale"]) ** (1 / ION_GRID["exponent"]) / 100
    ion = charge * ratio * 10 ** rng.normal(0, RATIO_SCATTER_DEX, n)
    success = rng.random(n) > 0.02
    qd_velocity = np.where(rng.random(n) > 0.02, velocity, np.nan)
    event = ("event",)
    return xr.Dataset(
        {
            "particle_velocity": (*event, qd_velocity),
            "particle_mass": (*event, mass),
            "target_low_fit_rise_time": (*event, rise),
            "target_low_fit_rise_time_stderr": (*event, rise * FIT_ERROR),
            "target_low_fit_amplitude": (*event, charge),
            "target_low_fit_amplitude_stderr": (*event, charge * FIT_ERROR),
            "target_low_impact_charge": (*event, charge),
            "target_low_fit_success": (*event, success),
            "ion_grid_impact_charge": (*event, ion),
            "ion_grid_fit_success": (*event, np.ones(n, bool)),
            "ion_grid_fit_amplitude": (*event, ion),
            "ion_grid_fit_amplitude_stderr": (*event, ion * FIT_ERROR),
        },
        coords={"event": np.arange(n)},
        attrs={"campaign": name},
    )
