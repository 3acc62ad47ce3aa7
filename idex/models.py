"""Waveform models of IDEX signals, vectorised with analytic Jacobians, and their ``lmfit`` twins.

- ``impact``: the charge signal of a dust impact on the target or ion grid (ALGORITHMS §2.2),
  ``y = baseline + H(t - t0) * amplitude * (1 - exp(-(t - t0)/rise)) * exp(-(t - t0)/discharge)``.
- ``emg``: an exponentially modified Gaussian with an area parameter, for TOF peaks (§2.5):
  ``area * λ/2 * exp(λ/2 (2μ + λσ² - 2t)) * erfc((μ + λσ² - t)/(√2 σ))``, whose integral is ``area``.

Every function takes ``t`` ``(n, m)`` and parameters ``p`` ``(n, k)`` and returns ``(n, m)``
(Jacobians ``(n, m, k)``), so the batched fitting engine (:mod:`idex.lm`) fits all events at once.
:func:`lmfit_model` wraps the same formulas in ``lmfit.Model`` for single fits and cross-checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc

__all__ = ["MODELS", "FitModel", "impact_peak", "lmfit_model"]

_SQRT2 = np.sqrt(2.0)
_SQRT_PI = np.sqrt(np.pi)


@dataclass(frozen=True)
class FitModel:
    """A model: parameter names, function and Jacobian."""

    name: str
    parameters: tuple[str, ...]
    function: Callable[[np.ndarray, np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _impact_terms(t: np.ndarray, p: np.ndarray):
    t0, baseline, amplitude, rise, discharge = (p[:, i, None] for i in range(5))
    s = t - t0
    on = s > 0
    s = np.where(on, s, 0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        grow = np.exp(-s / rise)
        decay = np.exp(-s / discharge)
    return on, s, grow, decay, baseline, amplitude, rise, discharge


def _impact(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    on, _, grow, decay, baseline, amplitude, _, _ = _impact_terms(t, p)
    return baseline + np.where(on, amplitude * (1.0 - grow) * decay, 0.0)


def _impact_jacobian(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    on, s, grow, decay, _, amplitude, rise, discharge = _impact_terms(t, p)
    shape = (1.0 - grow) * decay
    with np.errstate(all="ignore"):
        columns = (
            amplitude * (-grow * decay / rise + shape / discharge),  # d/dt0
            np.ones_like(s),  # d/dbaseline
            shape,  # d/damplitude
            -amplitude * grow * decay * s / rise**2,  # d/drise
            amplitude * shape * s / discharge**2,  # d/ddischarge
        )
    jac = np.stack([np.where(on, c, 0.0) for c in columns], axis=-1)
    jac[..., 1] = 1.0
    return jac


def _emg(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    mu, sigma, lam, area = (p[:, i, None] for i in range(4))
    with np.errstate(all="ignore"):
        z = (mu + lam * sigma**2 - t) / (_SQRT2 * sigma)
        return area * 0.5 * lam * np.exp(0.5 * lam * (2 * mu + lam * sigma**2 - 2 * t)) * erfc(z)


def _emg_jacobian(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    mu, sigma, lam, area = (p[:, i, None] for i in range(4))
    with np.errstate(all="ignore"):
        exponent = 0.5 * lam * (2 * mu + lam * sigma**2 - 2 * t)
        z = (mu + lam * sigma**2 - t) / (_SQRT2 * sigma)
        e = np.exp(exponent)
        c = erfc(z)
        g = np.exp(exponent - z**2)  # e * exp(-z^2), stable where erfc underflows
        base = 0.5 * lam * e * c
        dz_dmu = 1 / (_SQRT2 * sigma)
        dz_dsigma = (lam * sigma**2 - mu + t) / (_SQRT2 * sigma**2)
        dz_dlam = sigma / _SQRT2
        derfc = -2 / _SQRT_PI * g * 0.5 * lam  # d(0.5 lam e erfc)/dz without the e*erfc part
        d_mu = area * (lam * base + derfc * dz_dmu)
        d_sigma = area * (lam**2 * sigma * base + derfc * dz_dsigma)
        d_lam = area * (base / lam + (mu + lam * sigma**2 - t) * base + derfc * dz_dlam)
        d_area = base
    return np.stack(np.broadcast_arrays(d_mu, d_sigma, d_lam, d_area), axis=-1)


MODELS = {
    "impact": FitModel("impact", ("time_of_impact", "baseline", "amplitude", "rise_time", "discharge_time"),
                       _impact, _impact_jacobian),
    "emg": FitModel("emg", ("center", "sigma", "decay_rate", "area"), _emg, _emg_jacobian),
}
"""Models by name, as referenced from the ``fits`` section of a schema."""


def impact_peak(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Analytic peak of the impact model: time ``t0 + rise ln(1 + discharge/rise)`` and signed height.

    Parameters
    ----------
    params : numpy.ndarray
        ``(n, 5)`` impact parameters in :data:`MODELS` order.

    Returns
    -------
    peak_time, peak_height : numpy.ndarray
        The height is ``y(peak) - baseline``; its absolute value is the impact charge.
    """
    t0, _, amplitude, rise, discharge = params.T
    with np.errstate(all="ignore"):
        peak = t0 + rise * np.log1p(discharge / rise)
        s = peak - t0
        height = amplitude * (1 - np.exp(-s / rise)) * np.exp(-s / discharge)
    return peak, height


def lmfit_model(name: str):
    """The model as an ``lmfit.Model`` with named parameters (for single fits and cross-checks).

    Examples
    --------
    >>> model = lmfit_model("impact")
    >>> model.param_names
    ['time_of_impact', 'baseline', 'amplitude', 'rise_time', 'discharge_time']
    """
    import lmfit

    spec = MODELS[name]

    def function(t, **values):
        p = np.array([[values[k] for k in spec.parameters]], dtype=float)
        return spec.function(np.atleast_2d(t), p)[0]

    function.__signature__ = _signature(spec.parameters)  # lmfit reads parameter names from the signature
    function.__name__ = name
    return lmfit.Model(function, independent_vars=["t"])


def _signature(names: tuple[str, ...]):
    import inspect

    kinds = [inspect.Parameter("t", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    kinds += [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=1.0) for n in names]
    return inspect.Signature(kinds)
