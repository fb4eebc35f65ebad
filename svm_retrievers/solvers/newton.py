"""The default solver: an exact finite Newton method on a working set (Keerthi & DeCoste 2005).

It solves the same problem as :func:`~svm_retrievers.solvers.liblinear.solve_liblinear`
(see :mod:`~svm_retrievers.solvers.base`) to its exact optimum, far faster on large corpora:

1. **Warm start in a subspace.** The full problem's optimum (nearly) over ``w`` in the span of
   the positives, the corpus mean and the corpus's top principal directions (as many as explain
   3/4 of its variance and any other explaining 1% alone, at most 128, D/4 and sqrt(N)). Every
   document's score for those directions is known without a pass over the matrix: the kNN
   scores are given, and ``E @ [mu, V]`` is computed once per corpus snapshot and kept in
   ``problem.cache`` (which :func:`export_cache` and :func:`import_cache` let the index
   save). On embeddings, whose spectrum decays, the optimum lies close to that span, so the
   warm start ranks the documents nearly as the optimum does.
2. **Working set.** The documents the warm start ranks highest (twice as many as it puts
   inside the margin), plus every positive and explicit negative, with the *full* problem's
   balanced class weights.
3. **Newton on the working set.** Each step is a ridge regression over the active set, solved
   by conjugate gradients preconditioned with the Hessian's restriction to the warm-start
   subspace (updated from the documents' cached scores once the active set has moved by more
   than a tenth), followed by an exact line
   search on the piecewise-quadratic objective.
4. **Exactness check.** One pass scores every document; any outside the working set that
   violates the margin (decision value above -1) joins it, and Newton resumes. When no
   document violates, the working-set optimum is the optimum of the whole problem (documents
   outside the margin contribute neither loss nor gradient).

Stopping rule: the gradient of the working-set objective (which equals the full objective's
gradient after a clean check pass) has norm at most ``tol * max(1, |w|)`` (floored, for float32
storage, at the float32 rounding of the products). The objective is 1-strongly convex and
continuously differentiable, so ``|w - w*|`` is at most that norm whether or not the last step
changed the active set: a bound on the decision-value error of the same order as liblinear's
dual criterion at the same ``tol``. ``max_iter`` caps the Newton steps. Products with the
stored matrix run in its dtype and only ``N``-vectors are upcast; nothing larger than the
working set (a few thousand rows) is copied. ``problem.rows`` selecting at least half the
matrix (in increasing order) are solved in place: the other rows are blocked from the working
set and the check, and the matrix is not gathered; fewer rows are gathered. Without a
persistent ``problem.cache`` (a dict kept between calls), the per-corpus quantities are
recomputed on every call: pass the same dict for the same matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._products import row_products
from ..scoring import top_positions
from .base import SVMProblem, SVMSolution
from .liblinear import solve_liblinear

_CACHE_KEY = "newton.subspace"
_N_COMPONENTS = 128  # principal directions of the corpus in the warm-start subspace (at most;
_EXPLAINED = 0.75  # ... as many as explain this share of its variance, at most D / 4, and at
# most sqrt(N): on a small corpus a check pass is cheap and each direction's per-query cost is not)
_SIGNIFICANT = 0.01  # ... and any direction explaining this share alone (a low-rank corpus has
# a few large ones, each of which the optimum uses; a missing one lets most documents violate)
_SUBSPACE_MIN_ELEMENTS = 2_000_000  # below this N * D the warm start uses the mean alone
_SAMPLE_ROWS = 4096  # rows sampled to estimate them (once per corpus snapshot)
_RESTIMATE = 0.25  # ... kept across add/delete until the corpus changes size by this share
_WORKING_FACTOR = 2.0  # working set: this many times the warm start's margin violators
_MIN_WORKING = 1024  # ... and at least this many documents (or all of them)
_ADD_SLACK = 0.05  # after a check pass, also add near-violators (above -1 - slack)
_CG_MAX = 400  # conjugate-gradient steps per Newton step
_C_NEWTON_MAX = 1e10  # above this C the Hessian is numerically singular: liblinear solves it
_NEWTON_MAX = 200  # Newton's budget per problem: at most this many steps (within max_iter) ...
_CG_BUDGET = 20_000  # ... and this many CG steps in all; past it (C so large that the Hessian
# is near singular) the problem goes to liblinear, whose answer is the reference anyway
_STALE = 0.1  # the CG preconditioner is kept while the active set moves by at most this share
_ETA = 0.03  # relative CG tolerance while the active set still moves (inexact Newton)
_LINE_PROBES = 2  # line search: Newton probes of the slope before the exact sweep
_POOL = 4096  # warm start: documents in its first stage's pool (at most; or N / 5)
_POOL_FACTOR = 4.0  # ... its second stage's: this many times the first's margin violators


@dataclass
class _Subspace:
    """Per-corpus quantities for the warm start (kept in ``problem.cache`` for rows=None)."""

    directions: np.ndarray  # (D, r) float64, orthonormal: the corpus mean and principal directions
    scores: np.ndarray  # (N, r) storage dtype: matrix @ directions
    n_estimated: int = 0  # the number of rows the directions were estimated on


@dataclass
class _Coords:
    """Every document's coordinates in a query's warm-start basis, without a pass over the matrix.

    The basis is the corpus subspace ``directions`` (cached scores ``cached``) extended by the
    positives' orthonormalized residual: a document's coordinate on it follows from its scores
    for the positives (``pos_scores``, the kNN scores for a lone query) as
    ``(pos_scores - cached @ g) @ t``. The last coordinate is the intercept's constant 1.
    """

    cached: np.ndarray  # (N, r) storage dtype
    pos_scores: np.ndarray  # (N, p) float64
    g: np.ndarray  # (r, p): directions' @ positives'
    t: np.ndarray  # (p, k): residual scores -> coordinates

    @property
    def size(self) -> int:
        return self.cached.shape[1] + self.t.shape[1] + 1

    def dot(self, v: np.ndarray) -> np.ndarray:
        """Every document's output for the basis coefficients ``v`` (one ``(N, r)`` product)."""
        return _Coords.dot_many([self], [v])[0]

    @staticmethod
    def dot_many(coords: Sequence[_Coords], vs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """:meth:`dot` for pairs of coordinates and coefficients; those sharing their cached
        scores (the queries of one batch) share one matrix product."""
        cached = coords[0].cached
        if any(c.cached is not cached for c in coords):
            return [c.dot(v) for c, v in zip(coords, vs, strict=True)]
        r = cached.shape[1]
        own = [c.t @ v[r:-1] for c, v in zip(coords, vs, strict=True)]
        cols = [v[:r] - c.g @ vp for c, v, vp in zip(coords, vs, own, strict=True)]
        # One row per problem, contiguous: reading a column of an (N, 32) array per problem
        # would read the whole array each time.
        product = cached @ np.stack(cols, axis=1).astype(cached.dtype)
        base = product.T.astype(np.float64, order="C")
        return [
            base[j] + c.pos_scores @ vp + v[-1]
            for j, (c, v, vp) in enumerate(zip(coords, vs, own, strict=True))
        ]

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The coordinates of ``rows``, ``(len(rows), size)`` float64."""
        cached = self.cached[rows].astype(np.float64)
        own = (self.pos_scores[rows] - cached @ self.g) @ self.t
        return np.concatenate([cached, own, np.ones((rows.size, 1))], axis=1)


@dataclass
class _State:
    """One problem being solved."""

    problem: SVMProblem
    n_rows: int
    cp: float
    cn: float
    w: np.ndarray  # (D + 1,) augmented weights [w, b]
    negatives: np.ndarray  # the stored negatives (the matrix, or its gathered rows)
    head: np.ndarray  # (P + Z, D) float64: positives, then explicit negatives
    basis: np.ndarray  # (D + 1, m) orthonormal warm-start basis (the CG preconditioner's)
    coords: _Coords  # every document's coordinates in ``basis``
    head_feats: np.ndarray  # (P + Z, m) the head rows' coordinates in ``basis``
    # The preconditioner's matrix ``I + 2 sum c f f'`` over the coordinates ``f`` of the rows
    # in ``pre_docs`` (documents) and ``pre_head`` (head rows): the warm start's active set at
    # first, then Newton's.
    pre_hess: np.ndarray
    pre_docs: np.ndarray
    pre_head: np.ndarray
    pre_corr: np.ndarray | None = None  # its inverse minus the identity (None: not yet)
    blocked: np.ndarray | None = None  # (n_rows,) rows of ``negatives`` that are not negatives
    in_work: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (n_rows,)
    n_iter: int = 0
    cg_steps: int = 0
    converged: bool = False
    over_budget: bool = False  # Newton's budget ran out: liblinear solves it instead
    done: bool = False
    row_scores: np.ndarray | None = None
    rows: _Rows | None = None  # the working set while Newton runs (released in between)
    # Every row's latest decision value (warm start, then check pass): the working set is
    # gathered in its order, so that the rows Newton finds active are mostly at the front.
    estimate: np.ndarray | None = None

    def gather(self) -> _Rows:
        """The working set: positives, explicit negatives, then the documents in ``in_work``."""
        if self.rows is None:
            index = np.flatnonzero(self.in_work)
            if self.estimate is not None:
                index = index[np.argsort(-self.estimate[index], kind="stable")]
            self.rows = _Rows(self.head, self.negatives[index], index)
        return self.rows

    def preconditioner(self, active: np.ndarray) -> np.ndarray:
        """``(U' H U)^-1 - I`` for the working set's ``active`` rows (``U`` the basis, ``H`` the
        Hessian), kept from the last call by adding and removing the rows whose status changed.

        Any positive definite preconditioner leaves CG's answer unchanged, so while the active
        set has moved by at most ``_STALE`` of its size since the last update, the last one is
        reused: its inverse costs more than the CG step it would save.
        """
        assert self.rows is not None
        h = self.head.shape[0]
        now = np.zeros(self.n_rows, dtype=bool)
        now[self.rows.index[active[h:]]] = True
        entering, leaving = now & ~self.pre_docs, self.pre_docs & ~now
        flips = active[:h] != self.pre_head
        moved = int(np.count_nonzero(entering)) + int(np.count_nonzero(leaving))
        if self.pre_corr is not None and not flips.any() and moved <= _STALE * now.sum():
            return self.pre_corr
        enter = self.coords.take(np.flatnonzero(entering))
        leave = self.coords.take(np.flatnonzero(leaving))
        self.pre_hess += 2.0 * self.cn * (enter.T @ enter - leave.T @ leave)
        if flips.any():
            f = self.head_feats[flips]
            weight = np.where(np.arange(h) < self.problem.n_positive, self.cp, self.cn)[flips]
            sign = np.where(active[:h][flips], 2.0, -2.0)
            self.pre_hess += (f.T * (sign * weight)) @ f
        self.pre_docs, self.pre_head = now, active[:h].copy()
        self.pre_corr = np.linalg.inv(self.pre_hess) - np.eye(self.pre_hess.shape[0])
        return self.pre_corr

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Labels and per-example weights (``C`` times the class weight) of the working set."""
        assert self.rows is not None
        n, n_pos = self.rows.n, self.problem.n_positive
        y = -np.ones(n)
        y[:n_pos] = 1.0
        c = np.full(n, self.cn)
        c[:n_pos] = self.cp
        return y, c


class _Rows:
    """Augmented rows ``[x, 1]``: ``head`` (positives, explicit negatives) in float64 and
    ``docs`` (stored documents) in the storage dtype, so that products with the documents run
    in that dtype (as the passes over the matrix do) and only vectors are upcast."""

    def __init__(self, head: np.ndarray, docs: np.ndarray, index: np.ndarray) -> None:
        self.head = head
        self.docs = docs
        self.index = index  # rows of the stored negatives held in ``docs``
        self.n = head.shape[0] + docs.shape[0]

    def front(self, mask: np.ndarray, *vectors: np.ndarray) -> _Rows:
        """The rows in ``mask``, without copying the documents: the masked documents are moved
        to the front of ``docs`` in place (with the same swaps applied to ``index`` and to each
        of ``vectors``, per-row arrays over all rows) and returned as a view. Only rows on the
        wrong side move, so a step that changes the active set a little copies a few rows."""
        h = self.head.shape[0]
        docs_mask = mask[h:]
        k = int(np.count_nonzero(docs_mask))
        out = np.flatnonzero(~docs_mask[:k])  # inactive rows in the front block
        into = k + np.flatnonzero(docs_mask[k:])  # active rows behind it (as many)
        if out.size:
            self.docs[out], self.docs[into] = self.docs[into], self.docs[out].copy()
            self.index[out], self.index[into] = self.index[into], self.index[out]
            for v in vectors:
                v[h + out], v[h + into] = v[h + into], v[h + out]
        return _Rows(self.head[mask[:h]], self.docs[:k], self.index[:k])

    def dot(self, z: np.ndarray) -> np.ndarray:
        """``X z`` for an augmented vector ``z = [v, b]``."""
        v = z[:-1]
        docs = (self.docs @ v.astype(self.docs.dtype)).astype(np.float64)
        return np.concatenate([self.head @ v, docs]) + z[-1]

    def extend(self, z: np.ndarray, mask: np.ndarray, known: np.ndarray) -> np.ndarray:
        """``X z`` given ``known``, its values on the rows in ``mask`` (as :meth:`front` left
        them: the masked documents first); only the other rows are multiplied."""
        h = self.head.shape[0]
        head_mask = mask[:h]
        n_head = int(np.count_nonzero(head_mask))
        k = known.shape[0] - n_head
        out = np.empty(self.n)
        head_out = out[:h]  # a view: the assignments below fill ``out``
        head_out[head_mask] = known[:n_head]
        head_out[~head_mask] = self.head[~head_mask] @ z[:-1] + z[-1]
        out[h : h + k] = known[n_head:]
        rest = self.docs[k:] @ z[:-1].astype(self.docs.dtype)
        out[h + k :] = rest.astype(np.float64) + z[-1]
        return out

    def tdot(self, u: np.ndarray) -> np.ndarray:
        """``X' u`` (augmented: the last entry is ``sum(u)``)."""
        h = self.head.shape[0]
        out = np.empty(self.head.shape[1] + 1)
        out[:-1] = self.head.T @ u[:h]
        out[:-1] += (self.docs.T @ u[h:].astype(self.docs.dtype)).astype(np.float64)
        out[-1] = u.sum()
        return out


def solve_newton(problem: SVMProblem) -> SVMSolution:
    """Solve ``problem`` exactly (see the module docstring)."""
    return solve_newton_batch([problem])[0]


def solve_newton_batch(problems: Sequence[SVMProblem]) -> list[SVMSolution]:
    """Solve several problems over the same ``matrix`` and ``rows``; passes become one product.

    Results equal :func:`solve_newton` on each problem. Problems whose matrix or rows differ
    from the first one's are solved one by one.
    """
    if not problems:
        return []
    if any(p.C > _C_NEWTON_MAX for p in problems):
        return [
            solve_liblinear(p) if p.C > _C_NEWTON_MAX else solve_newton_batch([p])[0]
            for p in problems
        ]
    first = problems[0]
    same = all(
        p.matrix is first.matrix
        and (
            p.rows is first.rows
            or (
                p.rows is not None and first.rows is not None and np.array_equal(p.rows, first.rows)
            )
        )
        for p in problems
    )
    if not same:
        return [solve_newton_batch([p])[0] for p in problems]
    matrix, rows = first.matrix, first.rows
    # Rows selecting most of the matrix (all but a search's stored positives, a broad filter)
    # are solved in place: the other rows are blocked from the working set and the check, so
    # that the matrix is not copied. Fewer rows are gathered.
    blocked = None
    if rows is None:
        negatives = matrix
    elif 2 * rows.size >= matrix.shape[0] and bool(np.all(np.diff(rows) > 0)):
        negatives = matrix
        blocked = np.ones(matrix.shape[0], dtype=bool)
        blocked[rows] = False
    else:
        negatives = matrix[rows]
    subspace = _subspace(first, negatives, in_place=blocked is not None)
    states = _start_many(problems, negatives, subspace, blocked)
    while True:
        active = [s for s in states if not s.done]
        if not active:
            break
        for s in active:
            _newton(s)
        active = [s for s in active if not s.done]  # (past Newton's budget: liblinear's)
        if not active:
            continue
        # One pass over the matrix for every unfinished problem at once.
        scores = row_products(negatives, np.stack([s.w[:-1] for s in active]))  # row per problem
        for j, s in enumerate(active):
            _check(s, scores[j] + s.w[-1])
    return [
        solve_liblinear(s.problem)
        if s.over_budget
        else SVMSolution(
            coef=s.w[:-1].copy(),
            intercept=float(s.w[-1]),
            n_iter=s.n_iter,
            converged=s.converged,
            row_scores=s.row_scores
            if blocked is None or s.row_scores is None
            else s.row_scores[rows],
        )
        for s in states
    ]


# ---------------------------------------------------------------------------- warm start
def _subspace(problem: SVMProblem, negatives: np.ndarray, *, in_place: bool) -> _Subspace:
    """The corpus mean and principal directions with every row's scores (cached per corpus).

    ``negatives`` is the whole matrix when ``problem.rows`` is None or ``in_place``. A
    candidate subset passed as its own ``matrix`` uses its share of the corpus's subspace
    when ``problem.cache`` holds it (see :func:`subset_cache`). Gathered ``problem.rows``,
    one-off matrices and small problems use the mean alone: one cheap pass, and the same
    arithmetic whether rows come as a subset or as a whole index.
    """
    n, dim = negatives.shape
    whole = problem.rows is None or in_place
    cached = problem.cache.get(_CACHE_KEY)
    if whole and isinstance(cached, _Subspace) and cached.scores.shape[0] == n:
        return cached
    if not whole or not problem.cache_persists or n * dim < _SUBSPACE_MIN_ELEMENTS:
        directions = _orthonormal(_column_mean(negatives)[:, None])
        return _Subspace(directions, negatives @ directions.astype(negatives.dtype))
    return _corpus_subspace(negatives, problem.cache)


def _corpus_subspace(negatives: np.ndarray, cache: dict[str, Any]) -> _Subspace:
    """Estimate the corpus's mean and principal directions, score every row, keep in ``cache``."""
    n, dim = negatives.shape
    mean = _column_mean(negatives)
    rng = np.random.default_rng(0)
    n_sample = min(n, _SAMPLE_ROWS)
    sample_rows = np.sort(rng.choice(n, size=n_sample, replace=False)) if n_sample < n else None
    # The directions are estimated in float32 (faster than float64; a warm start's subspace
    # need not be exact, and they are re-orthonormalized in float64 below).
    sample = (negatives if sample_rows is None else negatives[sample_rows]).astype(np.float32)
    sample -= mean.astype(np.float32)
    r = min(_N_COMPONENTS, dim // 4, math.isqrt(n), n_sample - 1)
    columns = [mean[:, None]]
    if r > 0:
        columns.append(_top_directions(sample, r, rng))
    directions = _orthonormal(np.concatenate(columns, axis=1))
    sub = _Subspace(directions, negatives @ directions.astype(negatives.dtype), n)
    cache[_CACHE_KEY] = sub
    return sub


def subset_cache(cache: dict[str, Any], matrix: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """The warm start's per-corpus quantities for the candidate subset ``matrix[rows]`` (solved
    as its own matrix, e.g. after a metadata filter): the corpus's directions, and the scores
    of ``rows`` only. They are computed into ``cache`` first if it lacks them, as the first
    search over the whole ``matrix`` would. Empty when ``matrix`` is too small to have them.

    Any subspace gives the exact optimum; the corpus's starts a subset's solve closer to it
    than the subset's mean alone (at 100k x 1536 clustered, searches restricted to 10%, 30%
    and 45% of the rows took 46, 102 and 126 ms instead of 69, 135 and 234).
    """
    n, dim = matrix.shape
    if n * dim < _SUBSPACE_MIN_ELEMENTS:
        return {}
    sub = cache.get(_CACHE_KEY)
    if not isinstance(sub, _Subspace) or sub.scores.shape[0] != n:
        sub = _corpus_subspace(matrix, cache)
    return {_CACHE_KEY: _Subspace(sub.directions, sub.scores[rows], sub.n_estimated)}


def carry_cache(
    cache: dict[str, Any], *, keep: np.ndarray | None = None, added: np.ndarray | None = None
) -> dict[str, Any]:
    """The per-corpus quantities of ``cache`` for the matrix ``matrix[keep]`` (all rows if
    ``keep`` is None) followed by the rows ``added``: the warm-start directions are kept and
    only the changed rows are scored, so that a small change to a large index does not pay
    for a new subspace. The directions are estimated anew (an empty dict is returned) once
    the corpus has grown or shrunk by a quarter since they were.

    Any subspace gives the exact optimum; a stale one only starts the solver further from it.
    """
    sub = cache.get(_CACHE_KEY)
    if not isinstance(sub, _Subspace):
        return {}
    scores = sub.scores if keep is None else sub.scores[keep]
    if added is not None and added.shape[0]:
        fresh = added @ sub.directions.astype(added.dtype)
        scores = np.concatenate([scores, fresh.astype(scores.dtype, copy=False)])
    if abs(scores.shape[0] - sub.n_estimated) > _RESTIMATE * sub.n_estimated:
        return {}
    return {_CACHE_KEY: _Subspace(sub.directions, scores, sub.n_estimated)}


def export_cache(cache: dict[str, Any]) -> dict[str, Any] | None:
    """The warm start's per-corpus quantities in ``cache`` as plain arrays, to be saved with
    the index: ``directions`` (D, r) float64, ``scores`` (N, r) in the storage dtype and
    ``n_estimated``. None when ``cache`` holds none."""
    sub = cache.get(_CACHE_KEY)
    if not isinstance(sub, _Subspace):
        return None
    return {"directions": sub.directions, "scores": sub.scores, "n_estimated": sub.n_estimated}


def import_cache(
    directions: np.ndarray, scores: np.ndarray, n_estimated: object, matrix: np.ndarray
) -> dict[str, Any]:
    """A cache for ``matrix`` from the arrays :func:`export_cache` gave.

    Raises ``ValueError`` naming the problem when they do not fit ``matrix``: shapes and
    dtypes, finiteness, orthonormal directions, and the scores of a sample of rows recomputed.
    (A cache that passes yet is wrong would only slow the solver: the answer stays exact.)
    """
    n, dim = matrix.shape
    if directions.ndim != 2 or directions.shape[0] != dim or not 1 <= directions.shape[1] <= dim:
        msg = f"directions have shape {directions.shape}; expected ({dim}, r) with 1 <= r <= {dim}"
        raise ValueError(msg)
    r = directions.shape[1]
    if directions.dtype != np.float64 or scores.dtype != matrix.dtype:
        msg = f"dtypes {directions.dtype}/{scores.dtype}; expected float64/{matrix.dtype}"
        raise ValueError(msg)
    if scores.shape != (n, r):
        raise ValueError(f"scores have shape {scores.shape}; expected {(n, r)}")
    if not (np.isfinite(directions).all() and np.isfinite(scores).all()):
        raise ValueError("directions or scores hold NaN or infinite values")
    if not np.allclose(directions.T @ directions, np.eye(r), atol=1e-6):
        raise ValueError("directions are not orthonormal")
    if isinstance(n_estimated, bool) or not isinstance(n_estimated, int) or n_estimated < 1:
        raise ValueError(f"n_estimated must be a positive integer, got {n_estimated!r}")
    rows = np.unique(np.linspace(0, n - 1, num=min(n, 64)).astype(np.int64))
    probe = matrix[rows].astype(np.float64) @ directions
    if not np.allclose(probe, scores[rows], rtol=1e-3, atol=1e-4):
        raise ValueError("scores do not match the vectors (a cache saved for other vectors?)")
    return {_CACHE_KEY: _Subspace(directions, scores, n_estimated)}


def _orthonormal(a: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the span of ``a``'s columns (numerically dependent ones dropped)."""
    q, r = np.linalg.qr(a)
    diag = np.abs(np.diag(r))
    return q[:, diag > 1e-10 * max(1.0, float(diag.max(initial=0.0)))]


def _column_mean(x: np.ndarray) -> np.ndarray:
    """Mean row of ``x`` in float64 without copying ``x`` (a product with a ones vector)."""
    ones = np.ones(x.shape[0], dtype=x.dtype)
    return (ones @ x).astype(np.float64) / x.shape[0]


def _top_directions(sample: np.ndarray, r: int, rng: np.random.Generator) -> np.ndarray:
    """The top right singular vectors of ``sample`` (randomized range finder, 2 power steps):
    as many as explain ``_EXPLAINED`` of its variance, or more if more each explain
    ``_SIGNIFICANT`` of it, and at most ``r``; none when the sample looks isotropic (its top
    variance within twice the largest an isotropic sample of its shape would show, the
    Marchenko-Pastur edge), where no direction helps the warm start."""
    n, dim = sample.shape
    k = min(r + 10, n, dim)
    omega = rng.standard_normal((dim, k)).astype(sample.dtype)
    y = sample @ omega
    for _ in range(2):
        y, _ = np.linalg.qr(y)
        y = sample @ (sample.T @ y)
    q, _ = np.linalg.qr(y)
    _, sv, vt = np.linalg.svd(q.T @ sample, full_matrices=False)
    sv = sv.astype(np.float64)
    total = max(float(np.einsum("ij,ij->", sample, sample, dtype=np.float64)), 1e-300)
    edge = total / dim * (1.0 + np.sqrt(dim / n)) ** 2
    if sv[0] ** 2 < 2.0 * edge:
        return np.zeros((dim, 0))
    share = sv**2 / total
    explaining = int(np.searchsorted(np.cumsum(share), _EXPLAINED)) + 1
    r = min(r, max(explaining, int(np.count_nonzero(share >= _SIGNIFICANT))))
    return vt[:r].T.astype(np.float64)


def _start_many(
    problems: Sequence[SVMProblem],
    negatives: np.ndarray,
    sub: _Subspace,
    blocked: np.ndarray | None,
) -> list[_State]:
    """The warm starts and first working sets of problems over the same negatives: the warm
    starts' outputs for every document come from one product with the cached scores.
    ``blocked`` marks rows of ``negatives`` that are not negatives (None: none)."""
    prepared = [_prepare(p, negatives, sub, blocked) for p in problems]
    warms = _Coords.dot_many([s.coords for s, _ in prepared], [beta for _, beta in prepared])
    for (state, _), warm in zip(prepared, warms, strict=True):
        _select(state, warm)
    return [state for state, _ in prepared]


def _prepare(
    problem: SVMProblem, negatives: np.ndarray, sub: _Subspace, blocked: np.ndarray | None
) -> tuple[_State, np.ndarray]:
    """The warm start of ``problem`` and its coefficients in the basis (no working set yet)."""
    n_rows, dim = negatives.shape
    pos = np.asarray(problem.positives, dtype=np.float64)
    extra = np.asarray(problem.extra_negatives, dtype=np.float64)
    cp_w, cn_w = problem.class_weights
    cp, cn = problem.C * cp_w, problem.C * cn_w

    # Scores of every document for the positives: those given for the problem's rows (every
    # positive's, or the first one's when it is the query: its kNN scores; blocked rows score
    # 0, and nothing selects them), and the others computed in one pass.
    rows = None if blocked is None else problem.rows
    known = _known_scores(problem, negatives, rows, pos)
    if known.shape[0] == 0:
        pos_scores = np.ascontiguousarray(row_products(negatives, pos).T)
    else:
        pos_scores = np.zeros((n_rows, pos.shape[0]))
        pos_scores[slice(None) if rows is None else rows, : known.shape[0]] = known.T
        if known.shape[0] < pos.shape[0]:
            pos_scores[:, known.shape[0] :] = row_products(negatives, pos[known.shape[0] :]).T
    # The basis: the corpus directions, then the positives' residual (orthonormalized).
    corpus = sub.directions
    g = corpus.T @ pos.T
    pu, ps, pvt = np.linalg.svd(pos.T - corpus @ g, full_matrices=False)
    keep = ps > 1e-3  # a positive (nearly) inside the corpus span adds no direction
    coords = _Coords(cached=sub.scores, pos_scores=pos_scores, g=g, t=pvt[keep].T / ps[keep])
    m = coords.size
    basis = np.zeros((dim + 1, m))
    basis[:-1, : corpus.shape[1]] = corpus
    basis[:-1, corpus.shape[1] : m - 1] = pu[:, keep]
    basis[-1, -1] = 1.0
    head = np.concatenate([pos, extra]) if extra.shape[0] else pos
    head_feats = np.concatenate([head, np.ones((head.shape[0], 1))], axis=1) @ basis

    beta, (pre_hess, pre_docs, pre_head) = _subspace_svm(
        coords, head_feats, pos.shape[0], cp, cn, blocked
    )
    state = _State(
        problem=problem,
        n_rows=n_rows,
        cp=cp,
        cn=cn,
        w=basis @ beta,
        negatives=negatives,
        head=head,
        basis=basis,
        coords=coords,
        head_feats=head_feats,
        pre_hess=pre_hess,
        pre_docs=pre_docs,
        pre_head=pre_head,
        blocked=blocked,
    )
    return state, beta


def _select(s: _State, warm: np.ndarray) -> None:
    """The first working set: the documents the warm start (outputs ``warm``) ranks highest, a
    few times as many as it puts inside the margin (the optimum's margin holds more)."""
    inside = warm > -1.0
    if s.blocked is not None:
        inside &= ~s.blocked
    size = max(_MIN_WORKING, int(_WORKING_FACTOR * np.count_nonzero(inside)))
    s.in_work = np.zeros(s.n_rows, dtype=bool)
    s.in_work[_top(warm, size, s.blocked)] = True
    s.estimate = warm


def _known_scores(
    problem: SVMProblem, negatives: np.ndarray, rows: np.ndarray | None, pos: np.ndarray
) -> np.ndarray:
    """The given scores of the leading positives for ``negatives[rows]`` (all rows if None),
    ``(m, n)``: every positive's (``positive_scores``), the first one's (``knn_scores``), or
    none (``m = 0``), whichever match on a few rows."""
    n = negatives.shape[0] if rows is None else rows.shape[0]
    given = problem.positive_scores
    if (
        given is not None
        and given.shape == (pos.shape[0], n)
        and all(_is_scores_of(s, negatives, rows, v) for s, v in zip(given, pos, strict=True))
    ):
        return given
    knn = problem.knn_scores
    if knn is not None and _is_scores_of(knn, negatives, rows, pos[0]):
        return knn[None, :]
    return np.zeros((0, n))


def _is_scores_of(
    scores: np.ndarray, negatives: np.ndarray, rows: np.ndarray | None, v: np.ndarray
) -> bool:
    """Whether ``scores`` are those of ``v`` for ``negatives[rows]`` (all rows if None),
    checked on a few rows."""
    if scores.shape != ((negatives.shape[0] if rows is None else rows.shape[0]),):
        return False
    first = slice(0, min(8, scores.shape[0]))
    probe = (negatives[first] if rows is None else negatives[rows[first]]).astype(np.float64) @ v
    return bool(np.allclose(probe, scores[first], rtol=1e-3, atol=1e-4))


def _subspace_svm(
    coords: _Coords,
    head_feats: np.ndarray,
    n_pos: int,
    cp: float,
    cn: float,
    blocked: np.ndarray | None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The full problem's optimum over ``w`` in the warm-start basis, nearly (a warm start).

    Two small dense Newton methods on pools of documents, both without a pass over the matrix:

    1. In the span of the corpus mean and the positives, on the documents the positives score
       highest (``_POOL``, or N / 5 if fewer): a few features, and it finds the margin.
    2. In the whole (orthonormal) basis, on the documents stage 1 puts highest,
       ``_POOL_FACTOR`` times as many as it puts inside the margin (at least as many as in 1).

    Returns the coefficients and stage 2's Hessian with the documents and head rows active in
    it (the start of Newton's preconditioner). ``blocked`` rows join neither pool.
    """
    n_docs = coords.pos_scores.shape[0]
    n_head = head_feats.shape[0]
    # Stage 1: features [x . mean direction (the first corpus direction), x . positives, 1];
    # those directions in basis coordinates are ``dirs``, the regularizer their Gram matrix.
    n_mean = min(coords.cached.shape[1], 1)
    docs = np.concatenate([coords.cached[:, :n_mean].astype(np.float64), coords.pos_scores], 1)
    dirs = np.zeros((coords.size, docs.shape[1]))
    dirs[:n_mean, :n_mean] = 1.0
    dirs[:-1, n_mean:] = head_feats[:n_pos, :-1].T
    pool_size = min(_POOL, max(_MIN_WORKING, n_docs // 5))
    pool = _top(coords.pos_scores.mean(axis=1), pool_size, blocked)
    x = _augment(np.concatenate([docs[pool], head_feats[:, :-1] @ dirs[:-1]]))
    y, c = _labels(pool.size, n_head, n_pos, cp, cn)
    reg = np.eye(x.shape[1])
    reg[:-1, :-1] = dirs.T @ dirs
    start = np.zeros(x.shape[1])
    start[-1] = -1.0  # w = 0, b = -1: every row on the margin, only the positives active
    first, *_ = _newton_dense(x, y, c, start, np.full(x.shape[0], -1.0), reg, settle=0.0)
    # Stage 2, from stage 1's optimum.
    out = docs @ first[:-1] + first[-1]
    pool = _top(out, max(pool_size, int(_POOL_FACTOR * np.count_nonzero(out > -1.0))), blocked)
    beta = dirs @ first[:-1]
    beta[-1] = first[-1]
    x = np.concatenate([coords.take(pool), head_feats])
    y, c = _labels(pool.size, n_head, n_pos, cp, cn)
    # Its Hessian's products in float32: the identity regularizer keeps the Hessian well
    # conditioned, and a warm start (or the preconditioner built from it) need not be exact.
    beta, _, hess, act = _newton_dense(
        x, y, c, beta, x @ beta, np.eye(x.shape[1]), settle=0.01, hessian_dtype=np.float32
    )
    active_docs = np.zeros(n_docs, dtype=bool)
    active_docs[pool[act[: pool.size]]] = True
    return beta, (hess, active_docs, act[pool.size :])


def _top(values: np.ndarray, size: int, blocked: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``size`` largest ``values`` (all if fewer), in increasing order,
    leaving out the ``blocked`` ones."""
    if blocked is not None:
        values = np.where(blocked, -np.inf, values)
        size = min(size, values.shape[0] - int(np.count_nonzero(blocked)))
    return top_positions(values, size)


def _augment(x: np.ndarray) -> np.ndarray:
    """``[x, 1]``."""
    return np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)


def _labels(
    n_docs: int, n_head: int, n_pos: int, cp: float, cn: float
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and weights of ``n_docs`` documents followed by the head rows (positives first)."""
    y = -np.ones(n_docs + n_head)
    y[n_docs : n_docs + n_pos] = 1.0
    c = np.full(y.shape[0], cn)
    c[n_docs : n_docs + n_pos] = cp
    return y, c


def _newton_dense(
    x: np.ndarray,
    y: np.ndarray,
    c: np.ndarray,
    beta: np.ndarray,
    o: np.ndarray,
    reg: np.ndarray,
    *,
    settle: float,
    hessian_dtype: type[np.floating[Any]] = np.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Finite Newton on a small dense problem (regularizer ``beta' reg beta / 2``) from ``beta``
    (outputs ``o``) until its active set settles: no more than ``settle`` times its size
    changes (at most 12 steps). The Hessian follows the active set by updates with the rows
    that enter or leave it; their products run in ``hessian_dtype`` (float32 halves their cost
    where ``reg`` keeps the Hessian well conditioned) and accumulate in float64. Returns
    ``beta``, ``o``, the Hessian and the active set it holds."""
    xh = x.astype(hessian_dtype, copy=False)
    hess = reg.copy()
    prev = np.zeros(x.shape[0], dtype=bool)
    for _ in range(12):
        act = y * o < 1.0
        changed = act != prev
        n_changed = int(np.count_nonzero(changed))
        n_act = int(np.count_nonzero(act))
        if n_changed == 0 or (prev.any() and n_changed <= settle * n_act):
            break
        if n_changed < n_act:  # rows entering add to the Hessian, rows leaving subtract
            xc = xh[changed]
            weight = np.where(act[changed], 2.0, -2.0) * c[changed]
            hess += (xc.T * weight.astype(hessian_dtype)) @ xc
        else:
            xa = xh[act]
            hess = reg + (xa.T * (2.0 * c[act]).astype(hessian_dtype)) @ xa
        prev = act
        grad = reg @ beta + x.T @ (2.0 * c * (o - y) * act)
        try:
            d = np.linalg.solve(hess, -grad)
        except np.linalg.LinAlgError:
            break
        od = x @ d
        rd = reg @ d
        t = _line_search(float(beta @ rd), float(d @ rd), o, od, y, c)
        beta = beta + t * d
        o = o + t * od
    return beta, o, hess, prev


# ---------------------------------------------------------------------------- Newton
def _newton(s: _State) -> None:
    """Finite Newton iterations on the working set until its optimum (or max_iter)."""
    p = s.problem
    x = s.gather()
    y, c = s.labels()
    w = s.w
    # The documents' outputs at ``w`` are known: the warm start's, or the last check pass's.
    assert s.estimate is not None
    o = np.concatenate([x.head @ w[:-1] + w[-1], s.estimate[x.index]])
    # Products with float32 documents carry float32 rounding: the gradient cannot be resolved
    # below about eps32 times its terms, so the stopping rule is floored there (float64
    # storage keeps ``tol`` as given).
    eps = float(np.finfo(x.docs.dtype).eps)
    prev_active: np.ndarray | None = None
    while True:
        active = y * o < 1.0
        settled = prev_active is not None and np.array_equal(active, prev_active)
        # Documents share one label and weight, so moving their rows needs only ``o`` to follow;
        # the active set is the same, now at the front.
        xa = x.front(active, o)
        active = y * o < 1.0
        ca = c[active]
        alpha = 2.0 * ca * (o[active] - y[active])
        grad = w + xa.tdot(alpha)
        gnorm = float(np.linalg.norm(grad))
        floor = 8.0 * eps * (float(np.abs(alpha).sum()) + float(np.linalg.norm(w)))
        target = max(p.tol * max(1.0, float(np.linalg.norm(w))), floor)
        if gnorm <= target:  # strongly convex: |w - w*| <= gnorm, active set settled or not
            s.converged = True
            break
        if s.n_iter >= p.max_iter:
            s.converged = False
            break
        if s.n_iter >= _NEWTON_MAX or s.cg_steps >= _CG_BUDGET:
            s.converged = False
            s.over_budget = s.done = True
            break
        s.n_iter += 1
        # Inexact Newton while the active set moves; once it has settled, solve tightly enough
        # that the next gradient meets the stopping rule.
        rel = max(0.05 * target / gnorm, 1e-10) if settled else _ETA
        d, xd_active, steps = _cg(
            xa, ca, -grad, s.basis, s.preconditioner(active), tol=min(rel, 0.1)
        )
        s.cg_steps += steps
        xd = x.extend(d, active, xd_active)
        t = _line_search(float(w @ d), float(d @ d), o, xd, y, c)
        w = w + t * d
        o = o + t * xd
        prev_active = active
    s.w = w
    s.rows = None


def _cg(
    xa: _Rows,
    ca: np.ndarray,
    rhs: np.ndarray,
    u: np.ndarray,
    corr: np.ndarray,
    *,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Solve ``(I + 2 xa' diag(ca) xa) d = rhs`` by CG preconditioned on the subspace ``u``;
    returns ``d``, ``xa @ d`` (accumulated from the products CG makes anyway) and the number
    of CG steps.

    The preconditioner is the Hessian's restriction to the warm-start subspace ``u``
    (orthonormal; ``corr`` is its inverse minus the identity) and the identity on its
    complement.
    """
    two_c = 2.0 * ca

    def precond(r: np.ndarray) -> np.ndarray:
        return r + u @ (corr @ (u.T @ r))

    d = np.zeros_like(rhs)
    xd = np.zeros(xa.n)
    r = rhs.copy()
    z = precond(r)
    p = z.copy()
    rz = float(r @ z)
    target = tol * float(np.linalg.norm(rhs))
    steps = 0
    while steps < _CG_MAX and float(np.linalg.norm(r)) > target:
        steps += 1
        xp = xa.dot(p)
        hp = p + xa.tdot(two_c * xp)
        step = rz / float(p @ hp)
        d += step * p
        xd += step * xp
        r -= step * hp
        z = precond(r)
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return d, xd, steps


def _line_search(
    wd: float, dd: float, o: np.ndarray, xd: np.ndarray, y: np.ndarray, c: np.ndarray
) -> float:
    """Exact minimizer along a direction ``d`` of the piecewise-quadratic objective.

    ``wd``/``dd`` are the regularizer's ``<w, d>``/``<d, d>``; ``o``/``xd`` the outputs at ``w``
    and their change along ``d``. The slope is nondecreasing and piecewise linear in the step
    ``t``. A few Newton probes from the Newton step ``t = 1`` bracket its root tightly; the
    breakpoints inside the bracket (rows whose status flips there, typically a handful) are
    then sorted and swept exactly (Keerthi & DeCoste's line search, on the bracket only).
    """
    # Rows are active at ``t`` when ``y * (o + t * xd) < 1``; the slope's sums over them are
    # one product of ``sums`` (per row: c xd (o - y) and c xd^2) with the active mask.
    cx = c * xd
    sums = np.empty((2, o.shape[0]))
    np.multiply(cx, o - y, out=sums[0])
    np.multiply(cx, xd, out=sums[1])
    ym, yd = y * o, y * xd

    def slope(t: float) -> tuple[float, float]:
        lin, curve = sums @ (ym + t * yd < 1.0)
        return wd + t * dd + 2.0 * float(lin + t * curve), float(curve)

    lo, hi = 0.0, np.inf
    t = 1.0
    for _ in range(_LINE_PROBES):
        g, curve = slope(t)
        if g == 0.0:
            return t
        if g > 0.0:
            hi = t
        else:
            lo = t
        t = t - g / (dd + 2.0 * curve) if dd + 2.0 * curve > 0.0 else np.inf
        if not lo < t < hi:
            break
    while not np.isfinite(hi):  # the root lies beyond every probe: double until past it
        t = 2.0 * max(lo, 0.5)
        if slope(t)[0] >= 0.0:
            hi = t
        else:
            lo = t
            if lo > 1e12:
                return lo
    # The slope on [lo, hi]: a + b * t on each piece between the breakpoints inside, where a
    # row leaves (active, yd > 0) or enters (inactive, yd < 0) the active set.
    active = ym + lo * yd < 1.0
    lin, curve = sums @ active
    a = wd + 2.0 * float(lin)
    b = dd + 2.0 * float(curve)
    flips = np.flatnonzero(np.where(active, yd > 0, yd < 0))
    tb = (1.0 - ym[flips]) / yd[flips]
    inside = (tb >= lo) & (tb < hi)  # a row on the margin at lo that enters counts
    flips, tb = flips[inside], tb[inside]
    order = np.argsort(tb, kind="stable")
    flips, tb = flips[order], tb[order]
    sign = np.where(active[flips], -2.0, 2.0)  # leaving (-) or entering (+) the active set
    a_k = a + np.concatenate([[0.0], np.cumsum(sign * sums[0, flips])])
    b_k = b + np.concatenate([[0.0], np.cumsum(sign * sums[1, flips])])
    start = np.concatenate([[lo], tb])
    stop = np.concatenate([tb, [hi]])
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(b_k > 0, -a_k / b_k, np.inf)
    ok = np.flatnonzero(root <= stop)
    if ok.size == 0:
        return float(hi)
    k = int(ok[0])
    return float(max(root[k], start[k]))


# ---------------------------------------------------------------------------- check pass
def _check(s: _State, scores: np.ndarray) -> None:
    """Score every row; add margin violators to the working set or finish."""
    outside = ~s.in_work if s.blocked is None else ~(s.in_work | s.blocked)
    violators = (scores > -1.0) & outside
    if not violators.any() or s.n_iter >= s.problem.max_iter:
        if violators.any():
            s.converged = False
        s.row_scores = scores
        s.done = True
        return
    s.converged = False
    new_rows = np.flatnonzero((scores > -1.0 - _ADD_SLACK) & outside)
    if new_rows.size > 2 * violators.sum() + 256:  # scores crowd the margin: violators only
        new_rows = np.flatnonzero(violators)
    s.in_work[new_rows] = True
    s.estimate = scores
