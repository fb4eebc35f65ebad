"""The full-corpus exemplar SVM computed exactly from a source's nearest candidates.

The exemplar SVM of a query over ``N`` documents (LinearSVC 'balanced' on ``N + 1`` rows)
has positive weight ``(N + 1) / 2`` and negative weight ``(N + 1) / (2 N)`` per sample. A
negative whose decision value is ``<= -1`` contributes neither loss nor gradient, so the
solution of the problem restricted to a working set of negatives, *with the full problem's
weights*, is the full solution as soon as every document outside the working set has a
decision value ``<= -1`` (the objective is strictly convex: a stationary point is the optimum).

The working set starts as the ``m`` documents nearest the query. Then, by default:

* **Verification** (one more search per round, exact when the source's search is exact):
  since the decision value ``w . x + b`` is linear and the stored vectors are unit-norm, the
  documents with the highest decision value are the nearest neighbours of the direction
  ``w / |w|``. Searching it returns the best documents outside the working set; if none scores
  above ``-1`` the solution is certified exact; otherwise those above ``-1 - slack`` join the
  working set and the problem is solved again, warm-started (the working-set method).

With ``verify=False``, a cheap **margin check** replaces it: the lowest-cosine candidates
must all score below ``-1 - slack``, else ``m`` doubles (up to ``max_m``); documents farther
from the query usually, but not provably, score lower still, so the result is not certified.
"""

from __future__ import annotations

import copy
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..solvers.weighted import solve_weighted
from ..validation import check_rows
from .base import Candidates, CandidateSource

# The working-set method's defaults, shared by candidate_svm, its batch form and
# CandidateSearcher (each names them in its own signature).
DEFAULT_M = 1000  # first candidates
DEFAULT_MAX_M = 16384  # most candidates a search asks for
DEFAULT_TAIL = 20  # unverified: the lowest-cosine candidates whose margin is checked
DEFAULT_SLACK = 0.05  # documents above -1 - slack join the working set
DEFAULT_MAX_ROUNDS = 20
DEFAULT_TOL = 1e-8
DEFAULT_MAX_ITER = 100


@dataclass(frozen=True)
class CandidateSVM:
    """The solved SVM and the scored working set (best kNN candidates first, extras after)."""

    coef: np.ndarray
    intercept: float
    work: Candidates
    svm: np.ndarray
    n_total: int
    m: int
    rounds: int
    verified: bool
    exhaustive: bool
    m_history: list[int] = field(default_factory=list)
    n_extra: int = 0

    @property
    def exact(self) -> bool:
        """Whether the solution is certified to be the full-corpus one."""
        return self.exhaustive or self.verified


def class_weights(n_total: int, n_positive: int = 1) -> tuple[float, float]:
    """LinearSVC 'balanced' per-sample weights ``(positive, negative)`` on the full problem."""
    n = n_total + n_positive
    return n / (2.0 * n_positive), n / (2.0 * n_total)


def _merge(a: Candidates, b: Candidates, take: np.ndarray) -> Candidates:
    if take.size == 0:
        return a
    return Candidates(
        ids=a.ids + [b.ids[i] for i in take],
        vectors=np.vstack([a.vectors, b.vectors[take]]),
        knn=np.concatenate([a.knn, np.full(take.size, np.nan)]),
        texts=a.texts + [b.texts[i] for i in take],
        metadatas=a.metadatas + [b.metadatas[i] for i in take],
    )


def candidate_svm(
    source: CandidateSource,
    query: np.ndarray,
    *,
    C: float,
    where: Any = None,
    m: int = DEFAULT_M,
    max_m: int = DEFAULT_MAX_M,
    tail: int = DEFAULT_TAIL,
    slack: float = DEFAULT_SLACK,
    verify: bool = True,
    verify_m: int | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> CandidateSVM:
    """Solve the full-corpus exemplar SVM of the unit vector ``query`` from candidates.

    The working set starts as the ``m`` nearest documents. With ``verify`` (the default),
    each round searches along the SVM's direction (``verify_m`` results, default
    ``max(m, 2000)``, doubled while the whole list falls inside the margin band) and adds
    every document outside the working set scoring above ``-1 - slack``, until none scores
    above ``-1``: the solution is then certified. Without ``verify``, only the margin check
    runs: while any of the ``tail`` lowest-cosine candidates scores above ``-1 - slack``,
    ``m`` doubles (up to ``max_m``); the result is then not certified.
    """
    return candidate_svm_batch(
        source,
        np.asarray(query)[None, :],
        C=C,
        where=where,
        m=m,
        max_m=max_m,
        tail=tail,
        slack=slack,
        verify=verify,
        verify_m=verify_m,
        max_rounds=max_rounds,
        tol=tol,
        max_iter=max_iter,
    )[0]


def candidate_svm_batch(
    source: CandidateSource, queries: np.ndarray, *, where: Any = None, **options: Any
) -> list[CandidateSVM]:
    """:func:`candidate_svm` for each row of ``queries``, with the source's searches batched.

    The queries advance in lockstep: each round's searches of the same kind and size go to the
    source as one call when it has ``candidates_batch``/``neighbours_batch`` (Milvus: one
    search request with many query vectors), and one by one otherwise. Results equal
    :func:`candidate_svm` on each query (unit vectors, one per row).
    """
    queries = check_rows(queries, "queries")
    n_total = source.size(where)
    if n_total < 1:
        msg = "the source holds no documents (matching the filter)"
        raise ValueError(msg)
    can_fetch = callable(getattr(source, "neighbours", None)) and callable(
        getattr(source, "fetch", None)
    )
    steps = [
        _solve(q, n_total=n_total, where=where, can_fetch=can_fetch, **options) for q in queries
    ]
    results: list[CandidateSVM | None] = [None] * len(steps)
    pending: dict[int, _Request] = {i: next(g) for i, g in enumerate(steps)}
    while pending:
        groups: dict[tuple[str, int], list[int]] = {}
        for i, req in pending.items():
            groups.setdefault((req.kind, req.size), []).append(i)
        for members in groups.values():
            answers = _answer(source, [pending[i] for i in members], where)
            for i, answer in zip(members, answers, strict=True):
                try:
                    pending[i] = steps[i].send(answer)
                except StopIteration as stop:
                    results[i] = stop.value
                    del pending[i]
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class _Request:
    """A search the solver needs: ``kind`` is "candidates", "neighbours" or "fetch"."""

    kind: str
    vector: np.ndarray | None = None
    size: int = 0
    ids: list[str] = field(default_factory=list)


def _answer(source: CandidateSource, requests: list[_Request], where: Any) -> list[Any]:
    """Answer same-kind, same-size requests, in one call where the source can batch them."""
    kind, size = requests[0].kind, requests[0].size
    if kind == "fetch":
        return _fetch_many(source, [r.ids for r in requests])
    batched = getattr(source, f"{kind}_batch", None)
    if batched is not None and len(requests) > 1:
        vectors = np.stack([r.vector for r in requests])  # type: ignore[misc]
        return list(batched(vectors, size, where))
    single = getattr(source, kind)
    return [single(r.vector, size, where) for r in requests]


def _fetch_many(source: CandidateSource, id_lists: list[list[str]]) -> list[Candidates]:
    """``source.fetch`` of each id list, as one fetch of their union (one request to a
    database instead of one per query); each list's documents in its order, unknown ids
    skipped, as ``fetch`` returns them."""
    fetch = source.fetch  # type: ignore[attr-defined]
    if len(id_lists) == 1:
        return [fetch(id_lists[0])]
    got = fetch(list(dict.fromkeys(i for ids in id_lists for i in ids)))
    position = {doc_id: k for k, doc_id in enumerate(got.ids)}
    out = []
    for ids in id_lists:
        take = [position[i] for i in ids if i in position]
        out.append(
            Candidates(
                ids=[got.ids[k] for k in take],
                vectors=got.vectors[take],
                knn=got.knn[take],
                texts=[got.texts[k] for k in take],
                # Each query's hits own their metadata, as with separate fetches.
                metadatas=[copy.deepcopy(got.metadatas[k]) for k in take],
            )
        )
    return out


def _solve(
    query: np.ndarray,
    *,
    n_total: int,
    where: Any,
    can_fetch: bool,
    C: float,
    m: int = DEFAULT_M,
    max_m: int = DEFAULT_MAX_M,
    tail: int = DEFAULT_TAIL,
    slack: float = DEFAULT_SLACK,
    verify: bool = True,
    verify_m: int | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> Generator[_Request, Any, CandidateSVM]:
    """One query's working-set method; yields the searches it needs, returns the result."""
    c_pos, c_neg = class_weights(n_total)
    positives = query[None, :]
    m = max(1, min(m, max_m, n_total))
    limit = max(1, min(verify_m or max(m, 2000), max_m))
    work = yield _Request("candidates", query, m)
    m_history = [len(work)]
    start: tuple[np.ndarray, float] | None = None
    verified = False
    rounds = 0
    n_extra = 0
    while True:
        rounds += 1
        sol = solve_weighted(
            positives,
            work.vectors,
            c_pos=c_pos,
            c_neg=c_neg,
            C=C,
            tol=tol,
            max_iter=max_iter,
            start=start,
        )
        start = (sol.coef, sol.intercept)
        if len(work) >= n_total or rounds >= max_rounds:
            break
        if not verify:
            worst = sol.neg_scores[max(0, m - tail) : m]
            if worst.size and worst.max() > -1.0 - slack and m < min(max_m, n_total):
                m = min(2 * m, max_m, n_total)
                work = yield _Request("candidates", query, m)
                m_history.append(len(work))
                continue
            break
        found, certified, limit = yield from _verify(
            sol.coef, sol.intercept, work, limit, n_total, slack, max_m, can_fetch
        )
        if found:
            n_extra += len(found)
            work = _union(work, found)
            m_history.append(len(work))
            continue
        verified = certified
        break
    knn = (work.vectors @ query.astype(np.float32)).astype(np.float64)
    work = Candidates(work.ids, work.vectors, knn, work.texts, work.metadatas)
    return CandidateSVM(
        coef=sol.coef,
        intercept=sol.intercept,
        work=work,
        svm=sol.neg_scores,
        n_total=n_total,
        m=len(work),
        rounds=rounds,
        verified=verified,
        exhaustive=len(work) >= n_total,
        m_history=m_history,
        n_extra=n_extra,
    )


def _union(a: Candidates, b: Candidates) -> Candidates:
    seen = set(a.ids)
    take = np.array([i for i, doc_id in enumerate(b.ids) if doc_id not in seen], dtype=np.int64)
    return _merge(a, b, take)


def _verify(
    coef: np.ndarray,
    intercept: float,
    work: Candidates,
    limit: int,
    n_total: int,
    slack: float,
    max_m: int,
    can_fetch: bool,
) -> Generator[_Request, Any, tuple[Candidates, bool, int]]:
    """Search along ``coef``: (documents outside ``work`` above ``-1 - slack``, certified?, limit).

    The documents come back in decreasing decision value, so the first one outside the
    working set is the best of all those outside it.
    """
    empty = Candidates([], np.zeros((0, coef.size), np.float32), np.zeros(0))
    norm = float(np.linalg.norm(coef))
    if norm == 0.0:
        return empty, intercept <= -1.0, limit
    direction = coef / norm
    in_work = set(work.ids)
    limit = min(limit, n_total)
    while True:
        found = (yield _Request("neighbours", direction, limit)) if can_fetch else None
        if found is not None:
            # Ids and cosines only; vectors are fetched for the documents that matter.
            ids, cosines = found
            scores = np.asarray(cosines, dtype=np.float64) * norm + intercept
            probe = None
        else:
            probe = yield _Request("candidates", direction, limit)
            ids = probe.ids
            scores = (probe.vectors @ coef.astype(np.float32)).astype(np.float64) + intercept
        outside = np.array([doc_id not in in_work for doc_id in ids], dtype=bool)
        near = np.flatnonzero(outside & (scores > -1.0 - slack))
        if near.size:
            if scores[-1] > -1.0 - slack and len(ids) == limit:
                # The list ended inside the margin band: look further next round.
                limit = min(2 * limit, n_total, max_m)
            if probe is None:
                fetched = yield _Request("fetch", ids=[ids[i] for i in near])
                return fetched, False, limit
            return _merge(empty, probe, near), False, limit
        ended = len(ids) < limit or limit >= n_total
        if outside.any() or ended or not scores.size or scores[-1] <= -1.0 - slack:
            # The best document outside the working set was seen (or the list ended, or
            # every document below the list scores at most the last one): none violates.
            return empty, True, limit
        if limit >= max_m:
            return empty, False, limit
        limit = min(2 * limit, n_total, max_m)
