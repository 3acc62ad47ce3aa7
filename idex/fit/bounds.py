"""Bounds by transform (MINUIT's, as ``lmfit`` uses): the fit iterates on unbounded internal parameters.

Two bounds map through ``sin``, one bound through ``sqrt(u² + 1)`` (scaled by the start's distance from it,
so the transform is unit-free); a parameter sits *pinned* at a bound where its transform is flat. The
compiled functions here are called from the engine's loop (:mod:`idex.fit.engine`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "BOTH",
    "BOTH_LOG",
    "FREE",
    "LOWER",
    "PINNED",
    "START_MARGIN",
    "UPPER",
    "bound_kinds",
    "is_pinned",
    "one_sided_scale",
    "to_external",
    "to_internal",
]

FREE, LOWER, UPPER, BOTH, BOTH_LOG = 0, 1, 2, 3, 4
"""Transform kinds: no bound, a lower or an upper bound (``sqrt``), two bounds (``sin``), and two positive
bounds at least a decade apart (``sin`` of the logarithm, so small values keep their resolution)."""

PINNED = 0.05
"""Internal distance from a bound's flat point below which a parameter counts as pinned at that bound."""
START_MARGIN = 0.1
"""Starts on a bound are moved this far inside it in internal units (the transform is flat there)."""


def bound_kinds(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Transform kind of every parameter from its bounds."""
    has_lower, has_upper = np.isfinite(lower), np.isfinite(upper)
    with np.errstate(all="ignore"):
        logarithmic = has_lower & has_upper & (lower > 0) & (upper >= 10 * lower)
    kinds = np.where(has_lower, LOWER, FREE)
    kinds = np.where(has_upper, UPPER, kinds)
    kinds = np.where(has_lower & has_upper, BOTH, kinds)
    return np.where(logarithmic, BOTH_LOG, kinds).astype(np.int64)


@numba.njit(cache=True)
def to_external(u, kind, lower, upper, scale, x, dxdu):  # pragma: no cover - compiled
    """Map internal parameters ``u`` to bounded ``x``; fill ``dx/du`` and return whether any is pinned.

    A parameter is pinned at a bound where its transform is flat: ``|cos u| < PINNED`` for two bounds,
    ``|u| < PINNED`` for one (its distance to the bound is then below ``scale * _PINNED² / 2``).
    """
    for i in range(u.size):
        lo, hi = lower[i], upper[i]
        if kind[i] == BOTH:
            x[i] = lo + 0.5 * (hi - lo) * (math.sin(u[i]) + 1.0)
            dxdu[i] = 0.5 * (hi - lo) * math.cos(u[i])
        elif kind[i] == BOTH_LOG:
            log_lo, log_hi = math.log(lo), math.log(hi)
            x[i] = math.exp(log_lo + 0.5 * (log_hi - log_lo) * (math.sin(u[i]) + 1.0))
            dxdu[i] = x[i] * 0.5 * (log_hi - log_lo) * math.cos(u[i])
        elif kind[i] == LOWER:
            root = math.sqrt(u[i] * u[i] + 1.0)
            x[i] = lo + scale[i] * (root - 1.0)
            dxdu[i] = scale[i] * u[i] / root
        elif kind[i] == UPPER:
            root = math.sqrt(u[i] * u[i] + 1.0)
            x[i] = hi - scale[i] * (root - 1.0)
            dxdu[i] = -scale[i] * u[i] / root
        else:
            x[i] = u[i]
            dxdu[i] = 1.0


@numba.njit(cache=True)
def is_pinned(u, kind, i):  # pragma: no cover - compiled
    """Whether parameter ``i`` sits on a bound (its transform is flat there)."""
    if kind[i] == BOTH or kind[i] == BOTH_LOG:
        return abs(math.cos(u[i])) < PINNED
    if kind[i] == LOWER or kind[i] == UPPER:
        return abs(u[i]) < PINNED
    return False


@numba.njit(cache=True)
def to_internal(x, kind, lower, upper, scale, u):  # pragma: no cover - compiled
    """Inverse of :func:`to_external`; starts on or beyond a bound are moved just inside it."""
    limit = 0.5 * math.pi - START_MARGIN
    for i in range(x.size):
        lo, hi = lower[i], upper[i]
        if kind[i] == BOTH or kind[i] == BOTH_LOG:
            if kind[i] == BOTH:
                ratio = 2.0 * (x[i] - lo) / (hi - lo) - 1.0
            else:
                ratio = 2.0 * (math.log(max(x[i], lo)) - math.log(lo)) / (math.log(hi) - math.log(lo)) - 1.0
            u[i] = min(max(math.asin(min(max(ratio, -1.0), 1.0)), -limit), limit)
        elif kind[i] == LOWER or kind[i] == UPPER:
            gap = max(x[i] - lo if kind[i] == LOWER else hi - x[i], 0.0) / scale[i] + 1.0
            u[i] = max(math.sqrt(gap * gap - 1.0), START_MARGIN)
        else:
            u[i] = x[i]


def one_sided_scale(start: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Length scale of the one-sided transforms: the start's distance from its bound (so they are unit-free)."""
    with np.errstate(all="ignore"):
        distance = np.where(np.isfinite(lower), start - lower, upper - start)
        fallback = 1e-3 * np.maximum(np.abs(np.where(np.isfinite(lower), lower, upper)), 1.0)
        return np.ascontiguousarray(np.where(np.isfinite(distance) & (distance > 0), distance, fallback))
