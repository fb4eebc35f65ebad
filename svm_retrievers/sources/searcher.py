"""``CandidateSearcher``: kNN, exact exemplar-SVM and hybrid search over any candidate source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..calibration import relevance
from ..index import Hit, build_hits
from ..params import ScoringParams
from ..scoring import fuse, top_k
from ..validation import check_k, check_rows, check_unit_interval, check_vector
from .base import Candidates, CandidateSource
from .exact import (
    DEFAULT_M,
    DEFAULT_MAX_M,
    DEFAULT_SLACK,
    DEFAULT_TAIL,
    CandidateSVM,
    candidate_svm_batch,
)


class CandidateSearcher:
    """Rank a :class:`CandidateSource`'s documents by kNN, the exact exemplar SVM, or a hybrid.

    The SVM is the full-collection one (the same as :class:`~svm_retrievers.SVMIndex` over
    every document), computed from the nearest candidates with the full problem's class
    weights and certified by a search along the SVM's direction (see
    :mod:`svm_retrievers.sources.exact`). ``knn_score`` is the cosine similarity;
    ``svm_score`` the SVM's decision value; ``hybrid_score`` is fused over the working set
    of candidates (a few thousand nearest documents), not over the whole collection.

    Args:
        source: where the documents live (:class:`InMemorySource`, :class:`MilvusSource`).
        m: first candidate count per query (doubled while the margin check fails).
        max_m: candidate cap (Milvus returns at most 16384 per search).
        verify: certify each solution with a search along the SVM's direction, adding the
            documents it finds inside the margin until none is left.
        verify_m: results per verification search (default ``max(m, 2000)``).
        relevance: compute the calibrated ``relevance`` of hits (needed by
            ``score_threshold``) from the mean of the stored vectors. ``None`` (default): when
            the source has it cheaply (``InMemorySource``), not for a database, where the mean
            costs one pass over the whole collection at the first search (``True`` opts in;
            without it hits carry ``relevance=0.0``).
        params: :class:`ScoringParams` fields (``mode``, ``C``, ``alpha``, ``fusion``).

    Example:
        >>> import numpy as np
        >>> from svm_retrievers import SVMIndex
        >>> from svm_retrievers.sources import CandidateSearcher, InMemorySource
        >>> vecs = np.random.default_rng(0).normal(size=(200, 8))
        >>> searcher = CandidateSearcher(InMemorySource(SVMIndex.from_embeddings(vecs)), m=50)
        >>> [h.id for h in searcher.search(vecs[3], k=1, mode="knn")]
        ['3']
    """

    def __init__(
        self,
        source: CandidateSource,
        *,
        m: int = DEFAULT_M,
        max_m: int = DEFAULT_MAX_M,
        verify: bool = True,
        verify_m: int | None = None,
        slack: float = DEFAULT_SLACK,
        tail: int = DEFAULT_TAIL,
        relevance: bool | None = None,
        **params: Any,
    ) -> None:
        for name in ("candidates", "size", "add", "delete"):
            if not callable(getattr(source, name, None)):
                kind = type(source).__name__
                msg = f"source must be a CandidateSource (it has no {name}()), got {kind}"
                raise TypeError(msg)
        self.source = source
        self.m = check_k(m, "m")
        self.max_m = check_k(max_m, "max_m")
        if self.m > self.max_m:
            msg = f"m must be <= max_m, got m={m}, max_m={max_m}"
            raise ValueError(msg)
        self.tail = check_k(tail, "tail")
        if not (isinstance(slack, (int, float)) and np.isfinite(slack) and slack >= 0):
            msg = f"slack must be a finite number >= 0, got {slack!r}"
            raise ValueError(msg)
        self.slack = float(slack)
        self.verify = bool(verify)
        self.verify_m = None if verify_m is None else check_k(verify_m, "verify_m")
        if relevance is None:
            relevance = bool(getattr(source, "cheap_mean", False))
        self.relevance = bool(relevance)
        self.params = ScoringParams(**params)
        self.last: CandidateSVM | None = None
        """The last search's solved SVM and working set (how ``m`` grew, whether certified)."""
        self.last_batch: list[CandidateSVM] = []
        """Every query's solved SVM from the last search (one for :meth:`search`)."""

    @property
    def dim(self) -> int | None:
        return self.source.dim

    def __len__(self) -> int:
        return self.source.size()

    def add(
        self,
        vectors: Any,
        ids: Sequence[str] | None = None,
        *,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add documents to the source; returns their ids."""
        return self.source.add(vectors, ids, texts=texts, metadatas=metadatas)  # type: ignore[arg-type]

    def delete(self, ids: Sequence[str]) -> None:
        """Delete documents from the source."""
        self.source.delete(ids)

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and bool(self.fetch([doc_id]).ids)

    def fetch(self, ids: Sequence[str]) -> Candidates:
        """The stored documents with these ids (unknown ids are skipped), in the order given."""
        fetch = getattr(self.source, "fetch", None)
        if fetch is None:
            msg = f"{type(self.source).__name__} cannot fetch documents by id (it has no fetch())"
            raise TypeError(msg)
        return fetch(list(ids))

    def solve(self, query: Any, *, where: Any = None, k: int = 1, **params: Any) -> CandidateSVM:
        """The solved SVM and its scored working set for ``query`` (at least ``k`` nearest)."""
        check_vector(query, "query", dim=self.source.dim)  # the one-query error messages
        # Normalized once, in solve_batch, exactly as a row of a batch is.
        return self.solve_batch(np.asarray(query)[None, :], where=where, k=k, **params)[0]

    def solve_batch(
        self, queries: Any, *, where: Any = None, k: int = 1, **params: Any
    ) -> list[CandidateSVM]:
        """:meth:`solve` for each row of ``queries``, the source's searches batched (see
        :func:`~svm_retrievers.sources.exact.candidate_svm_batch`)."""
        p = self.params.replace(**params)
        rows = check_rows(queries, "queries")
        qs = np.stack([check_vector(q, "query", dim=self.source.dim) for q in rows])
        results = candidate_svm_batch(
            self.source,
            qs,
            C=p.C,
            where=where,
            m=min(max(self.m, k), self.max_m),
            max_m=self.max_m,
            tail=self.tail,
            slack=self.slack,
            verify=self.verify,
            verify_m=self.verify_m,
            tol=min(p.tol, 1e-6) * 1e-2,
        )
        self.last = results[-1]
        self.last_batch = results
        return results

    def search(
        self,
        query: Any,
        k: int = 10,
        mode: str | None = None,
        *,
        where: Any = None,
        positives: Any = None,
        negatives: Any = None,
        score_threshold: float | None = None,
        **params: Any,
    ) -> list[Hit]:
        """The top ``k`` documents for ``query`` by ``mode``, best first, with all three scores.

        ``where`` is passed down to the source (for Milvus: a filter expression string, or
        a dict of required values); the SVM is then the one over the matching documents.
        ``score_threshold`` keeps only documents whose calibrated ``relevance`` (see
        :mod:`svm_retrievers.calibration`) is at least this, as :meth:`SVMIndex.search
        <svm_retrievers.SVMIndex.search>` does. ``positives``/``negatives`` ("more like
        these") need the in-memory :class:`~svm_retrievers.SVMIndex` and are refused here.
        """
        k, threshold = self._check_options(k, positives, negatives, score_threshold)
        p = self.params.replace(mode=mode, **params)
        if self._matches_nothing(where):
            check_vector(query, "query", dim=self.source.dim)
            return []
        result = self.solve(query, where=where, k=k, C=p.C, tol=p.tol)
        return self._rank(result, query, k, p, threshold)

    def _matches_nothing(self, where: Any) -> bool:
        """Whether ``where`` matches no document (a search then returns no hits, as the
        in-memory index does); a source with no documents at all is an error."""
        if self.source.size(where) > 0:
            return False
        if where is None or self.source.size(None) < 1:
            name = getattr(self.source, "collection_name", None)
            what = f"collection {name!r}" if name else f"the {type(self.source).__name__}"
            msg = f"{what} holds no documents (empty, or not created yet): add documents first"
            raise ValueError(msg)
        return True

    def _check_options(
        self, k: int, positives: Any, negatives: Any, score_threshold: float | None
    ) -> tuple[int, float | None]:
        k = check_k(k)
        if positives is not None or negatives is not None:
            msg = (
                "positives/negatives are supported by the in-memory SVMIndex only, not by"
                f" a {type(self).__name__} over {type(self.source).__name__}"
            )
            raise ValueError(msg)
        if score_threshold is not None:
            score_threshold = check_unit_interval(score_threshold, "score_threshold")
        return k, score_threshold

    def _rank(
        self,
        result: CandidateSVM,
        query: Any,
        k: int,
        p: ScoringParams,
        score_threshold: float | None,
    ) -> list[Hit]:
        """The top ``k`` hits of a solved working set by ``p.mode``, with all three scores."""
        work = result.work
        knn, svm = work.knn, result.svm
        hybrid = fuse(knn, svm, alpha=p.alpha, fusion=p.fusion)
        ranking = {"knn": knn, "svm": svm, "hybrid": hybrid}[p.mode]
        rel = self._relevance(knn, query)
        if score_threshold is None:
            order = top_k(ranking, k)
        else:
            if rel is None:
                kind = type(self.source).__name__
                msg = (
                    f"score_threshold needs calibrated relevance, which this searcher over {kind}"
                    " does not compute: create it with relevance=True (one pass over the"
                    " collection at the first search computes the mean stored vector)"
                    if self.relevance is False and hasattr(self.source, "mean_vector")
                    else f"score_threshold needs calibrated relevance, which {kind} cannot give"
                )
                raise ValueError(msg)
            kept = np.flatnonzero(rel >= score_threshold)
            order = kept[top_k(ranking[kept], k)]
        return build_hits(
            order,
            ranking,
            (knn, svm, hybrid),
            rel,
            lambda pos: (work.ids[pos], work.texts[pos], work.metadatas[pos]),
        )

    def _relevance(self, knn: np.ndarray, query: Any) -> np.ndarray | None:
        """Calibrated relevance of the working set, from the source's mean stored vector."""
        mean_vector = getattr(self.source, "mean_vector", None)
        if mean_vector is None or not self.relevance:
            return None
        return relevance(knn, check_vector(query, "query"), mean_vector())

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        mode: str | None = None,
        *,
        where: Any = None,
        positives: Any = None,
        negatives: Any = None,
        score_threshold: float | None = None,
        **params: Any,
    ) -> list[list[Hit]]:
        """:meth:`search` for each row of ``queries``, with the source's searches batched.

        The queries' candidate and verification searches go to the source together (Milvus:
        one request with many query vectors per round); the results equal :meth:`search` on
        each query. ``last_batch`` holds every query's solved SVM afterwards.
        """
        k, threshold = self._check_options(k, positives, negatives, score_threshold)
        p = self.params.replace(mode=mode, **params)
        rows = np.asarray(queries)
        if self._matches_nothing(where):
            checked = check_rows(rows, "queries")
            for q in checked:
                check_vector(q, "query", dim=self.source.dim)
            return [[] for _ in checked]
        results = self.solve_batch(rows, where=where, k=k, C=p.C, tol=p.tol)
        return [self._rank(r, q, k, p, threshold) for r, q in zip(results, rows, strict=True)]
