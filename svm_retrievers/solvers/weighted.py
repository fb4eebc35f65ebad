"""An exact solver for the exemplar SVM with explicit class weights.

Solves LinearSVC's primal (squared hinge, L2, intercept as a regularized feature of value 1)::

    min_{w, b}  1/2 (|w|^2 + b^2)
                + C * c_pos * sum_{x in positives} max(0, 1 - (w.x + b))^2
                + C * c_neg * sum_{x in negatives} max(0, 1 + (w.x + b))^2

with the weights ``c_pos`` and ``c_neg`` given by the caller, so that a subset of the negatives
can be solved with the weights of the full problem (``n / (2 * n_class)`` over all ``n`` rows).
The method is the finite Newton method of Keerthi and DeCoste (JMLR 2005): each step is a
ridge regression over the rows inside the margin, followed by an exact line search; it stops
when the gradient vanishes (to ``tol``), which with the right active set is after one step.
Only the rows inside the margin are gathered (in float64); the full negative matrix is read
once per iteration (one matrix-vector product) and never copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scoring import top_positions


@dataclass(frozen=True)
class WeightedSolution:
    """``coef @ x + intercept`` is the decision value; ``neg_scores`` those of the negatives."""

    coef: np.ndarray
    intercept: float
    n_iter: int
    converged: bool
    neg_scores: np.ndarray


def solve_weighted(
    positives: np.ndarray,
    negatives: np.ndarray,
    *,
    c_pos: float,
    c_neg: float,
    C: float,
    tol: float = 1e-8,
    max_iter: int = 100,
    start: tuple[np.ndarray, float] | None = None,
) -> WeightedSolution:
    """Solve the weighted exemplar SVM exactly (finite Newton).

    Args:
        positives: ``(P, D)`` positive rows.
        negatives: ``(n, D)`` negative rows (float32 or float64; read, never copied whole).
        c_pos, c_neg: per-sample class weights (LinearSVC 'balanced' on the full problem:
            ``(P + N) / (2 P)`` and ``(P + N) / (2 N)``).
        C: regularization.
        tol: stop when the gradient's max-norm is below ``tol`` (relative to ``max(1, |w|)``),
            or when a step no longer moves the solution (the round-off floor).
        max_iter: Newton iteration cap.
        start: an initial ``(coef, intercept)`` (a warm start). By default, for many
            negatives, the solution over the rows nearest the positives; for few,
            ``w = 0, b = -1`` (every negative on the margin, so the first steps are cheap).
    """
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives)
    dim = pos.shape[1]
    if neg.ndim != 2 or neg.shape[1] != dim:
        msg = f"negatives must have shape (n, {dim}), got {neg.shape}"
        raise ValueError(msg)
    for value, name in ((c_pos, "c_pos"), (c_neg, "c_neg"), (C, "C")):
        if not (np.isfinite(value) and value > 0):
            msg = f"{name} must be a finite number > 0, got {value}"
            raise ValueError(msg)
    n_near = max(2000, 2 * dim)
    if start is None and neg.shape[0] > 4 * n_near:
        # Warm start from the rows nearest the positives (where the margin lies), so that
        # no Newton step over the whole matrix has every row inside the margin.
        closeness = neg @ pos.mean(axis=0).astype(neg.dtype, copy=False)
        near_rows = top_positions(closeness, n_near)
        first = solve_weighted(
            pos, neg[near_rows], c_pos=c_pos, c_neg=c_neg, C=C, tol=tol, max_iter=max_iter
        )
        start = (first.coef, first.intercept)
    if start is None:
        beta = np.zeros(dim + 1)
        beta[dim] = -1.0
    else:
        beta = np.concatenate([np.asarray(start[0], dtype=np.float64), [float(start[1])]])

    def neg_scores(b: np.ndarray) -> np.ndarray:
        return (neg @ b[:dim].astype(neg.dtype, copy=False)).astype(np.float64) + b[dim]

    def augment(rows: np.ndarray) -> np.ndarray:
        return np.hstack([rows.astype(np.float64, copy=False), np.ones((rows.shape[0], 1))])

    zpos = augment(pos)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        s_neg = neg_scores(beta)
        # Rows near the margin by the (float32) product, then exactly in float64.
        near = np.flatnonzero(s_neg > -1.0 - 1e-4)
        zneg = augment(neg[near])
        o_neg = zneg @ beta
        inside = o_neg > -1.0
        zneg, o_neg = zneg[inside], o_neg[inside]
        o_pos = zpos @ beta
        # Residuals of the active rows: y_i (1 - y_i o_i) = y_i - o_i.
        r_pos = np.where(o_pos < 1.0, 1.0 - o_pos, 0.0)
        r_neg = np.where(o_neg > -1.0, -1.0 - o_neg, 0.0)
        grad = beta - 2.0 * C * (c_pos * (zpos.T @ r_pos) + c_neg * (zneg.T @ r_neg))
        if np.max(np.abs(grad)) <= tol * max(1.0, float(np.linalg.norm(beta))):
            converged = True
            break
        zp_act = zpos[o_pos < 1.0]
        weights = np.concatenate(
            [np.full(zp_act.shape[0], 2.0 * C * c_pos), np.full(zneg.shape[0], 2.0 * C * c_neg)]
        )
        z_act = np.vstack([zp_act, zneg])
        step = _ridge_solve(z_act, weights, -grad)
        move = _line_search(beta, step, zpos, neg, dim, c_pos, c_neg, C) * step
        beta = beta + move
        if np.max(np.abs(move)) <= 1e-12 * max(1.0, float(np.linalg.norm(beta))):
            converged = True  # at the round-off floor: no step changes the solution
            break
    s_neg = neg_scores(beta)
    return WeightedSolution(
        coef=beta[:dim].copy(),
        intercept=float(beta[dim]),
        n_iter=n_iter,
        converged=converged,
        neg_scores=s_neg,
    )


def _ridge_solve(z: np.ndarray, weights: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``(I + Z^T diag(weights) Z) d = rhs`` in the smaller of the primal and dual forms."""
    n, dim = z.shape
    if n >= dim:
        hess = (z.T * weights) @ z
        hess[np.diag_indices_from(hess)] += 1.0
        return _spd_solve(hess, rhs)
    # Woodbury: (I + Z^T W Z)^-1 = I - Z^T (W^-1 + Z Z^T)^-1 Z
    inner = z @ z.T
    inner[np.diag_indices_from(inner)] += 1.0 / weights
    return rhs - z.T @ _spd_solve(inner, z @ rhs)


def _spd_solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        chol = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return np.linalg.solve(matrix, rhs)
    return np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))


def _line_search(
    beta: np.ndarray,
    step: np.ndarray,
    zpos: np.ndarray,
    neg: np.ndarray,
    dim: int,
    c_pos: float,
    c_neg: float,
    C: float,
) -> float:
    """Exact minimizer over ``t >= 0`` of the (piecewise quadratic) objective along ``step``.

    The derivative is piecewise linear and increasing; safeguarded Newton on it, bracketed
    by bisection, ends on the exact root once the active set along the line is fixed.
    """
    o_neg = (neg @ beta[:dim].astype(neg.dtype, copy=False)).astype(np.float64) + beta[dim]
    d_neg = (neg @ step[:dim].astype(neg.dtype, copy=False)).astype(np.float64) + step[dim]
    # Negatives that can be inside the margin for some t in [0, 2] (or beyond: keep them all
    # whose score grows); the others contribute nothing on the searched range.
    keep = (o_neg > -1.0) | (d_neg > 0)
    o_n, d_n = o_neg[keep], d_neg[keep]
    o_p, d_p = zpos @ beta, zpos @ step
    bd, dd = float(beta @ step), float(step @ step)

    def deriv(t: float) -> tuple[float, float]:
        rp = 1.0 - o_p - t * d_p  # positives: loss max(0, 1 - o)^2
        rn = 1.0 + o_n + t * d_n  # negatives: loss max(0, 1 + o)^2
        ap, an = rp > 0, rn > 0
        g = bd + t * dd
        g += 2.0 * C * (-c_pos * float(d_p[ap] @ rp[ap]) + c_neg * float(d_n[an] @ rn[an]))
        h = dd + 2.0 * C * (c_pos * float(d_p[ap] @ d_p[ap]) + c_neg * float(d_n[an] @ d_n[an]))
        return g, h

    lo, hi = 0.0, 1.0
    g_hi, _ = deriv(hi)
    while g_hi < 0 and hi < 1e6:
        lo, hi = hi, hi * 2.0
        g_hi, _ = deriv(hi)
    t = lo
    for _ in range(100):
        g, h = deriv(t)
        if abs(g) <= 1e-14 * max(1.0, dd):
            return t
        if g < 0:
            lo = t
        else:
            hi = t
        t_new = t - g / h if h > 0 else (lo + hi) / 2
        t = t_new if lo < t_new < hi else (lo + hi) / 2
        if hi - lo <= 1e-15 * max(1.0, hi):
            break
    return t
