"""One TOF spectrum from the three gains: each sample from the highest gain that holds it on scale.

The TOF signal is digitised three times, by amplifiers of high, mid and low gain (the schema's
``composition.gains``). Big lines clip the high gain; the lower gains see them on scale at a coarser
resolution. The combined spectrum, in the channels' physical unit (mA), takes every sample from the
highest gain that is not clipped within ``guard_samples`` of it.

The gains' ratios are instrument properties. Their nominal values are the ratios of the channels'
calibration factors; the measured ones come from the samples where both gains are on scale and the
higher one stands ``ratio_min_sigma`` above its noise: a least-squares slope of the lower gain against
the higher (whose relative noise is the smaller, so the slope is not biased by it), pooled over all
events (the ratio cannot change from one impact to the next), with its standard error. A measured
ratio is used when it is determined (to 5 %) and agrees with the nominal one within ``ratio_tolerance``;
otherwise the nominal ratio is used and the dataset says so (a determined ratio that disagrees is also a
``CalibrationWarning``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from idex.exceptions import CalibrationWarning, MissingKeyError
from idex.model.calibration import schema_of
from idex.model.statistics import robust_sigma
from idex.schema import Schema

__all__ = ["GainRatio", "combined_tof"]

MIN_RATIO_SAMPLES = 5
"""Fewest samples on scale in both gains for a measured ratio."""
MAX_RELATIVE_ERROR = 0.05
"""Largest relative standard error of a measured ratio that replaces the nominal one."""


@dataclass(frozen=True)
class GainRatio:
    """How many times more DN the higher gain records than ``channel`` for the same signal."""

    channel: str
    nominal: float
    measured: float
    stderr: float
    samples: int
    tolerance: float

    @property
    def determined(self) -> bool:
        """True when the measured ratio is known to ``MAX_RELATIVE_ERROR`` (relative standard error)."""
        return bool(np.isfinite(self.measured) and self.stderr <= MAX_RELATIVE_ERROR * self.measured)

    @property
    def agrees(self) -> bool:
        """True when the measured ratio is determined and within the tolerance of the nominal one."""
        return self.determined and abs(self.measured / self.nominal - 1) <= self.tolerance

    @property
    def used(self) -> float:
        """The measured ratio when it agrees with the nominal one, else the nominal ratio."""
        return self.measured if self.agrees else self.nominal


def _levels(raw: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-event baseline and noise (1.4826 MAD) of the samples before ``stop``.

    The baseline is the mean of the samples within five robust deviations of their median: the median of
    integer samples is an integer, off by up to half a DN, which a gain 40 times lower turns into a bias.
    """
    index = np.arange(raw.shape[1])[None, :]
    quiet = np.where(index < stop[:, None], raw, np.nan)
    median = np.nanmedian(quiet, axis=1)
    noise = np.maximum(robust_sigma(quiet, axis=1), 1 / math.sqrt(12))
    level = np.nanmean(np.where(np.abs(quiet - median[:, None]) <= 5 * noise[:, None], quiet, np.nan), axis=1)
    return level, noise


def _clipped(raw: np.ndarray, limits: tuple[float, float], guard: int) -> np.ndarray:
    """Samples at or beyond the ADC's usable range, widened by ``guard`` samples on each side."""
    bad = (raw <= limits[0]) | (raw >= limits[1])
    if guard:
        widened = bad.copy()
        for shift in range(1, guard + 1):
            widened[:, shift:] |= bad[:, :-shift]
            widened[:, :-shift] |= bad[:, shift:]
        bad = widened
    return bad


def _ratio(high: np.ndarray, low: np.ndarray, usable: np.ndarray) -> tuple[float, float, int]:
    """Slope of ``low`` against ``high`` (with an offset, for what is left of the baselines), inverted:
    ratio, its standard error, samples."""
    x, y = high[usable], low[usable]
    if x.size < MIN_RATIO_SAMPLES:
        return math.nan, math.nan, int(x.size)
    (slope, _), covariance = np.polyfit(x, y, 1, cov=True)
    if slope <= 0:
        return math.nan, math.nan, int(x.size)
    return 1 / slope, math.sqrt(covariance[0, 0]) / slope**2, int(x.size)


def combined_tof(ds: xr.Dataset, *, schema: Schema | None = None) -> xr.Dataset:
    """Join the TOF gains into one spectrum.

    Parameters
    ----------
    ds : xarray.Dataset
        Event model with the channels of the schema's ``composition.gains``.
    schema : Schema, optional
        Schema whose ``composition`` section to use instead of the one the data carry.

    Returns
    -------
    xarray.Dataset
        ``ds`` plus ``tof_combined`` (mA above each gain's pre-trigger baseline, on ``(event, <sample dim>)``),
        ``tof_combined_source`` (index of the gain each sample came from, -1 where every gain is
        clipped: NaN there), ``tof_combined_noise`` (mA, per event and gain) and, per lower gain,
        ``tof_gain_ratio`` with ``_stderr``, ``_nominal``, ``_samples`` and ``_used`` on a ``gain``
        dimension. The ``calibration`` attribute says which ratios were used and why.

    Examples
    --------
    >>> import idex
    >>> ds = idex.open_raw(idex.testing.sample_capture(), group="events")
    >>> combined = ds.idex.combined_tof()
    >>> combined["tof_combined"].attrs["units"], combined["gain"].values.tolist()
    ('mA', ['tof_high', 'tof_mid', 'tof_low'])
    """
    schema = schema_of(ds, schema)
    config = schema.composition
    if config is None:
        raise MissingKeyError(f"schema {schema.name!r} has no 'composition' section (pass schema= one that has)")
    specs = [schema.channels[name] for name in config.gains]
    missing = [name for name in config.gains if name not in ds]
    if missing:
        raise MissingKeyError(f"combined TOF needs the channels {', '.join(missing)}, absent from the dataset")
    clock = ds[specs[0].time].values
    dt = float(np.median(np.diff(clock)))
    trigger = ds[specs[0].trigger_time].values
    stop = np.where(np.isfinite(trigger), (trigger + config.baseline_before_trigger_us) / dt, clock.size // 4)
    stop = np.clip(stop, 2, clock.size).astype(int)
    raws, signals, noises, clips = [], [], [], []
    for spec in specs:
        raw = ds[spec.name].values.astype(np.float64)
        raw = np.where(raw == spec.fill_value, np.nan, raw)
        level, noise = _levels(raw, stop)
        raws.append(raw)
        signals.append(raw - level[:, None])
        noises.append(noise)
        clips.append(_clipped(raw, config.saturation_dn, config.guard_samples) | ~np.isfinite(raw))
    ratios = []
    for upper, lower in zip(range(len(specs) - 1), range(1, len(specs)), strict=True):
        usable = ~clips[upper] & ~clips[lower] & (signals[upper] > config.ratio_min_sigma * noises[upper][:, None])
        measured, error, count = _ratio(signals[upper], signals[lower], usable)
        nominal = specs[lower].calibration_factor / specs[upper].calibration_factor  # type: ignore[operator]
        ratios.append(GainRatio(specs[lower].name, nominal, measured, error, count, config.ratio_tolerance))
    for ratio in ratios:
        if ratio.determined and not ratio.agrees:
            warnings.warn(
                f"{ratio.channel}: measured gain ratio {ratio.measured:.4g} +- {ratio.stderr:.2g} differs from "
                f"the nominal {ratio.nominal:.4g} by more than {ratio.tolerance:.0%}: the nominal one is used "
                "(check the schema's calibration factors)",
                CalibrationWarning,
                stacklevel=2,
            )
    # physical units per DN of each gain: the first gain's factor times the (used) ratios down the chain
    factors = [float(specs[0].calibration_factor)]  # type: ignore[arg-type]
    for ratio in ratios:
        factors.append(factors[-1] * ratio.used)
    combined = np.full(signals[0].shape, np.nan)
    source = np.full(signals[0].shape, -1, dtype=np.int8)
    for index in reversed(range(len(specs))):  # the highest usable gain wins
        good = ~clips[index]
        combined = np.where(good, signals[index] * factors[index], combined)
        source = np.where(good, np.int8(index), source)
    noise = np.column_stack(noises) * np.array(factors)[None, :]
    used = ", ".join(f"{r.channel} {'measured' if r.agrees else 'nominal'} {r.used:.4g}" for r in ratios)
    provenance = (
        f"idex gains {', '.join(config.gains)} joined (schema {schema.name}); ratios to the next higher gain: "
        f"{used}; nominal = calibration factor ratios"
    )
    sample_dim = specs[0].dim
    gain = [None] + ratios
    ratio_attrs = {"long_name": "DN of the next higher gain per DN of this gain, same signal"}
    gains = ("gain", list(config.gains), {"long_name": "TOF gain channel, highest first"})
    return ds.assign_coords(gain=gains).assign(
        {
            "tof_combined": (
                ("event", sample_dim),
                combined,
                {"long_name": "TOF spectrum from the highest unclipped gain", "units": "mA", "calibration": provenance},
            ),
            "tof_combined_source": (
                ("event", sample_dim),
                source,
                {
                    "long_name": "Gain each combined sample came from (-1: every gain clipped)",
                    "flag_values": list(range(-1, len(specs))),
                    "flag_meanings": " ".join(["none", *config.gains]),
                },
            ),
            "tof_combined_noise": (
                ("event", "gain"),
                noise,
                {"long_name": "Pre-trigger noise of each gain (1.4826 MAD)", "units": "mA"},
            ),
            "tof_gain_ratio": ("gain", [r.measured if r else 1.0 for r in gain], ratio_attrs),
            "tof_gain_ratio_stderr": (
                "gain",
                [r.stderr if r else 0.0 for r in gain],
                {"long_name": "Standard error of the measured gain ratio"},
            ),
            "tof_gain_ratio_nominal": (
                "gain",
                [r.nominal if r else 1.0 for r in gain],
                {"long_name": "Gain ratio from the schema's calibration factors"},
            ),
            "tof_gain_ratio_samples": (
                "gain",
                [r.samples if r else 0 for r in gain],
                {"long_name": "Samples on scale in both gains that measured the ratio"},
            ),
            "tof_gain_ratio_used": (
                "gain",
                [r.used if r else 1.0 for r in gain],
                {"long_name": "Gain ratio applied (measured when it agrees with the nominal)"},
            ),
        }
    )
