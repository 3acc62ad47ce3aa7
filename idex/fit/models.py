"""Waveform models of IDEX signals, compiled with analytic Jacobians, and their ``lmfit`` twins.

- ``impact``: the charge signal of a dust impact on the target or ion grid (ALGORITHMS §2.2),
  ``y = baseline + H(t - t0) * amplitude * (1 - exp(-(t - t0)/rise)) * exp(-(t - t0)/discharge)``.
- ``emg``: an exponentially modified Gaussian with an area parameter, for TOF peaks (§2.5):
  ``area * λ/2 * exp(λ/2 (2μ + λσ² - 2t)) * erfc((μ + λσ² - t)/(√2 σ))``, whose integral is ``area``.
- ``qd``: the charge a grain induces on an accelerator pickup tube (§2.6): entry ramp, decay while
  inside, exit ramp, decay after; parameters entry time, charge and velocity, with the tube length,
  diameter and decay time as fixed constants (:meth:`FitModel.with_constants`).

The formulas live in one compiled function, :func:`evaluate` (numba), which fills the values and,
on request, the Jacobian of one event. The fitting engine (:mod:`idex.fit.engine`) calls it hundreds of
times per event from compiled code, which is why it is compiled: NumPy would allocate a dozen
temporaries per call (``benchmarks/fit.py`` measures the result). :meth:`FitModel.function` and
:meth:`FitModel.jacobian` apply it to ``(n_events, n_samples)`` arrays, and :func:`lmfit_model`
wraps it in an ``lmfit.Model`` for single fits and cross-checks.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass

import numba
import numpy as np

from idex.threads import blocks, run_blocks

__all__ = ["MODELS", "FitModel", "evaluate", "impact_peak", "lmfit_model"]

IMPACT, EMG, QD = 0, 1, 2
_SQRT2 = math.sqrt(2.0)
_SQRT_PI = math.sqrt(math.pi)


@numba.njit(cache=True)
def _impact(t, p, f, jac, want_jacobian):  # pragma: no cover - compiled
    t0, baseline, amplitude, rise, discharge = p[0], p[1], p[2], p[3], p[4]
    for j in range(t.size):
        s = t[j] - t0
        if s > 0:
            grow = math.exp(-s / rise)
            decay = math.exp(-s / discharge)
            shape = (1.0 - grow) * decay
            f[j] = baseline + amplitude * shape
            if want_jacobian:
                jac[j, 0] = amplitude * (-grow * decay / rise + shape / discharge)
                jac[j, 2] = shape
                jac[j, 3] = -amplitude * grow * decay * s / (rise * rise)
                jac[j, 4] = amplitude * shape * s / (discharge * discharge)
        else:
            f[j] = baseline
            if want_jacobian:
                jac[j, 0] = 0.0
                jac[j, 2] = 0.0
                jac[j, 3] = 0.0
                jac[j, 4] = 0.0
        if want_jacobian:
            jac[j, 1] = 1.0


@numba.njit(cache=True)
def _emg(t, p, f, jac, want_jacobian):  # pragma: no cover - compiled
    mu, sigma, lam, area = p[0], p[1], p[2], p[3]
    for j in range(t.size):
        exponent = 0.5 * lam * (2.0 * mu + lam * sigma * sigma - 2.0 * t[j])
        z = (mu + lam * sigma * sigma - t[j]) / (_SQRT2 * sigma)
        tail = math.erfc(z)
        base = 0.5 * lam * math.exp(exponent) * tail if tail > 0 else 0.0
        f[j] = area * base
        if want_jacobian:
            # d/dz of 0.5 lam e^E erfc(z), written as one exponential so it stays finite where erfc underflows
            derfc = -lam / _SQRT_PI * math.exp(exponent - z * z)
            jac[j, 0] = area * (lam * base + derfc / (_SQRT2 * sigma))
            jac[j, 1] = area * (
                lam * lam * sigma * base + derfc * (lam * sigma * sigma - mu + t[j]) / (_SQRT2 * sigma * sigma)
            )
            jac[j, 2] = area * (base / lam + (mu + lam * sigma * sigma - t[j]) * base + derfc * sigma / _SQRT2)
            jac[j, 3] = base


@numba.njit(cache=True)
def _qd_values(t, p, constants, f):  # pragma: no cover - compiled
    """Charge induced on a pickup tube by a charged grain flying through it (ALGORITHMS §2.6).

    p = (t0 [µs], q [V], v [km/s]); constants = (tube length [cm], tube diameter [cm], decay time [µs]).
    """
    t0, q, v = p[0], p[1], p[2]
    length, diameter, tau = constants[0], constants[1], constants[2]
    entry = diameter / v * 10.0  # cm / (km/s) = 10 µs
    body = (length - 2.0 * diameter) / v * 10.0
    level = q * math.exp(-body / tau)  # at the start of the exit ramp
    after = level - q  # at the end of the exit ramp
    for j in range(t.size):
        s = t[j] - t0
        if s <= 0.0:
            f[j] = 0.0
        elif s < entry:
            f[j] = q * s / entry
        elif s < entry + body:
            f[j] = q * math.exp(-(s - entry) / tau)
        elif s < 2.0 * entry + body:
            f[j] = level - q * (s - entry - body) / entry
        else:
            f[j] = after * math.exp(-(s - 2.0 * entry - body) / tau)


@numba.njit(cache=True)
def _qd(t, p, constants, f, jac, want_jacobian):  # pragma: no cover - compiled
    _qd_values(t, p, constants, f)
    if want_jacobian:  # piecewise with moving break points: central differences
        shifted = np.empty(t.size)
        back = np.empty(t.size)
        for i in range(3):
            step = 1e-6 * max(abs(p[i]), 1e-3)
            up = p.copy()
            down = p.copy()
            up[i] += step
            down[i] -= step
            _qd_values(t, up, constants, shifted)
            _qd_values(t, down, constants, back)
            for j in range(t.size):
                jac[j, i] = (shifted[j] - back[j]) / (2.0 * step)


@numba.njit(cache=True)
def evaluate(model, t, p, f, jac, want_jacobian, constants):  # pragma: no cover - compiled
    """Fill ``f`` (values on ``t``) and, if ``want_jacobian``, ``jac`` for parameters ``p`` of one event."""
    if model == IMPACT:
        _impact(t, p, f, jac, want_jacobian)
    elif model == EMG:
        _emg(t, p, f, jac, want_jacobian)
    else:
        _qd(t, p, constants, f, jac, want_jacobian)


@numba.njit(cache=True, nogil=True)
def _rows(model, t, p, want_jacobian, constants):  # pragma: no cover - compiled
    n, m = t.shape
    f = np.empty((n, m))
    jac = np.zeros((n, m, p.shape[1])) if want_jacobian else np.zeros((1, 1, p.shape[1]))
    for i in range(n):
        evaluate(model, t[i], p[i], f[i], jac[i] if want_jacobian else jac[0], want_jacobian, constants)
    return f, jac


@dataclass(frozen=True)
class FitModel:
    """A model: its compiled id, parameter names and the parameters a determined fit must pin down.

    ``scales`` must come out with a standard error below their magnitude and ``locations`` (times)
    inside the fitted record, or the fit is undetermined (:class:`~idex.model.quality.FitStatus`). Shape
    parameters that the record may legitimately not constrain (a discharge time far longer than the
    record, the tail of a near-Gaussian peak) are in neither.
    """

    name: str
    id: int
    parameters: tuple[str, ...]
    locations: tuple[str, ...] = ()
    scales: tuple[str, ...] = ()
    constants: tuple[float, ...] = ()

    def _prepare(self, t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.ascontiguousarray(np.atleast_2d(p), dtype=np.float64)
        t = np.ascontiguousarray(np.broadcast_to(t, (p.shape[0], np.shape(t)[-1])), dtype=np.float64)
        t.flags.writeable = False  # always read-only: numba compiles read-only and writable arrays apart
        return t, p

    def function(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Values, ``(n, m)``, for times ``t`` ``(n, m)`` and parameters ``p`` ``(n, k)``."""
        return self._in_blocks(t, p, jacobian=False)

    def jacobian(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Derivatives with respect to the parameters, ``(n, m, k)``."""
        return self._in_blocks(t, p, jacobian=True)

    def _in_blocks(self, t: np.ndarray, p: np.ndarray, *, jacobian: bool) -> np.ndarray:
        """Rows evaluated in blocks on parallel threads (:mod:`idex.threads`)."""
        t, p = self._prepare(t, p)
        parts = run_blocks(
            lambda start, stop: _rows(self.id, t[start:stop], p[start:stop], jacobian, self.constant_array)[
                1 if jacobian else 0
            ],
            blocks(p.shape[0], minimum=256),
        )
        return np.concatenate(parts)

    @property
    def constant_array(self) -> np.ndarray:
        """The model's fixed constants as the compiled code takes them."""
        return np.array(self.constants if self.constants else (0.0,), dtype=np.float64)

    def with_constants(self, *constants: float) -> FitModel:
        """A copy with fixed constants (e.g. the QD tube geometry)."""
        return dataclasses.replace(self, constants=tuple(float(c) for c in constants))


MODELS = {
    "impact": FitModel(
        "impact",
        IMPACT,
        ("time_of_impact", "baseline", "amplitude", "rise_time", "discharge_time"),
        locations=("time_of_impact",),
        scales=("amplitude", "rise_time"),
    ),
    "emg": FitModel(
        "emg", EMG, ("center", "sigma", "decay_rate", "area"), locations=("center",), scales=("sigma", "area")
    ),
    "qd": FitModel(
        "qd", QD, ("entry_time", "charge", "velocity"), locations=("entry_time",), scales=("charge", "velocity")
    ),
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
        return spec.function(np.atleast_2d(t), np.array([[values[k] for k in spec.parameters]]))[0]

    parameters = [inspect.Parameter("t", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=1.0) for n in spec.parameters]
    function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # lmfit reads the names
    function.__name__ = name
    return lmfit.Model(function, independent_vars=["t"])
