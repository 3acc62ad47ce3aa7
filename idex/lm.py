"""Levenberg–Marquardt for many independent fits, compiled: one event after another at C speed.

Fitting thousands of events one ``lmfit`` minimiser at a time spends almost all of its time in
Python overhead. Here the whole iteration (model and analytic Jacobian, normal equations, damped
solve, bound projection, acceptance and convergence tests) runs compiled (numba) for each event in
turn, with the models of :mod:`idex.models`; only the final standard errors are computed in NumPy
for all events at once. Each event keeps its own damping; the Jacobian is only recomputed after an
accepted step. The covariance is scaled by the reduced χ² (as ``lmfit`` does with
``scale_covar=True``), so standard errors are comparable. ``benchmarks/fit.py`` measures the
speed-up against a per-event ``lmfit`` loop, and ``tests/test_fitting.py`` checks both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from idex.models import FitModel, evaluate

__all__ = ["LMResult", "STATUS_MESSAGES", "levenberg_marquardt"]

STATUS_MESSAGES = (
    "converged",
    "maximum number of iterations reached",
    "not finite: the model or data gave NaN/inf",
    "converged, but some parameters are at a bound or not constrained by the data: their errors are NaN",
)
"""Message of each status code returned in :attr:`LMResult.status`."""


@dataclass(frozen=True)
class LMResult:
    """Outcome of :func:`levenberg_marquardt`, one row per fit."""

    params: np.ndarray
    stderr: np.ndarray
    chisqr: np.ndarray
    redchi: np.ndarray
    status: np.ndarray
    iterations: np.ndarray

    @property
    def success(self) -> np.ndarray:
        """True where the fit converged (status 0 or 3)."""
        return (self.status == 0) | (self.status == 3)


@numba.njit(cache=True)
def _solve(a, b):  # pragma: no cover - compiled
    """Solve the small system ``a x = b`` by Gaussian elimination with partial pivoting (NaN if singular)."""
    k = b.size
    m = a.copy()
    x = b.copy()
    for c in range(k):
        pivot = c
        for r in range(c + 1, k):
            if abs(m[r, c]) > abs(m[pivot, c]):
                pivot = r
        if not abs(m[pivot, c]) > 1e-300:
            x[:] = np.nan
            return x
        if pivot != c:
            for j in range(k):
                m[c, j], m[pivot, j] = m[pivot, j], m[c, j]
            x[c], x[pivot] = x[pivot], x[c]
        for r in range(c + 1, k):
            factor = m[r, c] / m[c, c]
            for j in range(c, k):
                m[r, j] -= factor * m[c, j]
            x[r] -= factor * x[c]
    for c in range(k - 1, -1, -1):
        for j in range(c + 1, k):
            x[c] -= m[c, j] * x[j]
        x[c] /= m[c, c]
    return x


@numba.njit(cache=True)
def _fit_rows(model, constants, t, y, w, p0, lower, upper, max_iterations, ftol, xtol, gtol):  # pragma: no cover
    n, m = y.shape
    k = p0.shape[1]
    params = p0.copy()
    status = np.ones(n, np.int64)
    iterations = np.zeros(n, np.int64)
    f = np.empty(m)
    trial_f = np.empty(m)
    jac = np.empty((m, k))
    unused = np.empty((1, k))
    a = np.empty((k, k))
    g = np.empty(k)
    for r in range(n):
        p = np.minimum(np.maximum(params[r].copy(), lower[r]), upper[r])
        if not np.all(np.isfinite(p)):
            status[r] = 2
            continue
        evaluate(model, t[r], p, f, jac, True, constants)
        cost = 0.0
        for j in range(m):
            cost += (w[r, j] * (y[r, j] - f[j])) ** 2
        if not np.isfinite(cost):
            status[r] = 2
            continue
        damping = 1e-3
        fresh = True
        for it in range(max_iterations):
            iterations[r] = it + 1
            if fresh:
                a[:, :] = 0.0
                g[:] = 0.0
                for j in range(m):
                    if w[r, j] == 0.0:
                        continue
                    residual = y[r, j] - f[j]
                    for i in range(k):
                        g[i] += jac[j, i] * residual
                        for l in range(i + 1):
                            a[i, l] += jac[j, i] * jac[j, l]
                for i in range(k):
                    for l in range(i):
                        a[l, i] = a[i, l]
                worst = 0.0
                for i in range(k):
                    if a[i, i] > 0 and cost > 0:
                        worst = max(worst, abs(g[i]) / np.sqrt(a[i, i] * cost))
                if worst <= gtol:  # residual orthogonal to every Jacobian column: a stationary point
                    status[r] = 0
                    break
                fresh = False
            system = a.copy()
            for i in range(k):
                system[i, i] += damping * max(a[i, i], 1e-300)
            step = _solve(system, g)
            trial = np.minimum(np.maximum(p + step, lower[r]), upper[r])
            new_cost = np.inf
            if np.all(np.isfinite(trial)):
                evaluate(model, t[r], trial, trial_f, unused, False, constants)
                new_cost = 0.0
                for j in range(m):
                    new_cost += (w[r, j] * (y[r, j] - trial_f[j])) ** 2
            if np.isfinite(new_cost) and new_cost <= cost:
                moved = True
                for i in range(k):
                    if abs(trial[i] - p[i]) > xtol * (abs(p[i]) + xtol):
                        moved = False
                small = (cost - new_cost) <= ftol * max(new_cost, 1e-300) or moved
                p = trial
                cost = new_cost
                damping = max(damping / 10.0, 1e-12)
                if small:
                    status[r] = 0
                    break
                evaluate(model, t[r], p, f, jac, True, constants)
                fresh = True
            else:
                damping *= 10.0
                if damping > 1e16:  # no direction lowers chi-square: at a minimum
                    status[r] = 0
                    break
        params[r] = p
    return params, status, iterations


def levenberg_marquardt(
    model: FitModel,
    t: np.ndarray,
    y: np.ndarray,
    p0: np.ndarray,
    *,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    max_iterations: int = 200,
    ftol: float = 1.5e-8,
    xtol: float = 1.5e-8,
    gtol: float = 1e-10,
) -> LMResult:
    """Fit ``y ≈ model(t, p)`` independently for every row.

    Parameters
    ----------
    model : FitModel
        One of :data:`idex.models.MODELS`.
    t, y : numpy.ndarray
        ``(n, m)`` abscissae and data. Rows may differ in their abscissae.
    p0 : numpy.ndarray
        ``(n, k)`` initial parameters.
    lower, upper : numpy.ndarray, optional
        ``(k,)`` or ``(n, k)`` bounds (``-inf``/``inf`` for none).
    mask : numpy.ndarray, optional
        ``(n, m)`` booleans: samples that take part in the fit (default all).
    max_iterations : int
        Iteration limit per row.
    ftol, xtol : float
        Relative tolerances on the χ² decrease and on the step (``lmfit``'s defaults).
    gtol : float
        Tolerance on the cosine between the residual and each Jacobian column.

    Returns
    -------
    LMResult
    """
    n, k = p0.shape
    t = np.ascontiguousarray(np.broadcast_to(t, y.shape), dtype=np.float64)
    lower = np.ascontiguousarray(np.broadcast_to(-np.inf if lower is None else lower, (n, k)), dtype=np.float64)
    upper = np.ascontiguousarray(np.broadcast_to(np.inf if upper is None else upper, (n, k)), dtype=np.float64)
    weight = np.ones(y.shape) if mask is None else mask.astype(np.float64)
    y = np.where(weight > 0, y, 0.0).astype(np.float64)
    weight = np.where(np.isfinite(y), weight, 0.0)
    params, status, iterations = _fit_rows(model.id, model.constant_array, t, np.nan_to_num(y), weight,
                                           np.ascontiguousarray(p0, dtype=np.float64), lower, upper,
                                           max_iterations, ftol, xtol, gtol)
    status[weight.sum(axis=1) <= k] = 2  # fewer samples than parameters
    return _finish(model, t, y, weight, params, lower, upper, status, iterations)


def _cost(model: FitModel, t: np.ndarray, y: np.ndarray, weight: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.sum(((y - model.function(t, p)) * weight) ** 2, axis=1)


def _errors(jtj: np.ndarray, redchi: np.ndarray) -> np.ndarray:
    """Standard errors from the normal matrices; NaN where they are not finite or near-singular."""
    k = jtj.shape[-1]
    out = np.full(jtj.shape[:2], np.nan)
    if k == 0:
        return out
    with np.errstate(all="ignore"):
        finite = np.all(np.isfinite(jtj), axis=(1, 2))
        scale = np.sqrt(np.maximum(np.einsum("nii->ni", jtj), 1e-300))
        correlation = jtj / (scale[:, :, None] * scale[:, None, :])  # scale-free test of identifiability
        good = finite & (np.linalg.cond(np.where(finite[:, None, None], correlation, np.eye(k))) < 1e12)
        if good.any():
            covariance = np.linalg.inv(jtj[good]) * redchi[good, None, None]
            out[good] = np.sqrt(np.abs(np.einsum("nii->ni", covariance)))
    return out


def _finish(model: FitModel, t: np.ndarray, y: np.ndarray, weight: np.ndarray, p: np.ndarray,
            lower: np.ndarray, upper: np.ndarray, status: np.ndarray, iterations: np.ndarray) -> LMResult:
    n, k = p.shape
    chisqr = _cost(model, t, y, weight, p)
    dof = np.maximum(weight.sum(axis=1) - k, 1)
    redchi = chisqr / dof
    stderr = np.full((n, k), np.nan)
    ok = np.flatnonzero((status == 0) & np.isfinite(chisqr))
    if ok.size:
        with np.errstate(all="ignore"):
            jac = model.jacobian(t[ok], p[ok]) * weight[ok][..., None]
            jtj = jac.transpose(0, 2, 1) @ jac
        free = (p[ok] > lower[ok]) & (p[ok] < upper[ok])  # parameters stuck at a bound get no error
        for pattern in np.unique(free, axis=0):
            rows = np.flatnonzero(np.all(free == pattern, axis=1))
            stderr[ok[rows][:, None], np.flatnonzero(pattern)] = _errors(jtj[rows][:, pattern][:, :, pattern],
                                                                          redchi[ok[rows]])
        status[ok[np.any(~free | ~np.isfinite(stderr[ok]), axis=1)]] = 3
    chisqr[status == 2] = np.nan
    redchi[status == 2] = np.nan
    return LMResult(p, stderr, chisqr, redchi, status, iterations)
