"""Calibration curves from dust-accelerator shots: what ``idex calibrate`` and
:func:`~idex.science.lab_calibration.calibrate` compute.

Each shot of a campaign (``idex scope``) carries the grain's true speed and mass from the pickup tube
(``particle_velocity``, ``particle_mass`` = 2qU/v²) and the fits of the IDEX channels. From them:

- **rise time** τ(v) of the target signal (µs) and **charge yield** Y(v) = Q_target / m (C/kg), each the
  smoothly broken power law of ALGORITHMS §2.3 fitted in log10 space;
- the **ion-grid law** v = scale · (100 R)^exponent + offset, ``R = |Q_ion| / |Q_target|``, fitted as R(v) in
  log10 (the scatter is in the charge ratio; the QD speed is the accurate coordinate).

How, as a lab scientist would accept it:

- Only shots with a successful QD fit and a successful target fit enter a curve (the ion-grid law also
  needs a successful ion-grid fit); every excluded shot is counted with its reason.
- Robust fit (``scipy.optimize.least_squares``, soft-L1 loss scaled to the robust scatter), several starts
  for the break velocities; shots more than ``outlier_sigma`` robust deviations off the curve are then
  excluded (counted as outliers) and the curve refitted.
- Uncertainties by bootstrap over shots: each parameter's standard deviation, and the curve's spread in
  log10 on a velocity (or charge-ratio) grid (``log10_sigma``); with the shots' scatter about the curve
  (``residual_rms_dex``: one event's own deviation from the mean law) :func:`idex.science.velocity.estimate`
  propagates them into ``*_velocity_stderr`` and ``*_mass_stderr``.
- The speed range of the shots used is the curve's range of validity: velocities outside it are NaN
  and flagged, never extrapolated.

The result is written in the format :func:`idex.science.velocity_calibration.load_calibration` reads, with
``status: lab`` and its provenance (campaigns, shot counts, date, idex version).

The TOF → mass calibration from runs of known composition is :mod:`idex.science.tof_calibration`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import yaml
from scipy.optimize import least_squares

from idex._typing import PathLike
from idex._version import __version__
from idex.exceptions import InputError
from idex.model import statistics
from idex.science.velocity import BrokenPowerLaw, ion_grid_law, load_calibration
from idex.units import COULOMB_PER_PICOCOULOMB

__all__ = ["CurveFit", "IonGridFit", "LabCalibration", "calibrate", "robust_sigma", "write_calibration"]

CURVE_PARAMETERS = ("log_a", "a1", "a2", "a3", "vb", "vc", "k")
ION_GRID_PARAMETERS = ("scale", "exponent", "offset")
_BAND_POINTS = 25


@dataclass(frozen=True)
class CurveFit:
    """One fitted broken power law with its uncertainties and the shots behind it."""

    curve: BrokenPowerLaw
    stderr: Mapping[str, float]
    velocity_range: tuple[float, float]
    band_velocity: np.ndarray
    band_sigma: np.ndarray
    residual_rms: float
    used: int
    excluded: Mapping[str, int]
    velocity: np.ndarray = field(repr=False)
    value: np.ndarray = field(repr=False)
    campaign: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class IonGridFit:
    """The ion-grid ratio law with its uncertainties and the shots behind it."""

    parameters: Mapping[str, float]
    stderr: Mapping[str, float]
    ratio_range: tuple[float, float]
    velocity_range: tuple[float, float]
    band_ratio: np.ndarray
    band_sigma: np.ndarray
    residual_rms: float
    used: int
    excluded: Mapping[str, int]
    ratio: np.ndarray = field(repr=False)
    velocity: np.ndarray = field(repr=False)
    campaign: np.ndarray = field(repr=False)

    def __call__(self, ratio: np.ndarray) -> np.ndarray:
        """Velocity (km/s) at charge ratio ``ratio``."""
        return ion_grid_law(ratio, **self.parameters)


@dataclass(frozen=True)
class LabCalibration:
    """Everything :func:`~idex.science.lab_calibration.calibrate` found: the three fits and where the shots
    came from."""

    rise_time: CurveFit
    charge_yield: CurveFit
    ion_grid: IonGridFit | None
    campaigns: tuple[str, ...]
    shots: int
    bootstrap: int


def calibrate(
    shots: xr.Dataset | Iterable[xr.Dataset],
    *,
    target: str = "target_low",
    bootstrap: int = 200,
    outlier_sigma: float = 5.0,
    seed: int = 0,
) -> LabCalibration:
    """Fit the rise-time, yield and ion-grid curves to accelerator shots.

    Parameters
    ----------
    shots : xarray.Dataset or iterable of them
        Shots of one or more campaigns as ``idex scope`` writes them (``shots.nc``): ``particle_velocity``
        (km/s), ``particle_mass`` (kg), ``<target>_fit_rise_time`` (µs), ``<target>_impact_charge`` (pC),
        ``<target>_fit_success``; ``ion_grid_impact_charge`` and ``ion_grid_fit_success`` for the ion-grid law.
        A dataset's ``attrs["campaign"]`` (else its ``source``) names its campaign.
    target : str
        Target channel whose rise time and charge are calibrated.
    bootstrap : int
        Resamplings of the shots for the uncertainties.
    outlier_sigma : float
        Shots farther than this many robust standard deviations from the first fit are excluded.
    seed : int
        Seed of the bootstrap resampling.

    Returns
    -------
    LabCalibration
    """
    parts = [shots] if isinstance(shots, xr.Dataset) else list(shots)
    if not parts:
        raise InputError("no shots to calibrate from")
    names = [str(p.attrs.get("campaign") or p.attrs.get("source") or f"campaign {i + 1}") for i, p in enumerate(parts)]
    table = {
        key: np.concatenate([_column(p, key) for p in parts])
        for key in (
            "particle_velocity",
            "particle_mass",
            f"{target}_fit_rise_time",
            f"{target}_impact_charge",
            f"{target}_fit_success",
            "ion_grid_impact_charge",
            "ion_grid_fit_success",
        )
    }
    campaign = np.concatenate([np.full(p.sizes["event"], i) for i, p in enumerate(parts)])
    rng = np.random.default_rng(seed)
    velocity = table["particle_velocity"]
    target_ok = table[f"{target}_fit_success"] > 0
    base = {"no QD velocity": ~(velocity > 0), f"{target} fit not successful": (velocity > 0) & ~target_ok}
    usable = (velocity > 0) & target_ok
    rise = table[f"{target}_fit_rise_time"]
    rise_fit = _fit_curve(
        velocity, rise, usable, campaign, base, "non-positive rise time", bootstrap, outlier_sigma, rng
    )
    with np.errstate(all="ignore"):
        charge_yield = np.abs(table[f"{target}_impact_charge"]) * COULOMB_PER_PICOCOULOMB / table["particle_mass"]
    yield_fit = _fit_curve(
        velocity, charge_yield, usable, campaign, base, "no mass or charge", bootstrap, outlier_sigma, rng
    )
    ion_ok = table["ion_grid_fit_success"] > 0
    with np.errstate(all="ignore"):
        ratio = np.abs(table["ion_grid_impact_charge"]) / np.abs(table[f"{target}_impact_charge"])
    ion_base = {**base, "ion grid fit not successful": usable & ~ion_ok}
    ion_grid = _fit_ion_grid(velocity, ratio, usable & ion_ok, campaign, ion_base, bootstrap, outlier_sigma, rng)
    return LabCalibration(rise_fit, yield_fit, ion_grid, tuple(names), int(velocity.size), bootstrap)


def write_calibration(result: LabCalibration, path: PathLike) -> Path:
    """Write ``result`` in the calibration file format of :func:`idex.science.velocity_calibration.load_calibration`.

    Returns
    -------
    pathlib.Path
    """
    from idex.atomic import atomic_path

    rise, charge_yield = result.rise_time, result.charge_yield
    low = max(rise.velocity_range[0], charge_yield.velocity_range[0])
    high = min(rise.velocity_range[1], charge_yield.velocity_range[1])
    today = datetime.date.today().isoformat()
    doc: dict[str, Any] = {
        "status": "lab",
        "source": f"idex calibrate {__version__}, {today}: {result.shots} shots of {len(result.campaigns)} "
        f"campaign(s): {', '.join(result.campaigns)}",
        "campaigns": list(result.campaigns),
        "created": today,
        "idex_version": __version__,
        "bootstrap": result.bootstrap,
        "rise_time": {**_curve_entry(rise), "units": "us"},
        "yield": {**_curve_entry(charge_yield), "units": "C/kg"},
        # the method's own bracket (the shipped file's): roots beyond the valid range are flagged, not extrapolated
        "search_log10_velocity": [float(x) for x in load_calibration().bracket],
        "valid_velocity_kms": [float(low), float(high)],
    }
    grid = result.ion_grid
    if grid is not None:
        doc["ion_grid"] = {
            **{k: float(v) for k, v in grid.parameters.items()},
            "ratio_range": [float(x) for x in grid.ratio_range],
            "stderr": {k: float(v) for k, v in grid.stderr.items()},
            "valid_velocity_kms": [float(x) for x in grid.velocity_range],
            "log10_sigma": {"ratio": [float(r) for r in grid.band_ratio], "dex": [float(d) for d in grid.band_sigma]},
            "residual_rms_dex": float(grid.residual_rms),
            "shots_used": grid.used,
            "shots_excluded": dict(grid.excluded),
        }
    else:
        doc["ion_grid"] = {
            "scale": float("nan"),
            "exponent": float("nan"),
            "offset": float("nan"),
            "ratio_range": [float("nan"), float("nan")],
            "comment": "not calibrated: no ion-grid fits",
        }
    text = "# IDEX velocity and mass calibration from dust-accelerator shots (idex calibrate).\n" + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=120
    )
    with atomic_path(path, overwrite=True) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def _column(ds: xr.Dataset, name: str) -> np.ndarray:
    if name not in ds:
        return np.zeros(ds.sizes["event"]) if name.endswith("_success") else np.full(ds.sizes["event"], np.nan)
    return ds[name].values.astype(np.float64)


def _curve_entry(fit: CurveFit) -> dict[str, Any]:
    return {
        **{k: float(getattr(fit.curve, k)) for k in CURVE_PARAMETERS},
        "stderr": {k: float(v) for k, v in fit.stderr.items()},
        "valid_velocity_kms": [float(x) for x in fit.velocity_range],
        "log10_sigma": {
            "velocity_kms": [float(v) for v in fit.band_velocity],
            "dex": [float(s) for s in fit.band_sigma],
        },
        "residual_rms_dex": float(fit.residual_rms),
        "shots_used": fit.used,
        "shots_excluded": dict(fit.excluded),
    }


def _fit_curve(
    velocity: np.ndarray,
    value: np.ndarray,
    usable: np.ndarray,
    campaign: np.ndarray,
    base: Mapping[str, np.ndarray],
    bad_value: str,
    bootstrap: int,
    outlier_sigma: float,
    rng: np.random.Generator,
) -> CurveFit:
    excluded = {reason: int(mask.sum()) for reason, mask in base.items()}
    positive = usable & (value > 0) & np.isfinite(value)
    excluded[bad_value] = int((usable & ~positive).sum())
    if positive.sum() < 2 * len(CURVE_PARAMETERS):
        raise InputError(f"{int(positive.sum())} usable shots: a curve needs at least {2 * len(CURVE_PARAMETERS)}")
    x, y = np.log10(velocity[positive]), np.log10(value[positive])
    first = _best_curve(x, y)
    residual = y - _log10_curve(first, x)
    scatter = robust_sigma(residual)
    inlier = np.abs(residual) <= outlier_sigma * scatter
    excluded["outlier"] = int((~inlier).sum())
    x, y = x[inlier], y[inlier]
    best = _fit_from(_best_curve(x, y, start=first), x, y, scatter)
    draws = []
    for _ in range(bootstrap):
        pick = rng.integers(0, x.size, x.size)
        draws.append(_fit_from(best, x[pick], y[pick], scatter))
    samples = np.array(draws).reshape(-1, len(CURVE_PARAMETERS))
    grid = np.linspace(x.min(), x.max(), _BAND_POINTS)
    band = np.std([_log10_curve(s, grid) for s in samples], axis=0) if bootstrap > 1 else np.zeros(grid.size)
    external = _external(samples) if bootstrap > 1 else np.full((1, len(CURVE_PARAMETERS)), np.nan)
    kept = np.flatnonzero(positive)[inlier]
    return CurveFit(
        BrokenPowerLaw(*_external(best[None])[0]),
        dict(zip(CURVE_PARAMETERS, np.std(external, axis=0), strict=True)),
        (float(10 ** x.min()), float(10 ** x.max())),
        10**grid,
        band,
        float(np.sqrt(np.mean((y - _log10_curve(best, x)) ** 2))),
        int(x.size),
        excluded,
        velocity[kept],
        value[kept],
        campaign[kept],
    )


def _log10_curve(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The broken power law in log10 with internal parameters ``log_a, a1, a2, a3, log10 vb, log10 vc, log10 k``."""
    log_a, a1, a2, a3, log_vb, log_vc, log_k = p
    k = 10.0**log_k
    with np.errstate(over="ignore"):
        return (
            log_a
            + a1 * x
            + (a2 - a1) / k * np.logaddexp(0, k * (x - log_vb) * np.log(10)) / np.log(10)
            + (a3 - a2) / k * np.logaddexp(0, k * (x - log_vc) * np.log(10)) / np.log(10)
        )


def _external(p: np.ndarray) -> np.ndarray:
    """Internal parameters to the file's ``log_a, a1, a2, a3, vb, vc, k``."""
    out = np.array(p, dtype=np.float64, copy=True)
    out[:, 4:] = 10.0 ** out[:, 4:]
    return out


def _bounds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = x.min() - 0.3, x.max() + 0.3
    return (np.array([-20, -10, -10, -10, lo, lo, 0.0]), np.array([20, 10, 10, 10, hi, hi, 1.7]))


def _best_curve(x: np.ndarray, y: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Least-squares fit (soft-L1) from several break-velocity starts (and ``start``), lowest cost kept."""
    slope, intercept = np.polyfit(x, y, 1)
    quantiles = np.quantile(x, [0.1, 0.25, 0.5, 0.75, 0.9])
    starts = [
        np.array([intercept, slope, slope, slope, b, c, 0.7])
        for b, c in ((quantiles[1], quantiles[3]), (quantiles[0], quantiles[2]), (quantiles[2], quantiles[4]))
    ]
    if start is not None:
        starts.append(start)
    scale = max(robust_sigma(y - (slope * x + intercept)), 1e-3)
    fits = [_fit_from(s, x, y, scale, full=True) for s in starts]
    return min(fits, key=lambda r: r.cost).x


def _fit_from(start: np.ndarray, x: np.ndarray, y: np.ndarray, scale: float, *, full: bool = False) -> Any:
    lower, upper = _bounds(x)
    result = least_squares(
        lambda p: _log10_curve(p, x) - y,
        np.clip(start, lower + 1e-9, upper - 1e-9),
        bounds=(lower, upper),
        loss="soft_l1",
        f_scale=max(scale, 1e-3),
    )
    return result if full else result.x


def robust_sigma(residual: np.ndarray) -> float:
    """1.4826 x the median absolute deviation (the standard deviation of normal data), never zero."""
    return float(statistics.robust_sigma(residual)) or float(np.std(residual)) or 1e-3


def _fit_ion_grid(
    velocity: np.ndarray,
    ratio: np.ndarray,
    usable: np.ndarray,
    campaign: np.ndarray,
    base: Mapping[str, np.ndarray],
    bootstrap: int,
    outlier_sigma: float,
    rng: np.random.Generator,
) -> IonGridFit | None:
    excluded = {reason: int(mask.sum()) for reason, mask in base.items()}
    good = usable & (ratio > 0) & np.isfinite(ratio)
    excluded["non-positive charge ratio"] = int((usable & ~good).sum())
    if good.sum() < 3 * len(ION_GRID_PARAMETERS):
        return None
    r, v = ratio[good], velocity[good]

    def log_ratio(p: np.ndarray, v: np.ndarray) -> np.ndarray:  # the law solved for R: the noise is in R, not v
        with np.errstate(all="ignore"):
            return np.log10(np.maximum((v - p[2]) / p[0], 1e-12)) / p[1] - 2.0

    def fit(r: np.ndarray, v: np.ndarray, start: np.ndarray, scale: float) -> np.ndarray:
        upper_offset = max(v.min() - 1e-3, 1e-3)
        start = np.clip(start, [1e-6, -10, -50], [1e6, -1e-3, upper_offset - 1e-6])
        return least_squares(
            lambda p: log_ratio(p, v) - np.log10(r),
            start,
            bounds=([1e-6, -10, -50], [1e6, -1e-3, upper_offset]),
            loss="soft_l1",
            f_scale=scale,
        ).x

    slope, intercept = np.polyfit(np.log10(100 * r), np.log10(v), 1)
    first = fit(r, v, np.array([10**intercept, min(slope, -0.1), 0.0]), 0.05)
    residual = log_ratio(first, v) - np.log10(r)
    scatter = robust_sigma(residual)
    inlier = np.abs(residual) <= outlier_sigma * scatter
    excluded["outlier"] = int((~inlier).sum())
    r, v = r[inlier], v[inlier]
    best = fit(r, v, first, scatter)
    samples = np.array(
        [fit(r[pick], v[pick], best, scatter) for pick in (rng.integers(0, r.size, r.size) for _ in range(bootstrap))]
    ).reshape(-1, 3)
    kept = np.flatnonzero(good)[inlier]
    grid = np.geomspace(r.min(), r.max(), _BAND_POINTS)
    with np.errstate(all="ignore"):
        band = (
            np.std([np.log10(ion_grid_law(grid, *s)) for s in samples], axis=0)
            if bootstrap > 1
            else np.zeros(grid.size)
        )
    return IonGridFit(
        dict(zip(ION_GRID_PARAMETERS, best, strict=True)),
        dict(zip(ION_GRID_PARAMETERS, np.std(samples, axis=0) if bootstrap > 1 else [np.nan] * 3, strict=True)),
        (float(r.min()), float(r.max())),
        (float(v.min()), float(v.max())),
        grid,
        band,
        float(np.sqrt(np.mean((log_ratio(best, v) - np.log10(r)) ** 2))),
        int(r.size),
        excluded,
        ratio[kept],
        velocity[kept],
        campaign[kept],
    )
