"""A lab TOF calibration as a polynomial in sqrt(mass): ``t = a0 + a1 sqrt(m) + a2 m + a3 m^1.5 + ...``, inverted.

The seed toolkit's form: ``t`` is the flight time from the trigger (µs) and the coefficients come from a lab
calibration (the linear law ``shift + stretch sqrt(m)`` is the case ``a2 = a3 = ... = 0``). The inverse is
found on the branch where ``t`` grows with ``sqrt(m)`` from ``sqrt(m) = 0``: each time is bracketed on a fine
grid of that branch and refined by interpolation and Newton steps. Times before ``a0`` or beyond the branch are
NaN, never a mass from the wrong branch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from idex.exceptions import InputError

__all__ = ["polynomial_mass"]

GRID = 4097
"""Grid points on the monotonic branch used to bracket each time."""


def polynomial_mass(t: np.ndarray, coefficients: Sequence[float], max_mass: float = 500.0) -> np.ndarray:
    """Masses (u) of flight times ``t`` (µs from the trigger) under ``t = sum(a_k sqrt(m)^k)``.

    Parameters
    ----------
    t : numpy.ndarray
        Flight times.
    coefficients : sequence of float
        ``a0, a1, a2, ...`` (µs, µs/√u, µs/u, ...); ``a1`` must be positive.
    max_mass : float
        Largest mass considered (u).

    Returns
    -------
    numpy.ndarray
        Masses; NaN where ``t`` is not on the increasing branch between 0 and ``max_mass``.

    Examples
    --------
    >>> polynomial_mass(np.array([-1.436 + 1.4374 * 56 ** 0.5]), [-1.436, 1.4374]).round(6).tolist()
    [56.0]
    >>> bool(np.isnan(polynomial_mass(np.array([-2.0]), [-1.436, 1.4374])[0]))
    True
    """
    a = np.asarray(coefficients, dtype=np.float64)
    if a.size < 2 or not a[1] > 0:
        raise InputError(f"polynomial TOF calibration {list(coefficients)}: needs a0 and a positive a1")
    times = np.asarray(t, dtype=np.float64)
    power = np.polynomial.Polynomial(a)
    slope = power.deriv()
    x = np.linspace(0.0, np.sqrt(max_mass), GRID)
    rising = slope(x) > 0
    end = GRID if rising.all() else int(np.argmin(rising))  # the branch ends where t stops growing
    x, grid_t = x[:end], power(x[:end])
    inside = (
        np.isfinite(times) & (times >= grid_t[0]) & (times <= grid_t[-1]) if end > 1 else np.zeros_like(times, bool)
    )
    root = np.full(times.shape, np.nan)
    if inside.any():
        guess = np.interp(times[inside], grid_t, x)
        for _ in range(3):
            guess = guess - (power(guess) - times[inside]) / slope(guess)
        root[inside] = np.clip(guess, 0.0, x[-1])
    return root**2
