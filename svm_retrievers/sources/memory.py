"""The in-memory candidate source: an :class:`~svm_retrievers.SVMIndex` seen as a source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..calibration import corpus_mean
from ..index import SVMIndex, _as_predicate
from ..scoring import top_k
from ..validation import check_k, check_vector
from .base import Candidates


class InMemorySource:
    """Candidates from an :class:`SVMIndex` by brute-force cosine (exact).

    ``where`` is the index's filter: a dict of required metadata values or a predicate.
    Writes go to the wrapped index.
    """

    cheap_mean = True
    """The mean stored vector is cached by the index: relevance costs nothing extra."""

    def __init__(self, index: SVMIndex) -> None:
        if not isinstance(index, SVMIndex):
            msg = f"index must be an SVMIndex, got {type(index).__name__}"
            raise TypeError(msg)
        self.index = index

    @property
    def dim(self) -> int | None:
        return self.index.dim

    def _rows(self, where: Any) -> np.ndarray | None:
        if where is None:
            return None
        predicate = _as_predicate(where)
        return np.fromiter(
            (r for r, doc_id in enumerate(self.index.ids) if predicate(self.index.get(doc_id)[1])),
            dtype=np.int64,
        )

    def size(self, where: Any = None) -> int:
        rows = self._rows(where)
        return len(self.index) if rows is None else int(rows.size)

    def candidates(self, query_vector: np.ndarray, m: int, where: Any = None) -> Candidates:
        m = check_k(m, "m")
        query = check_vector(query_vector, "query_vector", dim=self.index.dim)
        matrix = self.index.vectors
        rows = self._rows(where)
        sub = matrix if rows is None else matrix[rows]
        cos = (sub @ query.astype(matrix.dtype)).astype(np.float64)
        order = top_k(cos, m)
        picked = order if rows is None else rows[order]
        ids = self.index.ids
        picked_ids = [ids[r] for r in picked]
        payload = [self.index.get(doc_id) for doc_id in picked_ids]
        return Candidates(
            ids=picked_ids,
            vectors=np.asarray(matrix[picked], dtype=np.float32),
            knn=cos[order],
            texts=[text for text, _ in payload],
            metadatas=[meta for _, meta in payload],
        )

    def fetch(self, ids: Sequence[str]) -> Candidates:
        """The stored documents with these ids, in the order given (unknown ids skipped)."""
        row_of = {doc_id: row for row, doc_id in enumerate(self.index.ids)}
        known = [doc_id for doc_id in ids if doc_id in row_of]
        rows = [row_of[doc_id] for doc_id in known]
        dim = self.index.dim or 0
        vectors = np.asarray(self.index.vectors[rows], dtype=np.float32).reshape(len(rows), dim)
        payload = [self.index.get(doc_id) for doc_id in known]
        return Candidates(
            ids=known,
            vectors=vectors,
            knn=np.full(len(known), np.nan),
            texts=[text for text, _ in payload],
            metadatas=[meta for _, meta in payload],
        )

    def mean_vector(self) -> np.ndarray:
        """The mean of the stored (normalized) vectors, for calibrated relevance."""
        return corpus_mean(self.index.vectors)

    def add(
        self,
        vectors: Any,
        ids: Sequence[str] | None = None,
        *,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        return self.index.add(vectors, ids, texts=texts, metadatas=metadatas)

    def delete(self, ids: Sequence[str]) -> None:
        self.index.delete(ids)
