"""Batched Levenberg–Marquardt: many independent least-squares fits advanced together.

Fitting thousands of events one ``lmfit`` minimiser at a time spends almost all of its time in
Python overhead. Here every event is one row of a parameter matrix; each iteration evaluates the
model and its analytic Jacobian for all rows at once, solves all the damped normal equations with
one batched ``numpy.linalg.solve``, and accepts or rejects each row's step on its own (each row has
its own damping). Bounds are honoured by projecting steps onto the box. The covariance is scaled by
the reduced χ² (as ``lmfit`` does with ``scale_covar=True``), so standard errors are comparable.
``benchmarks/fit.py`` measures the speed-up against a per-event ``lmfit`` loop, and
``tests/test_fitting.py`` checks both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["LMResult", "STATUS_MESSAGES", "levenberg_marquardt"]

Model = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``f(t, p)``: t ``(n, m)``, p ``(n, k)`` -> ``(n, m)``."""
Jacobian = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``J(t, p)`` -> ``(n, m, k)``."""

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


def levenberg_marquardt(
    model: Model,
    jacobian: Jacobian,
    t: np.ndarray,
    y: np.ndarray,
    p0: np.ndarray,
    *,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    max_iterations: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    gtol: float = 1e-8,
) -> LMResult:
    """Fit ``y ≈ model(t, p)`` independently for every row.

    Parameters
    ----------
    model, jacobian : callable
        Vectorised model and its Jacobian with respect to the parameters.
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
        Relative tolerances on χ² decrease and on the step size.
    gtol : float
        Tolerance on the cosine between the residual and each Jacobian column.

    Returns
    -------
    LMResult
    """
    n, k = p0.shape
    lower = np.broadcast_to(-np.inf if lower is None else lower, (n, k))
    upper = np.broadcast_to(np.inf if upper is None else upper, (n, k))
    weight = np.ones_like(y, dtype=np.float64) if mask is None else mask.astype(np.float64)
    p = np.clip(np.asarray(p0, dtype=np.float64), lower, upper)
    damping = np.full(n, 1e-3)
    active = np.all(np.isfinite(p), axis=1) & np.all(np.isfinite(y) | (weight == 0), axis=1)
    y = np.where(weight > 0, y, 0.0)
    status = np.where(active, 1, 2)
    iterations = np.zeros(n, dtype=np.int64)
    cost = np.full(n, np.inf)
    cost[active] = _cost(model, t[active], y[active], weight[active], p[active])
    status[active & ~np.isfinite(cost)] = 2
    active &= np.isfinite(cost)
    eye = np.eye(k)
    for _ in range(max_iterations):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        iterations[rows] += 1
        tr, yr, wr, pr = t[rows], y[rows], weight[rows], p[rows]
        residual = (yr - model(tr, pr)) * wr
        jac = jacobian(tr, pr) * wr[..., None]
        jtj = np.einsum("nmi,nmj->nij", jac, jac)
        gradient = np.einsum("nmi,nm->ni", jac, residual)
        diagonal = np.maximum(np.einsum("nii->ni", jtj), 1e-300)
        system = jtj + damping[rows, None, None] * diagonal[:, :, None] * eye
        try:
            step = np.linalg.solve(system, gradient[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = _solve_rowwise(system, gradient)
        trial = np.clip(pr + step, lower[rows], upper[rows])
        new_cost = _cost(model, tr, yr, wr, trial)
        better = np.isfinite(new_cost) & (new_cost <= cost[rows])
        # Converged when the gradient is orthogonal to every Jacobian column (a stationary point), or
        # when an accepted step no longer lowers chi-square or moves the parameters.
        with np.errstate(all="ignore"):
            column_norms = np.sqrt(np.einsum("nii->ni", jtj))
            cosine = np.abs(gradient) / (column_norms * np.sqrt(cost[rows])[:, None])
        stationary = np.all(np.nan_to_num(cosine, nan=0.0) <= gtol, axis=1)
        small = better & (
            ((cost[rows] - new_cost) <= ftol * np.maximum(new_cost, 1e-300))
            | np.all(np.abs(trial - pr) <= xtol * (np.abs(pr) + xtol), axis=1)
        )
        converged = stationary | small
        accept = rows[better]
        p[accept] = trial[better]
        cost[accept] = new_cost[better]
        damping[accept] = np.maximum(damping[accept] / 10.0, 1e-12)
        reject = rows[~better]
        damping[reject] *= 10.0
        stuck = rows[~better][damping[reject] > 1e16]  # no step direction improves: at a minimum
        done = np.r_[rows[converged], stuck]
        status[done] = 0
        active[done] = False
    return _finish(model, jacobian, t, y, weight, p, lower, upper, status, iterations)


def _cost(model: Model, t: np.ndarray, y: np.ndarray, weight: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.sum(((y - model(t, p)) * weight) ** 2, axis=1)


def _solve_rowwise(system: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """Solve each system on its own, with a least-squares fallback for singular ones."""
    out = np.zeros_like(gradient)
    for i in range(system.shape[0]):
        out[i] = np.linalg.lstsq(system[i], gradient[i], rcond=None)[0]
    return out


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


def _finish(model: Model, jacobian: Jacobian, t: np.ndarray, y: np.ndarray, weight: np.ndarray, p: np.ndarray,
            lower: np.ndarray, upper: np.ndarray, status: np.ndarray, iterations: np.ndarray) -> LMResult:
    n, k = p.shape
    chisqr = _cost(model, t, y, weight, p)
    dof = np.maximum(weight.sum(axis=1) - k, 1)
    redchi = chisqr / dof
    stderr = np.full((n, k), np.nan)
    ok = np.flatnonzero((status == 0) & np.isfinite(chisqr))
    if ok.size:
        with np.errstate(all="ignore"):
            jac = jacobian(t[ok], p[ok]) * weight[ok][..., None]
            jtj = np.einsum("nmi,nmj->nij", jac, jac)
        free = (p[ok] > lower[ok]) & (p[ok] < upper[ok])  # parameters stuck at a bound get no error
        for pattern in np.unique(free, axis=0):
            rows = np.flatnonzero(np.all(free == pattern, axis=1))
            stderr[ok[rows][:, None], np.flatnonzero(pattern)] = _errors(jtj[rows][:, pattern][:, :, pattern],
                                                                          redchi[ok[rows]])
        status[ok[np.any(~free | ~np.isfinite(stderr[ok]), axis=1)]] = 3
    chisqr[status == 2] = np.nan
    redchi[status == 2] = np.nan
    return LMResult(p, stderr, chisqr, redchi, status, iterations)
