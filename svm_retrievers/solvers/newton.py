"""The default solver: an exact finite Newton method on a working set (Keerthi & DeCoste 2005).

It solves the same problem as :func:`~svm_retrievers.solvers.liblinear.solve_liblinear`
(see :mod:`~svm_retrievers.solvers.base`) to its exact optimum, far faster on large corpora:

1. **Warm start in a subspace.** The exact optimum over ``w`` in the span of the positives, the
   corpus mean and the top principal directions of the corpus. Every document's score for
   those directions is known without a pass over the matrix: the kNN scores are given, and
   ``E @ [mu, V]`` is computed once per corpus snapshot and kept in ``problem.cache``.
2. **Working set.** The documents the warm start ranks highest (three times as many as it puts
   inside the margin), plus every positive and explicit negative, with the *full* problem's
   balanced class weights.
3. **Newton on the working set.** Each step is a ridge regression over the active set, solved
   by conjugate gradients preconditioned with the warm-start subspace, followed by an exact
   line search on the piecewise-quadratic objective.
4. **Exactness check.** One pass scores every document; any outside the working set that
   violates the margin (decision value above -1) joins it, and Newton resumes. When no
   document violates, the working-set optimum is the optimum of the whole problem (documents
   outside the margin contribute neither loss nor gradient).

Stopping rule: the active set is unchanged by the last step and the gradient of the working-set
objective (which equals the full objective's gradient after a clean check pass) has norm at most
``tol * max(1, |w|)`` -- a bound on the decision-value error of the same order as liblinear's
dual criterion at the same ``tol`` (floored, for float32 storage, at the float32 rounding of the
products). ``max_iter`` caps the Newton steps. Products with the stored matrix run in its dtype
and only ``N``-vectors are upcast; nothing larger than the working set (a few thousand rows) is
copied. Without a persistent ``problem.cache`` (a dict kept between calls), the per-corpus
quantities are recomputed on every call: pass the same dict for the same matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import SVMProblem, SVMSolution

_CACHE_KEY = "newton.subspace"
_N_COMPONENTS = 32  # principal directions of the corpus in the warm-start subspace
_SUBSPACE_MIN_ELEMENTS = 2_000_000  # below this N * D the warm start uses the mean alone
_SAMPLE_ROWS = 4096  # rows sampled to estimate them (once per corpus snapshot)
_WORKING_FACTOR = 3.0  # working set: this many times the warm start's margin violators
_MIN_WORKING = 1024  # ... and at least this many documents (or all of them)
_ADD_SLACK = 0.05  # after a check pass, also add near-violators (above -1 - slack)
_CG_MAX = 400  # conjugate-gradient steps per Newton step
_ETA = 0.01  # relative CG tolerance while the active set still moves (inexact Newton)
_SORT_FLIPS = 512  # line search: above this many breakpoints, bound the step before sorting
_POOL = 4096  # documents kept after the first warm-start step (at least; or N / 8)


@dataclass
class _Subspace:
    """Per-corpus quantities for the warm start (rows=None problems only)."""

    directions: np.ndarray  # (D, m) float64: corpus mean, then principal directions
    scores: np.ndarray  # (N, m) float32/64: matrix @ directions


@dataclass
class _State:
    """One problem being solved."""

    problem: SVMProblem
    n_rows: int
    cp: float
    cn: float
    w: np.ndarray  # (D + 1,) augmented weights [w, b]
    in_work: np.ndarray  # (n_rows,) bool
    negatives: np.ndarray  # the stored negatives (the matrix, or its gathered rows)
    head: np.ndarray  # (P + Z, D) float64: positives, then explicit negatives
    basis: np.ndarray  # (D + 1, m) orthonormal warm-start subspace (the CG preconditioner's)
    # Every row's scores for the (augmented) warm-start directions, and the map from them to
    # ``basis`` coordinates, so that the preconditioner needs no product with the documents.
    doc_feats: tuple[np.ndarray, np.ndarray] | None = None  # (positive scores, cached scores)
    head_feats: np.ndarray | None = None  # (P + Z, m) head rows in basis coordinates
    to_basis: np.ndarray | None = None
    n_iter: int = 0
    converged: bool = False
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

    def basis_products(self, active: np.ndarray) -> np.ndarray | None:
        """``X_active @ basis`` from the cached scores (``None`` if unavailable)."""
        if self.doc_feats is None or self.to_basis is None or self.rows is None:
            return None
        h = self.head.shape[0]
        idx = self.rows.index[active[h:]]
        pos_scores, cached = self.doc_feats
        feats = np.concatenate(
            [pos_scores[idx], cached[idx].astype(np.float64), np.ones((idx.size, 1))], axis=1
        )
        assert self.head_feats is not None
        return np.concatenate([self.head_feats[active[:h]], feats @ self.to_basis])

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

    def tdot(self, u: np.ndarray) -> np.ndarray:
        """``X' u`` (augmented: the last entry is ``sum(u)``)."""
        h = self.head.shape[0]
        out = np.empty(self.head.shape[1] + 1)
        out[:-1] = self.head.T @ u[:h]
        out[:-1] += (self.docs.T @ u[h:].astype(self.docs.dtype)).astype(np.float64)
        out[-1] = u.sum()
        return out

    def dot_matrix(self, basis: np.ndarray) -> np.ndarray:
        """``X U`` for an augmented ``(D + 1, m)`` basis."""
        v = basis[:-1]
        docs = (self.docs @ v.astype(self.docs.dtype)).astype(np.float64)
        return np.concatenate([self.head @ v, docs]) + basis[-1]


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
    matrix = first.matrix
    negatives = matrix if first.rows is None else matrix[first.rows]
    subspace = _subspace(first, negatives)
    states = [_start(p, negatives, subspace) for p in problems]
    while True:
        active = [s for s in states if not s.done]
        if not active:
            break
        for s in active:
            _newton(s)
        # One pass over the matrix for every unfinished problem at once.
        coefs = np.stack([s.w[:-1] for s in active], axis=1).astype(matrix.dtype)
        scores = (negatives @ coefs).astype(np.float64)
        for j, s in enumerate(active):
            _check(s, scores[:, j] + s.w[-1])
    return [
        SVMSolution(
            coef=s.w[:-1].copy(),
            intercept=float(s.w[-1]),
            n_iter=s.n_iter,
            converged=s.converged,
            row_scores=s.row_scores,
        )
        for s in states
    ]


# ---------------------------------------------------------------------------- warm start
def _subspace(problem: SVMProblem, negatives: np.ndarray) -> _Subspace:
    """The corpus mean and principal directions with every row's scores (cached per corpus).

    Small problems and candidate subsets (which have no cache) use the mean alone: two cheap
    passes, and the same arithmetic whether rows come as a subset or as a whole index.
    """
    n, dim = negatives.shape
    if problem.rows is not None or not problem.cache_persists or n * dim < _SUBSPACE_MIN_ELEMENTS:
        mean = _column_mean(negatives)
        scores = (negatives @ mean.astype(negatives.dtype))[:, None]
        return _Subspace(directions=mean[:, None], scores=scores)
    cached = problem.cache.get(_CACHE_KEY)
    if isinstance(cached, _Subspace) and cached.scores.shape[0] == n:
        return cached
    mean = _column_mean(negatives)
    rng = np.random.default_rng(0)
    n_sample = min(n, _SAMPLE_ROWS)
    sample_rows = np.sort(rng.choice(n, size=n_sample, replace=False)) if n_sample < n else None
    sample = (negatives if sample_rows is None else negatives[sample_rows]).astype(np.float64)
    sample -= mean
    r = min(_N_COMPONENTS, n_sample - 1, dim - 1)
    directions = [mean[:, None]]
    if r > 0:
        directions.append(_top_directions(sample, r, rng))
    basis = np.concatenate(directions, axis=1)
    scores = negatives @ basis.astype(negatives.dtype)
    sub = _Subspace(directions=basis, scores=scores)
    problem.cache[_CACHE_KEY] = sub
    return sub


def _column_mean(x: np.ndarray) -> np.ndarray:
    """Mean row of ``x`` in float64 without copying ``x`` (a product with a ones vector)."""
    ones = np.ones(x.shape[0], dtype=x.dtype)
    return (ones @ x).astype(np.float64) / x.shape[0]


def _top_directions(sample: np.ndarray, r: int, rng: np.random.Generator) -> np.ndarray:
    """Top-``r`` right singular vectors of ``sample`` (randomized range finder, 2 power steps)."""
    k = min(r + 10, min(sample.shape))
    omega = rng.standard_normal((sample.shape[1], k))
    y = sample @ omega
    for _ in range(2):
        y, _ = np.linalg.qr(y)
        y = sample @ (sample.T @ y)
    q, _ = np.linalg.qr(y)
    _, _, vt = np.linalg.svd(q.T @ sample, full_matrices=False)
    return vt[:r].T


def _start(problem: SVMProblem, negatives: np.ndarray, sub: _Subspace) -> _State:
    n_rows = negatives.shape[0]
    pos = np.asarray(problem.positives, dtype=np.float64)
    extra = np.asarray(problem.extra_negatives, dtype=np.float64)
    cp_w, cn_w = problem.class_weights
    cp, cn = problem.C * cp_w, problem.C * cn_w
    dim = negatives.shape[1]

    # Scores of every document for the subspace directions: positives first, then the cache.
    if (
        pos.shape[0] == 1
        and problem.knn_scores is not None
        and _is_knn_of(problem.knn_scores, negatives, pos[0])
    ):
        pos_scores = np.asarray(problem.knn_scores, dtype=np.float64)[:, None]
    else:
        pos_scores = (negatives @ pos.T.astype(negatives.dtype)).astype(np.float64)
    basis = np.concatenate([pos.T, sub.directions], axis=1)  # (D, m)
    m = basis.shape[1]

    w_small = _subspace_svm(
        pos_scores, sub.scores, pos @ basis, extra @ basis, basis.T @ basis, cp, cn
    )
    beta, b = w_small[:-1], w_small[-1]
    w = np.empty(dim + 1)
    w[:-1] = basis @ beta
    w[-1] = b
    cached_beta = beta[pos.shape[0] :].astype(sub.scores.dtype)
    warm = pos_scores @ beta[: pos.shape[0]] + (sub.scores @ cached_beta).astype(np.float64) + b

    # Working set: the documents the warm start ranks highest, a few times as many as it puts
    # inside the margin (the optimum's margin holds more of them than the warm start's).
    size = min(n_rows, max(_MIN_WORKING, int(_WORKING_FACTOR * np.count_nonzero(warm > -1.0))))
    in_work = np.zeros(n_rows, dtype=bool)
    if size >= n_rows:
        in_work[:] = True
    else:
        in_work[np.argpartition(-warm, size - 1)[:size]] = True
    head = np.concatenate([pos, extra]) if extra.shape[0] else pos
    # Preconditioner: the Hessian's exact restriction to the (augmented) warm-start subspace.
    aug = np.zeros((dim + 1, m + 1))
    aug[:-1, :m] = basis
    aug[-1, m] = 1.0
    u, rfac = np.linalg.qr(aug)
    keep = np.abs(np.diag(rfac)) > 1e-10 * max(1.0, np.abs(np.diag(rfac)).max())
    to_basis = head_feats = None
    if keep.all():  # basis = aug @ inv(R): rows' basis coordinates from their cached scores
        to_basis = np.linalg.inv(rfac)
        head_feats = np.concatenate([head, np.ones((head.shape[0], 1))], axis=1) @ u
    return _State(
        problem=problem,
        n_rows=n_rows,
        cp=cp,
        cn=cn,
        w=w,
        in_work=in_work,
        estimate=warm,
        negatives=negatives,
        head=head,
        basis=u[:, keep],
        doc_feats=(pos_scores, sub.scores),
        head_feats=head_feats,
        to_basis=to_basis,
    )


def _is_knn_of(knn: np.ndarray, negatives: np.ndarray, q: np.ndarray) -> bool:
    """Whether ``knn`` are the scores of ``q`` (checked on a few rows)."""
    if knn.shape[0] != negatives.shape[0]:
        return False
    probe = negatives[: min(8, negatives.shape[0])].astype(np.float64) @ q
    return bool(np.allclose(probe, knn[: probe.shape[0]], rtol=1e-3, atol=1e-4))


def _subspace_svm(
    pos_scores: np.ndarray,
    cached: np.ndarray,
    pos_feats: np.ndarray,
    extra_feats: np.ndarray,
    gram: np.ndarray,
    cp: float,
    cn: float,
) -> np.ndarray:
    """Optimum of the full problem restricted to ``w = basis @ beta`` (Newton in m+1 dims).

    Document features in the subspace are ``[pos_scores, cached, 1]`` (their scores for the
    basis); the regularizer is ``beta' gram beta + b^2``. A warm start: a few steps suffice.
    """
    m = gram.shape[0]
    n_pos = pos_scores.shape[1]
    head = np.concatenate([pos_feats, extra_feats]) if extra_feats.shape[0] else pos_feats
    head = np.concatenate([head, np.ones((head.shape[0], 1))], axis=1)
    n_docs = pos_scores.shape[0]
    y = -np.ones(n_docs + head.shape[0])
    y[n_docs : n_docs + pos_feats.shape[0]] = 1.0
    c = np.full(y.shape[0], cn)
    c[n_docs : n_docs + pos_feats.shape[0]] = cp
    reg = np.zeros((m + 1, m + 1))
    reg[:m, :m] = gram
    reg[m, m] = 1.0

    def outputs(v: np.ndarray) -> np.ndarray:  # uses the current (pooled) arrays
        nonlocal pos_scores, cached
        docs = pos_scores @ v[:n_pos] + cached @ v[n_pos:m].astype(cached.dtype) + v[m]
        return np.concatenate([docs, head @ v])

    def features(rows: np.ndarray) -> np.ndarray:
        nonlocal pos_scores, cached
        docs = rows[rows < n_docs]
        f_docs = np.concatenate(
            [pos_scores[docs], cached[docs].astype(np.float64), np.ones((docs.size, 1))], axis=1
        )
        return np.concatenate([f_docs, head[rows[rows >= n_docs] - n_docs]])

    beta = np.zeros(m + 1)
    beta[m] = -1.0  # w = 0, b = -1: every document on the margin, only positives active

    o = np.full(y.shape[0], -1.0)  # = outputs(beta)
    prev: np.ndarray | None = None
    for step in range(12):
        act = np.flatnonzero(y * o < 1.0)
        if prev is not None and np.array_equal(act, prev):
            break
        f = features(act)
        ca = c[act]
        grad = reg @ beta + 2.0 * f.T @ (ca * (o[act] - y[act]))
        hess = reg + 2.0 * (f.T * ca) @ f
        try:
            d = np.linalg.solve(hess + 1e-12 * np.eye(m + 1), -grad)
        except np.linalg.LinAlgError:
            break
        od = outputs(d)
        pool_size = max(_POOL, n_docs // 8)
        if step == 0 and n_docs > pool_size:
            # Every document starts on the margin, and the first step moves those with the
            # largest ``od`` into it first: the rest of the warm start runs on them (plenty
            # for a warm start; exactness comes later).
            keep = np.sort(np.argpartition(-od[:n_docs], pool_size - 1)[:pool_size])
            pool = np.concatenate([keep, np.arange(n_docs, y.shape[0])])
            pos_scores, cached = pos_scores[keep], cached[keep]
            o, od, y, c = o[pool], od[pool], y[pool], c[pool]
            n_docs = pool_size
            act = np.flatnonzero(y * o < 1.0)  # the positives (no document is active yet)
        t = _line_search(float(beta @ reg @ d), float(d @ reg @ d), o, od, y, c)
        beta = beta + t * d
        o = o + t * od
        prev = act
    return beta


# ---------------------------------------------------------------------------- Newton
def _newton(s: _State) -> None:
    """Finite Newton iterations on the working set until its optimum (or max_iter)."""
    p = s.problem
    x = s.gather()
    y, c = s.labels()
    w = s.w
    o = x.dot(w)
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
        if settled and gnorm <= target:
            s.converged = True
            break
        if s.n_iter >= p.max_iter:
            s.converged = False
            break
        s.n_iter += 1
        # Inexact Newton while the active set moves; once it has settled, solve tightly enough
        # that the next gradient meets the stopping rule.
        rel = max(0.05 * target / gnorm, 1e-10) if settled else _ETA
        d = _cg(xa, ca, -grad, s.basis, s.basis_products(active), tol=min(rel, 0.1))
        xd = x.dot(d)
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
    xu: np.ndarray | None,
    *,
    tol: float,
) -> np.ndarray:
    """Solve ``(I + 2 xa' diag(ca) xa) d = rhs`` by CG preconditioned on the subspace ``u``.

    The preconditioner is the Hessian's exact restriction to the warm-start subspace ``u``
    (orthonormal) and the identity on its complement (Woodbury form).
    """
    two_c = 2.0 * ca

    def hess(v: np.ndarray) -> np.ndarray:
        return v + xa.tdot(two_c * xa.dot(v))

    m = u.shape[1]
    if xu is None:
        xu = xa.dot_matrix(u)
    corr = np.linalg.inv(np.eye(m) + (xu.T * two_c) @ xu) - np.eye(m)  # (U'HU)^-1 - I

    def precond(r: np.ndarray) -> np.ndarray:
        return r + u @ (corr @ (u.T @ r))

    d = np.zeros_like(rhs)
    r = rhs.copy()
    z = precond(r)
    p = z.copy()
    rz = float(r @ z)
    target = tol * float(np.linalg.norm(rhs))
    for _ in range(_CG_MAX):
        if float(np.linalg.norm(r)) <= target:
            break
        hp = hess(p)
        step = rz / float(p @ hp)
        d += step * p
        r -= step * hp
        z = precond(r)
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return d


def _line_search(
    wd: float, dd: float, o: np.ndarray, xd: np.ndarray, y: np.ndarray, c: np.ndarray
) -> float:
    """Exact minimizer along a direction ``d`` of the piecewise-quadratic objective.

    ``wd``/``dd`` are the regularizer's ``<w, d>``/``<d, d>``; ``o``/``xd`` the outputs at ``w``
    and their change along ``d``. The slope is piecewise linear in the step ``t``; its
    breakpoints are sorted and swept once (Keerthi & DeCoste's exact line search).
    """
    margin = y * o
    active = margin < 1.0
    cx = c * xd
    a0 = wd + 2.0 * float(np.dot(cx[active], o[active] - y[active]))
    b0 = dd + 2.0 * float(np.dot(cx[active], xd[active]))
    # Rows whose status flips at some t > 0: t_i = (y_i - o_i) / xd_i.
    yd = y * xd
    flips = np.flatnonzero((active & (yd > 0)) | (~active & (yd < 0)))
    if flips.size == 0:
        return -a0 / b0 if b0 > 0 else 1.0
    tb = (y[flips] - o[flips]) / xd[flips]
    if flips.size > _SORT_FLIPS:
        # The slope is nondecreasing (the objective is convex): find a step where it is
        # already >= 0 (the Newton step 1, or a multiple) and sort only the breakpoints
        # before it, typically a few of the many.
        t_hi = 1.0
        for _ in range(64):
            out = o + t_hi * xd
            on = y * out < 1.0
            if wd + t_hi * dd + 2.0 * float(np.dot(cx[on], out[on] - y[on])) >= 0.0:
                keep = tb <= t_hi
                flips, tb = flips[keep], tb[keep]
                break
            t_hi *= 2.0
        if flips.size == 0:
            return -a0 / b0 if b0 > 0 else 1.0
    order = np.argsort(tb, kind="stable")
    flips, tb = flips[order], tb[order]
    sign = np.where(active[flips], -1.0, 1.0)  # leaving (-) or entering (+) the active set
    da = sign * 2.0 * cx[flips] * (o[flips] - y[flips])
    db = sign * 2.0 * cx[flips] * xd[flips]
    a = a0 + np.concatenate([[0.0], np.cumsum(da)])
    b = b0 + np.concatenate([[0.0], np.cumsum(db)])
    lo = np.concatenate([[0.0], tb])
    hi = np.concatenate([tb, [np.inf]])
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(b > 0, -a / b, np.inf)
    ok = np.flatnonzero(root <= hi)
    if ok.size == 0:
        return float(tb[-1])
    k = int(ok[0])
    return float(max(root[k], lo[k]))


# ---------------------------------------------------------------------------- check pass
def _check(s: _State, scores: np.ndarray) -> None:
    """Score every row; add margin violators to the working set or finish."""
    violators = (scores > -1.0) & ~s.in_work
    if not violators.any() or s.n_iter >= s.problem.max_iter:
        if violators.any():
            s.converged = False
        s.row_scores = scores
        s.done = True
        return
    s.converged = False
    new_rows = np.flatnonzero((scores > -1.0 - _ADD_SLACK) & ~s.in_work)
    if new_rows.size > 2 * violators.sum() + 256:  # scores crowd the margin: violators only
        new_rows = np.flatnonzero(violators)
    s.in_work[new_rows] = True
    s.estimate = scores
