"""The candidate-source protocol: the top-M documents nearest a query, with their vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """The documents a source returned for one query, best (highest cosine) first.

    ``vectors`` are L2-normalized float32 rows aligned with ``ids``; ``knn`` their cosine
    similarity to the query vector (float64).
    """

    ids: list[str]
    vectors: np.ndarray
    knn: np.ndarray
    texts: list[str | None] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


@runtime_checkable
class CandidateSource(Protocol):
    """Where documents live: an in-memory index, a vector database, ...

    ``candidates`` returns the ``m`` documents with the highest cosine similarity to
    ``query_vector`` among those matching ``where`` (fewer when fewer match), in decreasing
    order; ``size`` counts the documents matching ``where`` (all of them for ``None``).
    ``where`` is source-specific: a dict of required metadata values works everywhere.
    """

    @property
    def dim(self) -> int | None: ...

    def candidates(self, query_vector: np.ndarray, m: int, where: Any = None) -> Candidates: ...

    def size(self, where: Any = None) -> int: ...

    def add(
        self,
        vectors: Any,
        ids: Sequence[str] | None = None,
        *,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]: ...

    def delete(self, ids: Sequence[str]) -> None: ...
