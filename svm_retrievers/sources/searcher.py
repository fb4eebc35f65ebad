"""``CandidateSearcher``: kNN, exact exemplar-SVM and hybrid search over any candidate source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..index import Hit, build_hits
from ..params import ScoringParams
from ..scoring import fuse, top_k
from ..validation import check_k, check_vector
from .base import CandidateSource
from .exact import CandidateSVM, candidate_svm


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
        m: int = 1000,
        max_m: int = 16384,
        verify: bool = True,
        verify_m: int | None = None,
        slack: float = 0.05,
        tail: int = 20,
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
        self.params = ScoringParams(**params)
        self.last: CandidateSVM | None = None
        """The last search's solved SVM and working set (how ``m`` grew, whether certified)."""

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

    def solve(self, query: Any, *, where: Any = None, k: int = 1, **params: Any) -> CandidateSVM:
        """The solved SVM and its scored working set for ``query`` (at least ``k`` nearest)."""
        p = self.params.replace(**params)
        q = check_vector(query, "query", dim=self.source.dim)
        result = candidate_svm(
            self.source,
            q,
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
        self.last = result
        return result

    def search(
        self, query: Any, k: int = 10, mode: str | None = None, *, where: Any = None, **params: Any
    ) -> list[Hit]:
        """The top ``k`` documents for ``query`` by ``mode``, best first, with all three scores.

        ``where`` is passed down to the source (for Milvus: a filter expression string, or
        a dict of required values); the SVM is then the one over the matching documents.
        """
        k = check_k(k)
        p = self.params.replace(mode=mode, **params)
        result = self.solve(query, where=where, k=k, C=p.C, tol=p.tol)
        work = result.work
        knn, svm = work.knn, result.svm
        hybrid = fuse(knn, svm, alpha=p.alpha, fusion=p.fusion)
        ranking = {"knn": knn, "svm": svm, "hybrid": hybrid}[p.mode]
        return build_hits(
            top_k(ranking, k),
            ranking,
            (knn, svm, hybrid),
            None,
            lambda pos: (work.ids[pos], work.texts[pos], work.metadatas[pos]),
        )

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        mode: str | None = None,
        *,
        where: Any = None,
        **params: Any,
    ) -> list[list[Hit]]:
        """:meth:`search` for each row of ``queries``."""
        return [self.search(q, k, mode, where=where, **params) for q in np.asarray(queries)]
