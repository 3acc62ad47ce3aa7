"""Initial-guess rules for fits, computed from the data of every event at once.

A schema names a rule for each parameter (``initial: rise_10_90``); the rules work in whatever
units the data and time axis use, so nothing is tuned to one unit system. All functions take the
time ``t`` and signal ``y`` as ``(n_events, n_samples)`` arrays and a boolean ``baseline`` mask of
the same shape marking pre-impact samples.

:func:`starts` turns the rules into several starts per event, as an analyst would try them by hand:
the rules' own guess, then each onset, rise and decay alternative of :data:`ALTERNATIVES` (an onset at
the trigger or just before the peak, a rise four times faster or slower, a decay ten times longer),
then the shapes of :data:`COMBINED` (a step, a ramp).
The fitting engine keeps the best; :mod:`idex.fit.detection` then decides whether the record holds a pulse.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ALTERNATIVES", "COMBINED", "RULES", "SignalShape", "shape_of", "starts"]

_LN9 = np.log(9.0)
_SMOOTHING = 3
"""Samples in the running mean that finds the pulse extreme."""


class SignalShape:
    """Features of each event's pulse that the guess rules share (computed once)."""

    def __init__(self, t: np.ndarray, y: np.ndarray, baseline: np.ndarray, *, positive: bool) -> None:
        n, m = y.shape
        rows = np.arange(n)
        counts = baseline.sum(axis=1)
        fallback = np.zeros_like(baseline)
        fallback[:, : max(1, m // 10)] = True
        use = np.where((counts >= 2)[:, None], baseline, fallback)
        self.baseline = np.nanmean(np.where(use, y, np.nan), axis=1)
        self.noise = np.nanstd(np.where(use, y, np.nan), axis=1)
        signal = y - self.baseline[:, None]
        smooth = _boxcar(signal, _SMOOTHING)
        self.peak_index = np.argmax(smooth, axis=1) if positive else np.argmax(np.abs(smooth), axis=1)
        self.extreme = smooth[rows, self.peak_index]
        self.peak_time = t[rows, self.peak_index]
        level = np.abs(smooth) / np.where(self.extreme == 0, np.nan, np.abs(self.extreme))[:, None]
        before = np.arange(m)[None, :] <= self.peak_index[:, None]
        self.t10 = _last_below_then_crossing(t, level, before, 0.1)
        self.t90 = _last_below_then_crossing(t, level, before, 0.9)
        after = np.arange(m)[None, :] > self.peak_index[:, None]
        below_e = after & (level < np.exp(-1.0))
        has = below_e.any(axis=1)
        first = np.argmax(below_e, axis=1)
        self.t_decay = np.where(has, t[rows, first], t[:, -1])
        self.dt = np.nanmedian(np.diff(t, axis=1), axis=1)
        self.t_first = t[:, 0]
        self.span = t[:, -1] - t[:, 0]


def _boxcar(y: np.ndarray, width: int) -> np.ndarray:
    """Running mean over ``width`` samples along each row (edges padded)."""
    padded = np.pad(y, ((0, 0), (width // 2, width // 2)), mode="edge")
    cumulative = np.cumsum(padded, axis=1)
    cumulative = np.concatenate([np.zeros((y.shape[0], 1)), cumulative], axis=1)
    return (cumulative[:, width:] - cumulative[:, :-width]) / width


def _last_below_then_crossing(t: np.ndarray, level: np.ndarray, before: np.ndarray, fraction: float) -> np.ndarray:
    """Time where the rising edge before the peak crosses ``fraction`` of the peak height."""
    below = before & (level < fraction)
    n, m = level.shape
    last_below = m - 1 - np.argmax(below[:, ::-1], axis=1)
    has = below.any(axis=1)
    index = np.where(has, np.minimum(last_below + 1, m - 1), 0)
    return t[np.arange(n), index]


def shape_of(t: np.ndarray, y: np.ndarray, baseline: np.ndarray, *, positive: bool) -> SignalShape:
    """Compute the pulse features of every event."""
    return SignalShape(t, y, baseline, positive=positive)


def _rise(s: SignalShape) -> np.ndarray:
    rise = (s.t90 - s.t10) / _LN9
    return np.where(np.isfinite(rise) & (rise > 0), rise, s.dt)


RULES: dict[str, Callable[[SignalShape], np.ndarray]] = {
    "baseline_mean": lambda s: s.baseline,
    "extreme": lambda s: np.where(s.extreme == 0, s.noise, s.extreme),
    "rise_10_90": _rise,
    "onset": lambda s: s.t10 - _rise(s) * np.log(1 / 0.9),
    "decay_1_over_e": lambda s: np.maximum(s.t_decay - s.peak_time, 2 * _rise(s)),
    "zero": lambda s: np.zeros_like(s.baseline),
}
"""Rules by name: baseline mean; signed pulse extreme; 10–90 % rise time / ln 9 (exact for an
exponential rise); onset extrapolated from the 10 % crossing; time from the peak to 1/e of it."""

ALTERNATIVES: dict[str, Callable[[SignalShape], list[np.ndarray]]] = {
    "onset": lambda s: [np.zeros_like(s.baseline), s.peak_time - _rise(s), s.t10 - 4 * _rise(s)],
    "rise_10_90": lambda s: [_rise(s) / 4, _rise(s) * 4, s.span],
    "decay_1_over_e": lambda s: [RULES["decay_1_over_e"](s) * 10],
}
"""Further starts by rule: onsets at the trigger (t = 0), one rise time before the peak and well before the
10 % crossing; rises four times faster and slower, and as slow as the record is long (a drift); a decay
ten times longer."""

COMBINED: tuple[dict[str, Callable[[SignalShape], np.ndarray]], ...] = (
    {
        "onset": lambda s: np.zeros_like(s.baseline),
        "rise_10_90": lambda s: s.dt,
        "decay_1_over_e": lambda s: 100 * s.span,
    },
    {"onset": lambda s: s.t_first, "rise_10_90": lambda s: 8 * s.span, "decay_1_over_e": lambda s: 100 * s.span},
)
"""Starts that change several rules at once: a step at the trigger that hardly decays, and a slow ramp over
the whole record."""


def starts(shape: SignalShape, rules: list[str]) -> np.ndarray:
    """Initial parameters ``(n_starts, n_events, n_parameters)``: the rules' guess, then one alternative at a time.

    Parameters
    ----------
    shape : SignalShape
        Pulse features of every event.
    rules : list of str
        The initial-guess rule of each parameter, in model order.
    """
    first = np.stack([RULES[rule](shape) for rule in rules], axis=1)
    out = [first]
    for i, rule in enumerate(rules):
        for value in ALTERNATIVES.get(rule, lambda s: [])(shape):
            start = first.copy()
            start[:, i] = value
            out.append(start)
    for combination in COMBINED:
        if set(combination) <= set(rules):
            start = first.copy()
            for rule, value in combination.items():
                start[:, rules.index(rule)] = value(shape)
            out.append(start)
    return np.stack(out)
