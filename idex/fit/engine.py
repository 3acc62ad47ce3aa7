"""Levenberg–Marquardt for many independent fits, compiled, with bounds by transform and multiple starts.

Fitting thousands of events one ``lmfit`` minimiser at a time spends almost all of its time in
Python overhead. Here the whole iteration (model and analytic Jacobian, normal equations, damped
solve, acceptance and convergence tests) runs compiled (numba) for each row in turn, with the
models of :mod:`idex.fit.models`, without the GIL: blocks of rows run in parallel threads
(:mod:`idex.threads`), and dask's threads scale too. Only the final standard errors are computed in
NumPy for all events at once. ``benchmarks/fit.py`` measures the speed-up against a per-event
``lmfit`` loop, on one core and on all.

How it finds the optimum, the way a careful analyst would with ``lmfit``:

- **Bounds by transform** (MINUIT's, as ``lmfit`` uses; :mod:`idex.fit.bounds`): the iteration runs on
  unbounded internal parameters (``sin`` for two bounds, ``sqrt(u² + 1)`` for one), so a step is never clipped
  and a parameter can leave a bound it touched on the way.
- **Several starts per event** (``p0`` of shape ``(starts, events, parameters)``): every start is
  iterated briefly, the lowest χ² kept and **polished** with fresh damping; a converged fit is then **refined**
  at tolerances near machine precision (the gradient test ends it), which fixes the optimum to the precision
  the data allow, not to the last step's χ² gain.
- **An honest status** (:class:`~idex.model.quality.FitStatus`): a fit is ``converged`` only where it reached a
  stationary point with every parameter strictly inside its bounds and determined by the data: each scale
  parameter's standard error below its magnitude and each location parameter (onset, centre) inside
  the fitted record. Otherwise it says ``at_bound``, ``undetermined``, ``iteration_limit`` or
  ``not_finite``; :mod:`idex.fit.events` adds ``no_signal`` before a fit is tried.

The covariance is scaled by the reduced χ² (as ``lmfit`` does with ``scale_covar=True``), so standard
errors are comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from idex.fit.bounds import bound_kinds, is_pinned, one_sided_scale, to_external, to_internal
from idex.fit.models import FitModel, evaluate
from idex.model.quality import FitStatus
from idex.threads import blocks, run_blocks

__all__ = ["LMResult", "levenberg_marquardt"]


_EXPLORE_ITERATIONS = 40
_EXPLORE_TOLERANCE = 1e-5
"""Iteration limit and relative tolerances of the exploration of each start; only the best is polished."""
_REFINE_TOLERANCE = 1e-15
"""Relative tolerances of the refinement of a converged fit (near machine precision: the gradient test ends it)."""


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
        """True only where the fit reached a determined optimum (:attr:`~idex.model.quality.FitStatus.CONVERGED`)."""
        return self.status == FitStatus.CONVERGED


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
def _cost_at(
    model, constants, t, y, w, u, kind, lower, upper, scale, x, dxdu, f, jac, want_jacobian
):  # pragma: no cover - compiled
    """χ² at internal ``u`` (fills ``x``, ``f`` and, on request, the internal Jacobian ``jac``)."""
    to_external(u, kind, lower, upper, scale, x, dxdu)
    evaluate(model, t, x, f, jac, want_jacobian, constants)
    cost = 0.0
    for j in range(t.size):
        cost += (w[j] * (y[j] - f[j])) ** 2
    if want_jacobian:
        for j in range(t.size):
            for i in range(u.size):
                jac[j, i] *= dxdu[i]
    return cost


@numba.njit(cache=True, nogil=True)
def _fit_rows(
    model, constants, t, y, w, source, p0, kind, lower, upper, scale, max_iterations, ftol, xtol, gtol
):  # pragma: no cover - compiled
    """Fit every row of ``p0`` to data row ``source[row]``.

    Returns external parameters, χ², status (0 converged, 1 iteration limit, 2 not finite, 3 at a bound)
    and iterations per row, and which parameters are pinned at a bound.
    """
    rows, k = p0.shape
    m = y.shape[1]
    params = np.full((rows, k), np.nan)
    costs = np.full(rows, np.nan)
    status = np.full(rows, 2, np.int64)
    iterations = np.zeros(rows, np.int64)
    pinned = np.zeros((rows, k), np.bool_)
    f = np.empty(m)
    trial_f = np.empty(m)
    jac = np.empty((m, k))
    trial_jac = np.empty((m, k))  # a trial's Jacobian: accepted, it is the next iteration's (no second evaluation)
    # A run-time boolean, not a literal: numba compiles a callee once per literal value it is given.
    with_jacobian = k > 0
    a = np.empty((k, k))
    g = np.empty(k)
    x = np.empty(k)
    dxdu = np.empty(k)
    u = np.empty(k)
    for r in range(rows):
        s = source[r]
        if not np.all(np.isfinite(p0[r])):
            continue
        to_internal(p0[r], kind[s], lower[s], upper[s], scale[r], u)
        cost = _cost_at(
            model, constants, t[s], y[s], w[s], u, kind[s], lower[s], upper[s], scale[r], x, dxdu, f, jac, with_jacobian
        )
        if not np.isfinite(cost):
            continue
        status[r] = 1
        damping = 1e-3
        fresh = True
        for it in range(max_iterations):
            iterations[r] = it + 1
            if fresh:
                a[:, :] = 0.0
                g[:] = 0.0
                for j in range(m):
                    if w[s, j] == 0.0:
                        continue
                    weight2 = w[s, j] * w[s, j]
                    residual = y[s, j] - f[j]
                    for i in range(k):
                        if jac[j, i] == 0.0:  # e.g. every parameter but the baseline before an onset: adds nothing
                            continue
                        weighted = weight2 * jac[j, i]
                        g[i] += weighted * residual
                        for col in range(i + 1):
                            a[i, col] += weighted * jac[j, col]
                for i in range(k):
                    for col in range(i):
                        a[col, i] = a[i, col]
                worst = 0.0
                for i in range(k):
                    if a[i, i] > 0 and cost > 0:
                        worst = max(worst, abs(g[i]) / math.sqrt(a[i, i] * cost))
                if worst <= gtol:  # residual orthogonal to every Jacobian column: a stationary point
                    status[r] = 0
                    break
                fresh = False
            system = a.copy()
            for i in range(k):
                system[i, i] += damping * max(a[i, i], 1e-300)
            step = _solve(system, g)
            trial = u + step
            new_cost = np.inf
            if np.all(np.isfinite(trial)):
                new_cost = _cost_at(
                    model,
                    constants,
                    t[s],
                    y[s],
                    w[s],
                    trial,
                    kind[s],
                    lower[s],
                    upper[s],
                    scale[r],
                    x,
                    dxdu,
                    trial_f,
                    trial_jac,
                    with_jacobian,
                )
            if np.isfinite(new_cost) and new_cost <= cost:
                moved = True
                for i in range(k):
                    if abs(trial[i] - u[i]) > xtol * (abs(u[i]) + xtol):
                        moved = False
                small = (cost - new_cost) <= ftol * max(new_cost, 1e-300) or moved
                for i in range(k):  # element by element: an array assignment compiles shape checks (slow first use)
                    u[i] = trial[i]
                cost = new_cost
                damping = max(damping / 10.0, 1e-12)
                f, trial_f = trial_f, f
                jac, trial_jac = trial_jac, jac
                if small:
                    status[r] = 0
                    break
                fresh = True
            else:
                damping *= 10.0
                if damping > 1e16:  # no direction lowers chi-square: at a minimum
                    status[r] = 0
                    break
        to_external(u, kind[s], lower[s], upper[s], scale[r], x, dxdu)
        costs[r] = cost
        for i in range(k):
            params[r, i] = x[i]
            pinned[r, i] = is_pinned(u, kind[s], i)
        if np.any(pinned[r]):  # converged or not, the best point lies on a bound
            status[r] = 3
    return params, costs, status, iterations, pinned


def levenberg_marquardt(
    model: FitModel,
    t: np.ndarray,
    y: np.ndarray,
    p0: np.ndarray,
    *,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    max_iterations: int = 1000,
    ftol: float = 1.5e-8,
    xtol: float = 1.5e-8,
    gtol: float = 1e-10,
) -> LMResult:
    """Fit ``y ≈ model(t, p)`` independently for every row, from one or several starts.

    Parameters
    ----------
    model : FitModel
        One of :data:`idex.fit.models.MODELS`.
    t, y : numpy.ndarray
        ``(n, m)`` abscissae and data. Rows may differ in their abscissae.
    p0 : numpy.ndarray
        ``(n, k)`` initial parameters, or ``(s, n, k)`` for ``s`` starts per row: each is iterated,
        the lowest χ² kept and polished.
    lower, upper : numpy.ndarray, optional
        ``(k,)`` or ``(n, k)`` bounds (``-inf``/``inf`` for none), applied by transform.
    mask : numpy.ndarray, optional
        ``(n, m)`` booleans: samples that take part in the fit (default all).
    max_iterations : int
        Iteration limit of a single start, or of the polish after the starts were explored (at most
        40 iterations each, to a relative tolerance of 1e-5).
    ftol, xtol : float
        Relative tolerances on the χ² decrease and on the step (``lmfit``'s defaults).
    gtol : float
        Tolerance on the cosine between the residual and each Jacobian column.

    Returns
    -------
    LMResult
        ``status`` holds :class:`~idex.model.quality.FitStatus` codes; ``iterations`` counts every start and the polish.

    Examples
    --------
    >>> from idex.fit.models import MODELS
    >>> t = np.linspace(-10, 60, 300)[None, :]
    >>> y = MODELS["impact"].function(t, np.array([[0.0, 1.0, 10.0, 2.0, 30.0]]))
    >>> starts = np.array([[[5.0, 0.0, 5.0, 0.5, 10.0]], [[-5.0, 0.0, 5.0, 8.0, 100.0]]])
    >>> result = levenberg_marquardt(MODELS["impact"], t, y, starts, lower=[-np.inf, -np.inf, 0, 1e-3, 1e-3])
    >>> FitStatus(result.status[0]).name, (np.round(result.params[0], 6) + 0.0).tolist()
    ('CONVERGED', [0.0, 1.0, 10.0, 2.0, 30.0])
    """
    starts = np.asarray(p0, dtype=np.float64)
    starts = starts[None] if starts.ndim == 2 else starts
    s, n, k = starts.shape
    t = np.ascontiguousarray(np.broadcast_to(t, y.shape), dtype=np.float64)
    t.flags.writeable = False  # always read-only: numba compiles read-only and writable arrays apart
    lower = np.ascontiguousarray(np.broadcast_to(-np.inf if lower is None else lower, (n, k)), dtype=np.float64)
    upper = np.ascontiguousarray(np.broadcast_to(np.inf if upper is None else upper, (n, k)), dtype=np.float64)
    weight = np.ones(y.shape) if mask is None else np.asarray(mask).astype(np.float64)
    y = np.where(weight > 0, y, 0.0).astype(np.float64)
    weight = np.ascontiguousarray(np.where(np.isfinite(y), weight, 0.0))
    y = np.ascontiguousarray(np.nan_to_num(y))

    kind = np.ascontiguousarray(bound_kinds(lower, upper))

    def run(first: np.ndarray, source: np.ndarray, limit: int, tolerance: float, *, refine: bool = False):
        first = np.ascontiguousarray(first)
        scale = one_sided_scale(first, lower[source], upper[source])
        f_tolerance, x_tolerance = (_REFINE_TOLERANCE,) * 2 if refine else (max(ftol, tolerance), max(xtol, tolerance))

        def rows(start: int, stop: int):  # a block of rows, alone: results do not depend on the blocks
            return _fit_rows(
                model.id,
                model.constant_array,
                t,
                y,
                weight,
                source[start:stop],
                first[start:stop],
                kind,
                lower,
                upper,
                scale[start:stop],
                limit,
                f_tolerance,
                x_tolerance,
                gtol,
            )

        parts = run_blocks(rows, blocks(first.shape[0], minimum=16))
        return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))

    if s == 1:
        params, cost, status, spent, pinned = run(starts[0], np.arange(n), max_iterations, 0.0)
    else:  # explore every start coarsely, keep the lowest chi-square of every row, polish it with fresh damping
        params, cost, _, iterations, _ = run(
            starts.reshape(s * n, k),
            np.tile(np.arange(n), s),
            min(_EXPLORE_ITERATIONS, max_iterations),
            _EXPLORE_TOLERANCE,
        )
        best = np.argmin(np.where(np.isfinite(cost), cost, np.inf).reshape(s, n), axis=0)
        chosen = params.reshape(s, n, k)[best, np.arange(n)]
        params, cost, status, polish, pinned = run(chosen, np.arange(n), max_iterations, 0.0)
        spent = iterations.reshape(s, n).sum(axis=0) + polish
    status[weight.sum(axis=1) <= k] = FitStatus.NOT_FINITE
    result = _finish(model, t, y, weight, params, pinned, status, spent)
    good = np.flatnonzero(result.success)
    if not good.size:
        return result
    # refine every determined optimum until the gradient test alone ends it: the relative tolerances stop where a
    # step gains less than ftol, which on a flat optimum leaves the charge uncertain in its 4th-5th digit
    again = run(result.params[good], good, max_iterations, 0.0, refine=True)
    refined = _finish(model, t[good], y[good], weight[good], again[0], again[4], again[2], again[3])
    better = good[refined.success & (refined.chisqr <= result.chisqr[good])]
    if better.size:
        chosen = np.searchsorted(good, better)
        for name in ("params", "stderr", "chisqr", "redchi"):
            getattr(result, name)[better] = getattr(refined, name)[chosen]
        result.iterations[better] += refined.iterations[chosen]
    return result


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


def _finish(
    model: FitModel,
    t: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    p: np.ndarray,
    pinned: np.ndarray,
    status: np.ndarray,
    iterations: np.ndarray,
) -> LMResult:
    n, k = p.shape
    failed = status == FitStatus.NOT_FINITE
    p = np.where(failed[:, None], np.nan, p)
    chisqr = np.full(n, np.nan)
    ok = np.flatnonzero(~failed)
    if ok.size:
        with np.errstate(all="ignore"):
            chisqr[ok] = np.sum(((y[ok] - model.function(t[ok], p[ok])) * weight[ok]) ** 2, axis=1)
    dof = np.maximum(weight.sum(axis=1) - k, 1)
    redchi = chisqr / dof
    stderr = np.full((n, k), np.nan)
    ok = np.flatnonzero(~failed & np.isfinite(chisqr))
    if ok.size:
        with np.errstate(all="ignore"):
            jac = model.jacobian(t[ok], p[ok]) * weight[ok][..., None]
            jtj = jac.transpose(0, 2, 1) @ jac
        free = ~pinned[ok]  # parameters pinned at a bound get no error
        for pattern in np.unique(free, axis=0):
            rows = np.flatnonzero(np.all(free == pattern, axis=1))
            stderr[ok[rows][:, None], np.flatnonzero(pattern)] = _errors(
                jtj[rows][:, pattern][:, :, pattern], redchi[ok[rows]]
            )
    undetermined = _undetermined(model, t, weight, p, stderr, pinned)
    status[(status == FitStatus.CONVERGED) & undetermined] = FitStatus.UNDETERMINED
    return LMResult(p, stderr, chisqr, redchi, status, iterations)


def _undetermined(
    model: FitModel, t: np.ndarray, weight: np.ndarray, p: np.ndarray, stderr: np.ndarray, pinned: np.ndarray
) -> np.ndarray:
    """Rows whose optimum the data do not pin down (see :attr:`FitStatus.UNDETERMINED`)."""
    bad = np.any(~pinned & ~np.isfinite(stderr), axis=1)
    scales = [model.parameters.index(name) for name in model.scales]
    with np.errstate(invalid="ignore"):
        bad |= np.any(stderr[:, scales] >= np.abs(p[:, scales]), axis=1)
    used = np.where(weight > 0, t, np.inf)
    first = used.min(axis=1)
    last = np.where(weight > 0, t, -np.inf).max(axis=1)
    for name in model.locations:
        location = p[:, model.parameters.index(name)]
        bad |= ~((location >= first) & (location <= last))
    return bad
