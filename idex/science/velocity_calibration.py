"""The curves that turn fitted target signals into speed and mass: rise time → velocity, charge yield, the
ion-grid law, and their uncertainty bands, read from a calibration file by
:func:`~idex.science.velocity_calibration.load_calibration`.

A calibration file states its ``status`` (``flight``, ``lab`` or ``test-parameters``) and ``source``; the shipped
``defs/velocity_calibration.yaml`` holds the mission pipeline's *unit-test* parameter sets, not IDEX's flight
curves (which are not public). :mod:`idex.science.velocity` applies them to the fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from idex._typing import PathLike
from idex.exceptions import ProductError
from idex.resources import data_dir, read_yaml
from idex.units import COULOMB_PER_PICOCOULOMB

__all__ = ["Band", "BrokenPowerLaw", "Calibration", "ion_grid_law", "load_calibration"]


def ion_grid_law(ratio: np.ndarray, scale: float, exponent: float, offset: float) -> np.ndarray:
    """Velocity (km/s) from the ion-grid / target charge ratio ``R``: ``scale * (100 R)**exponent + offset``.

    Examples
    --------
    >>> float(ion_grid_law(0.01, 2.0, -1.0, 0.5))
    2.5
    """
    return scale * (100.0 * np.asarray(ratio, dtype=np.float64)) ** exponent + offset


@dataclass(frozen=True)
class BrokenPowerLaw:
    """``log10 F(v) = log_a + a1 x + (a2-a1)/k log10(1+(v/vb)^k) + (a3-a2)/k log10(1+(v/vc)^k)``, x = log10 v."""

    log_a: float
    a1: float
    a2: float
    a3: float
    vb: float
    vc: float
    k: float

    def log10(self, velocity: np.ndarray | float) -> np.ndarray:
        """``log10 F`` at ``velocity`` (km/s)."""
        v = np.asarray(velocity, dtype=np.float64)
        with np.errstate(all="ignore"):
            return (
                self.log_a
                + self.a1 * np.log10(v)
                + (self.a2 - self.a1) / self.k * np.log10(1 + (v / self.vb) ** self.k)
                + (self.a3 - self.a2) / self.k * np.log10(1 + (v / self.vc) ** self.k)
            )

    def __call__(self, velocity: np.ndarray | float) -> np.ndarray:
        """``F`` at ``velocity`` (km/s).

        Examples
        --------
        >>> float(load_calibration().charge_yield(10.0))
        755.0090524738858
        """
        return 10.0 ** self.log10(velocity)

    def invert(self, value: np.ndarray | float, bracket: tuple[float, float]) -> np.ndarray:
        """Velocity (km/s) where ``F`` equals ``value``; NaN for non-positive values or no root in the bracket."""
        values = np.atleast_1d(np.asarray(value, dtype=np.float64))
        out = np.full(values.shape, np.nan)
        for index, target in np.ndenumerate(values):
            if not np.isfinite(target) or target <= 0:
                continue
            goal = np.log10(target)
            try:
                root = brentq(lambda x, goal=goal: float(self.log10(10.0**x)) - goal, *bracket, xtol=1e-14, rtol=1e-15)
            except ValueError:  # no sign change: the value is outside the curve's range in the bracket
                continue
            out[index] = 10.0**root
        return out.reshape(np.shape(value))


@dataclass(frozen=True)
class Band:
    """A curve's uncertainty in log10 (dex): the 1-sigma spread of the mean curve at given abscissae
    (velocities, or charge ratios for the ion-grid law) and one event's scatter about it; zero where unknown."""

    points: tuple[float, ...] = ()
    dex: tuple[float, ...] = ()
    scatter: float = 0.0

    def __call__(self, at: np.ndarray) -> np.ndarray:
        """Total log10 uncertainty of one event's value at ``at``: the mean curve's and the scatter."""
        return np.hypot(self.mean_curve(at), self.scatter)

    def mean_curve(self, at: np.ndarray) -> np.ndarray:
        """Spread of the mean curve at ``at``, interpolated in log10."""
        if not self.points:
            return np.zeros(np.shape(at))
        with np.errstate(all="ignore"):
            return np.interp(np.log10(at), np.log10(self.points), self.dex)


@dataclass(frozen=True)
class Calibration:
    """Rise-time and yield curves, the ion-grid ratio law, and where they come from."""

    rise_time: BrokenPowerLaw
    charge_yield: BrokenPowerLaw
    ion_grid_scale: float
    ion_grid_exponent: float
    ion_grid_offset: float
    ion_grid_ratio_range: tuple[float, float]
    bracket: tuple[float, float]
    status: str = "unknown"
    source: str = "unknown"
    path: str = ""
    valid_velocity: tuple[float, float] = (0.0, np.inf)
    rise_time_band: Band = Band()
    yield_band: Band = Band()
    ion_grid_band: Band = Band()

    @property
    def provenance(self) -> str:
        """One line for the ``calibration`` attribute of derived variables: status, source and file."""
        return f"{self.status}: {self.source} ({Path(self.path).name or 'in memory'})"

    def velocity_from_rise_time(self, rise_us: np.ndarray | float) -> np.ndarray:
        """Impact velocity (km/s) from the fitted target rise time (µs)."""
        return self.rise_time.invert(rise_us, self.bracket)

    def mass(self, charge_pc: np.ndarray | float, velocity: np.ndarray | float) -> np.ndarray:
        """Dust mass (kg) from the impact charge (pC) and velocity (km/s).

        Examples
        --------
        >>> float(load_calibration().mass(10.0, 10.0))  # doctest: +ELLIPSIS
        1.32448...e-14
        """
        return np.abs(np.asarray(charge_pc, dtype=np.float64)) * COULOMB_PER_PICOCOULOMB / self.charge_yield(velocity)

    def ion_grid_velocity(self, ion_charge: np.ndarray, target_charge: np.ndarray) -> np.ndarray:
        """Velocity (km/s) from the ion-grid / target charge ratio; NaN outside the valid ratio range."""
        with np.errstate(all="ignore"):
            ratio = np.abs(np.asarray(ion_charge, dtype=np.float64)) / np.abs(np.asarray(target_charge, dtype=float))
            velocity = ion_grid_law(ratio, self.ion_grid_scale, self.ion_grid_exponent, self.ion_grid_offset)
        low, high = self.ion_grid_ratio_range
        return np.where((ratio >= low) & (ratio <= high), velocity, np.nan)


def load_calibration(path: PathLike | None = None) -> Calibration:
    """Read the calibration curves (default: ``defs/velocity_calibration.yaml``, unit-test parameters).

    Examples
    --------
    >>> calibration = load_calibration()
    >>> calibration.status
    'test-parameters'
    """
    return _load(str(Path(path) if path is not None else data_dir("defs") / "velocity_calibration.yaml"))


@lru_cache(maxsize=8)
def _load(path: str) -> Calibration:
    doc = read_yaml(path)

    def curve(entry: dict) -> BrokenPowerLaw:
        return BrokenPowerLaw(*(float(entry[key]) for key in ("log_a", "a1", "a2", "a3", "vb", "vc", "k")))

    def band(entry: dict, abscissa: str) -> Band:
        spread = entry.get("log10_sigma") or {}
        return Band(
            tuple(float(v) for v in spread.get(abscissa, ())),
            tuple(float(d) for d in spread.get("dex", ())),
            float(entry.get("residual_rms_dex", 0.0)),
        )

    missing = [
        key
        for key in ("rise_time", "yield", "ion_grid", "search_log10_velocity")
        if not isinstance(doc, dict) or key not in doc
    ]
    if missing:
        kind = " (a TOF calibration, for a schema's mass section)" if isinstance(doc, dict) and "mass" in doc else ""
        raise ProductError(
            f"{path} is not a velocity calibration{kind}: it lacks {', '.join(missing)} "
            "(write one with `idex calibrate` on accelerator shots)"
        )
    grid = doc["ion_grid"]
    return Calibration(
        curve(doc["rise_time"]),
        curve(doc["yield"]),
        float(grid["scale"]),
        float(grid["exponent"]),
        float(grid["offset"]),
        tuple(grid["ratio_range"]),
        tuple(doc["search_log10_velocity"]),
        str(doc.get("status", "unknown")),
        str(doc.get("source", "unknown")),
        path,
        _pair(doc.get("valid_velocity_kms", (0.0, np.inf))),
        band(doc["rise_time"], "velocity_kms"),
        band(doc["yield"], "velocity_kms"),
        band(grid, "ratio"),
    )


def _pair(values: Sequence[float]) -> tuple[float, float]:
    low, high = values
    return float(low), float(high)
