"""``SVMIndex``: stored vectors, ids and payload; kNN, exemplar-SVM and hybrid search."""

from __future__ import annotations

import copy
import operator
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from . import solvers
from ._locks import CopyableLock
from ._products import row_products
from .calibration import corpus_mean, relevance
from .params import ScoringParams
from .scoring import fuse, top_k
from .solvers import SVMProblem, SVMSolution, get_batch_solver, get_solver
from .validation import (
    check_id_list,
    check_ids,
    check_k,
    check_matrix,
    check_optional_list,
    check_unit_interval,
    check_vector,
)

Where = Callable[[Mapping[str, Any]], bool] | Mapping[str, Any]
"""A metadata filter: a predicate on a document's metadata, or a dict of required values."""


@dataclass(frozen=True)
class Hit:
    """One ranked document with every score the index computes.

    ``score`` is the score of the mode that ranked the results; ``knn_score`` (cosine),
    ``svm_score`` (exemplar-SVM decision value) and ``hybrid_score`` (fusion of both) are
    always present. ``text`` and ``metadata`` are copies of what was stored. ``relevance``
    is the calibrated relevance in [0, 1] (see :mod:`svm_retrievers.calibration`), the
    quantity ``score_threshold`` filters on.
    """

    id: str
    score: float
    knn_score: float
    svm_score: float
    hybrid_score: float
    rank: int
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    relevance: float = 0.0

    def scores(self) -> dict[str, float]:
        """The three scores and the calibrated relevance, ready to merge into metadata."""
        return {
            "knn_score": self.knn_score,
            "svm_score": self.svm_score,
            "hybrid_score": self.hybrid_score,
            "relevance": self.relevance,
        }


@dataclass(frozen=True)
class Scores:
    """Every candidate's three scores, aligned with ``ids`` (index order)."""

    ids: list[str]
    knn: np.ndarray
    svm: np.ndarray
    hybrid: np.ndarray
    positive_svm: np.ndarray
    """Decision values of the SVM's positives (the query first, then any extra positives)."""
    relevance: np.ndarray | None = None
    """Calibrated relevance in [0, 1] (see :mod:`svm_retrievers.calibration`)."""

    def by_mode(self, mode: str) -> np.ndarray:
        """The score vector that ``mode`` ranks by."""
        return {"knn": self.knn, "svm": self.svm, "hybrid": self.hybrid}[mode]


@dataclass(frozen=True)
class _Snapshot:
    """An immutable state of the index; writers publish a new one, readers keep theirs."""

    vectors: np.ndarray
    ids: tuple[str, ...]
    row_of: Mapping[str, int]
    texts: tuple[str | None, ...]
    metadatas: tuple[Mapping[str, Any], ...]
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class _Request:
    """One query, resolved against a snapshot."""

    query: np.ndarray
    positives: np.ndarray
    extra_negatives: np.ndarray
    rows: np.ndarray | None  # candidate rows (None: every row)
    hidden: frozenset[int]  # candidate rows never returned (explicit negatives by id)


class SVMIndex:
    """An in-memory index that ranks documents by kNN, an exemplar SVM, or a hybrid of both.

    Vectors are stored once, L2-normalized, as ``dtype`` (float32 by default). Every search
    computes all three scores for every candidate and returns the top ``k`` by the chosen
    ``mode``. Scoring parameters (see :class:`~svm_retrievers.params.ScoringParams`) are set
    per index and may be overridden per call.

    Example:
        >>> import numpy as np
        >>> from svm_retrievers import SVMIndex
        >>> rng = np.random.default_rng(0)
        >>> index = SVMIndex.from_embeddings(rng.normal(size=(50, 8)), ids=[f"d{i}" for i in range(50)])
        >>> hits = index.search(rng.normal(size=8), k=3, mode="svm")
        >>> len(hits), sorted(hits[0].scores())
        (3, ['hybrid_score', 'knn_score', 'relevance', 'svm_score'])

    Thread safety: ``search``, ``search_batch`` and ``get_scores`` may run from any number
    of threads, concurrently with ``add`` and ``delete``; each search sees the index either
    wholly before or wholly after a change. Writers are serialized.
    """

    def __init__(self, dim: int | None = None, *, dtype: Any = np.float32, **params: Any) -> None:
        self.params = ScoringParams(**params)
        self._dtype = np.dtype(dtype)
        if self._dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            msg = f"dtype must be float32 or float64, got {self._dtype}"
            raise TypeError(msg)
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            msg = f"dim must be a positive integer or None, got {dim!r}"
            raise ValueError(msg)
        self._dim = dim
        self._write_lock = CopyableLock()
        self._snap = _Snapshot(
            vectors=np.zeros((0, dim or 0), dtype=self._dtype),
            ids=(),
            row_of={},
            texts=(),
            metadatas=(),
        )
        self.embedder: Any = None
        """An optional embedder saved and loaded with the index (see ``svm_retrievers.embeddings``)."""
        self.extra: dict[str, Any] = {}
        """The JSON ``extra`` read by :meth:`load` (what the last :meth:`save` was given)."""

    def __getstate__(self) -> dict[str, Any]:
        """The state that ``copy.deepcopy`` and ``pickle`` copy: one snapshot, whose cache
        (which searches add to) is copied shallowly first; the copy gets a lock of its own."""
        state = self.__dict__.copy()
        snap = state["_snap"]
        cache = dict(snap.cache)
        if isinstance(cache.get(_COLUMNS_KEY), dict):
            cache[_COLUMNS_KEY] = dict(cache[_COLUMNS_KEY])
        state["_snap"] = replace(snap, cache=cache)
        return state

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_embeddings(
        cls,
        vectors: Any,
        ids: Sequence[str] | None = None,
        *,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        dtype: Any = np.float32,
        **params: Any,
    ) -> SVMIndex:
        """Build an index from an ``(N, D)`` array-like of document vectors.

        ``ids`` default to ``"0" .. "N-1"``; ``texts`` and ``metadatas`` are optional
        payload returned with each hit. ``params`` are :class:`ScoringParams` fields.
        """
        matrix = check_matrix(vectors, "vectors", dtype=dtype)
        index = cls(matrix.shape[1], dtype=dtype, **params)
        index._add_normalized(matrix, ids, texts, metadatas)
        return index

    @classmethod
    def _from_stored(
        cls,
        vectors: np.ndarray,
        ids: list[str],
        texts: list[str | None],
        metadatas: list[dict[str, Any]],
        params: ScoringParams,
        dim: int,
    ) -> SVMIndex:
        """Rebuild from validated, already-normalized data without renormalizing it."""
        index = cls(dim, dtype=vectors.dtype)
        index.params = params
        vectors = np.ascontiguousarray(vectors)
        vectors.setflags(write=False)
        index._snap = _Snapshot(
            vectors=vectors,
            ids=tuple(ids),
            row_of={doc_id: row for row, doc_id in enumerate(ids)},
            texts=tuple(texts),
            metadatas=tuple(metadatas),
        )
        return index

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None) -> None:
        """Save to the directory ``path`` atomically: ``.npy`` vectors and JSON, never pickle.

        ``extra`` is any JSON-serializable dict kept with the index (adapters store their
        settings there); it comes back as :attr:`extra` after :meth:`load`.
        """
        from .persistence import save_index

        save_index(self, path, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SVMIndex:
        """Load an index written by :meth:`save`, validating every file.

        Raises ``FileNotFoundError`` if there is no index at ``path`` and
        :class:`~svm_retrievers.persistence.IndexFormatError` (a ``ValueError``) if it is
        truncated, corrupted, tampered with or of a newer format.
        """
        from .persistence import load_index

        return load_index(path)

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int | None:
        """The vector dimension (``None`` until the first vectors arrive)."""
        return self._dim

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype of the vectors."""
        return self._dtype

    @property
    def ids(self) -> list[str]:
        """Document ids in storage order."""
        return list(self._snap.ids)

    @property
    def vectors(self) -> np.ndarray:
        """The stored L2-normalized vectors (read-only view, rows aligned with :attr:`ids`)."""
        return self._snap.vectors

    def __len__(self) -> int:
        return len(self._snap.ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._snap.row_of

    def __repr__(self) -> str:
        return (
            f"SVMIndex(n={len(self)}, dim={self._dim}, dtype={self._dtype.name}, "
            f"mode={self.params.mode!r}, C={self.params.C})"
        )

    def get(self, doc_id: str) -> tuple[str | None, dict[str, Any]]:
        """The stored ``(text, metadata)`` of ``doc_id`` (metadata is a copy)."""
        snap = self._snap
        row = snap.row_of.get(doc_id)
        if row is None:
            msg = f"unknown id {doc_id!r}"
            raise KeyError(msg)
        return snap.texts[row], copy.deepcopy(dict(snap.metadatas[row]))

    def texts(self) -> list[str | None]:
        """Stored texts in storage order."""
        return list(self._snap.texts)

    def metadatas(self) -> list[dict[str, Any]]:
        """Copies of the stored metadata dicts in storage order."""
        return [copy.deepcopy(dict(m)) for m in self._snap.metadatas]

    # ------------------------------------------------------------------ writes
    def add(
        self,
        vectors: Any,
        ids: Sequence[str] | None = None,
        *,
        texts: Sequence[str | None] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add documents; returns their ids. Ids must be new and unique."""
        matrix = check_matrix(vectors, "vectors", dim=self._dim, dtype=self._dtype)
        return self._add_normalized(matrix, ids, texts, metadatas)

    def _add_normalized(
        self,
        matrix: np.ndarray,
        ids: Sequence[str] | None,
        texts: Sequence[str | None] | None,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
    ) -> list[str]:
        n = matrix.shape[0]
        text_list = check_optional_list(texts, n, "texts") or [None] * n
        for i, text in enumerate(text_list):
            if text is not None and not isinstance(text, str):
                msg = f"texts[{i}] must be a str or None, got {type(text).__name__}"
                raise TypeError(msg)
        meta_list = check_optional_list(metadatas, n, "metadatas") or [None] * n
        metas: list[Mapping[str, Any]] = []
        for i, meta in enumerate(meta_list):
            if meta is not None and not isinstance(meta, Mapping):
                msg = f"metadatas[{i}] must be a dict or None, got {type(meta).__name__}"
                raise TypeError(msg)
            metas.append(copy.deepcopy(dict(meta or {})))
        with self._write_lock:
            old = self._snap
            if ids is None:
                new_ids = _fresh_ids(old.row_of, n)
            else:
                new_ids = check_ids(ids, n)
                clash = [i for i in new_ids if i in old.row_of]
                if clash:
                    msg = f"ids already in the index: {clash[:5]!r}"
                    raise ValueError(msg)
            if self._dim is not None and matrix.shape[1] != self._dim:
                # checked again under the lock: a concurrent first add may have set the dim
                msg = (
                    f"vectors has dimension {matrix.shape[1]} (shape {matrix.shape}), but the"
                    f" index has dimension {self._dim}"
                )
                raise ValueError(msg)
            if self._dim is None:
                self._dim = matrix.shape[1]
                base = np.zeros((0, self._dim), dtype=self._dtype)
            else:
                base = old.vectors
            vectors = np.concatenate([base, matrix]) if len(old.ids) else matrix
            vectors.setflags(write=False)
            all_ids = old.ids + tuple(new_ids)
            self._snap = _Snapshot(
                vectors=vectors,
                ids=all_ids,
                row_of={doc_id: row for row, doc_id in enumerate(all_ids)},
                texts=old.texts + tuple(text_list),
                metadatas=old.metadatas + tuple(metas),
                cache=solvers.carry_cache(old.cache, added=matrix) if len(old.ids) else {},
            )
        return list(new_ids)

    def delete(self, ids: Iterable[str]) -> None:
        """Remove the documents with these ids; every id must be present."""
        targets = check_id_list(ids)
        with self._write_lock:
            old = self._snap
            missing = [i for i in targets if i not in old.row_of]
            if missing:
                msg = f"unknown id(s) in delete: {missing[:5]!r}"
                raise KeyError(msg)
            drop = {old.row_of[i] for i in targets}
            keep = np.array([r for r in range(len(old.ids)) if r not in drop], dtype=np.int64)
            vectors = old.vectors[keep]
            vectors.setflags(write=False)
            kept_ids = tuple(old.ids[r] for r in keep)
            self._snap = _Snapshot(
                vectors=vectors,
                ids=kept_ids,
                row_of={doc_id: row for row, doc_id in enumerate(kept_ids)},
                texts=tuple(old.texts[r] for r in keep),
                metadatas=tuple(old.metadatas[r] for r in keep),
                cache=solvers.carry_cache(old.cache, keep=keep),
            )

    # ------------------------------------------------------------------ reads
    def search(
        self,
        query: Any,
        k: int = 10,
        mode: str | None = None,
        *,
        ids: Iterable[str] | None = None,
        where: Where | None = None,
        positives: Any = None,
        negatives: Any = None,
        score_threshold: float | None = None,
        **params: Any,
    ) -> list[Hit]:
        """The top ``k`` documents for ``query`` ranked by ``mode``, best first.

        Args:
            query: a 1-D vector of the index's dimension (or ``None`` when ``positives``
                are given: "more like these").
            k: how many hits; more than the candidates returns them all.
            mode: ``"svm"``, ``"knn"`` or ``"hybrid"`` (default: the index's).
            ids: restrict the search to these stored ids; the SVM is trained and the
                z-scores computed over them only.
            where: metadata filter applied before training (a predicate or a dict of
                required values).
            positives: more positives, as stored ids or vectors, or a list mixing both
                ("more like these"). Stored positives are never returned.
            negatives: explicit negatives, as stored ids or vectors, or a list mixing both
                ("not like those").
                They are added to the training negatives; stored ones are never returned.
            score_threshold: return only documents whose calibrated ``relevance`` is at
                least this (in [0, 1]; ``None``: no threshold). The top ``k`` are taken
                among them, so fewer than ``k`` (or no) hits may come back.
            params: per-call :class:`ScoringParams` overrides (``C``, ``tol``, ...).
        """
        return self._search(
            [query] if query is not None else [None],
            k,
            mode,
            ids,
            where,
            positives,
            negatives,
            score_threshold,
            params,
            single=True,
        )[0]

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        mode: str | None = None,
        *,
        ids: Iterable[str] | None = None,
        where: Where | None = None,
        positives: Any = None,
        negatives: Any = None,
        score_threshold: float | None = None,
        **params: Any,
    ) -> list[list[Hit]]:
        """:meth:`search` for each row of ``queries`` (an ``(Q, D)`` array-like)."""
        return self._search(
            queries,
            k,
            mode,
            ids,
            where,
            positives,
            negatives,
            score_threshold,
            params,
            single=False,
        )

    def _search(
        self,
        queries: Any,
        k: int,
        mode: str | None,
        ids: Iterable[str] | None,
        where: Where | None,
        positives: Any,
        negatives: Any,
        score_threshold: float | None,
        params: dict[str, Any],
        *,
        single: bool,
    ) -> list[list[Hit]]:
        """:meth:`search` and :meth:`search_batch` (``single``: one query, as given)."""
        k = check_k(k)
        if score_threshold is not None:
            score_threshold = check_unit_interval(score_threshold, "score_threshold")
        p = self.params.replace(mode=mode, **params)
        snap = self._snap
        requests = self._resolve_batch(snap, queries, ids, where, positives, negatives, single)
        if requests[0].rows is not None and requests[0].rows.size == 0:
            return [[] for _ in requests]  # the ids/where restriction left no candidates
        results: list[list[Hit]] = []
        mean = corpus_mean(snap.vectors, snap.cache)
        for req, (knn, svm, hybrid, _) in zip(
            requests, self._score_many(snap, requests, p), strict=True
        ):
            rel = relevance(knn, req.query, mean)
            results.append(
                self._hits(snap, req, (knn, svm, hybrid), p.mode, k, rel, score_threshold)
            )
        return results

    def get_scores(
        self,
        query: Any,
        *,
        ids: Iterable[str] | None = None,
        where: Where | None = None,
        positives: Any = None,
        negatives: Any = None,
        **params: Any,
    ) -> Scores:
        """Every candidate's kNN, SVM and hybrid scores as arrays aligned with ``Scores.ids``.

        Takes the same options as :meth:`search`; with no ``ids``/``where`` the arrays are
        aligned with :attr:`ids`.
        """
        p = self.params.replace(**params)
        snap = self._snap
        req = self._resolve_batch(
            snap, [query] if query is not None else [None], ids, where, positives, negatives, True
        )[0]
        if req.rows is not None and req.rows.size == 0:
            empty = np.zeros(0)
            return Scores(
                ids=[], knn=empty, svm=empty, hybrid=empty, positive_svm=empty, relevance=empty
            )
        knn, svm, hybrid, solution = self._score(snap, req, p)
        rows = np.arange(len(snap.ids)) if req.rows is None else req.rows
        positive_svm = req.positives @ solution.coef + solution.intercept
        return Scores(
            ids=[snap.ids[r] for r in rows],
            knn=knn,
            svm=svm,
            hybrid=hybrid,
            positive_svm=positive_svm,
            relevance=relevance(knn, req.query, corpus_mean(snap.vectors, snap.cache)),
        )

    # ------------------------------------------------------------------ internals
    def _resolve_batch(
        self,
        snap: _Snapshot,
        queries: Any,
        ids: Iterable[str] | None,
        where: Where | None,
        positives: Any,
        negatives: Any,
        single: bool,
    ) -> list[_Request]:
        if not snap.ids:
            msg = "the index is empty: add documents before searching"
            raise ValueError(msg)
        dim = self._dim
        pos_vecs, pos_rows = self._resolve_examples(snap, positives, "positives")
        neg_vecs, neg_rows = self._resolve_examples(snap, negatives, "negatives")
        both = set(pos_rows) & set(neg_rows)
        if both:
            msg = f"ids given as both positives and negatives: {[snap.ids[r] for r in sorted(both)][:5]!r}"
            raise ValueError(msg)
        rows = self._candidate_rows(snap, ids, where, exclude=set(pos_rows))
        hidden = frozenset(neg_rows)

        if single:
            query = queries[0]
            if query is None:
                if pos_vecs.shape[0] == 0:
                    msg = "query is None: give a query vector or at least one positive"
                    raise ValueError(msg)
                q_list: list[np.ndarray | None] = [None]
            else:
                q_list = [check_vector(query, "query", dim=dim)]
        else:
            q_matrix = check_matrix(queries, "queries", dim=dim, dtype=np.float64)
            q_list = list(q_matrix)

        out = []
        for q in q_list:
            if q is None:
                mean = pos_vecs.mean(axis=0)
                norm = np.linalg.norm(mean)
                if norm == 0:
                    msg = "the positives cancel out (their mean is the zero vector)"
                    raise ValueError(msg)
                q_vec = mean / norm
                positives_all = pos_vecs
            else:
                q_vec = q
                positives_all = np.vstack([q[None, :], pos_vecs])
            out.append(
                _Request(
                    query=q_vec,
                    positives=positives_all,
                    extra_negatives=neg_vecs,
                    rows=rows,
                    hidden=hidden,
                )
            )
        return out

    def _resolve_examples(
        self, snap: _Snapshot, examples: Any, name: str
    ) -> tuple[np.ndarray, list[int]]:
        """Positives/negatives given as stored ids, vectors, or a list mixing both ->
        (float64 vectors: the stored rows' first, rows)."""
        dim = self._dim or 0
        if examples is None:
            return np.zeros((0, dim)), []
        if isinstance(examples, str):
            msg = f"{name} must be a sequence of ids or an array of vectors, got a single str"
            raise TypeError(msg)
        if not isinstance(examples, (np.ndarray, Iterable)):
            msg = (
                f"{name} must be a sequence of stored ids or vectors, or an array of vectors,"
                f" got {type(examples).__name__}"
            )
            raise TypeError(msg)
        items = examples if isinstance(examples, np.ndarray) else list(examples)
        if len(items) == 0:
            return np.zeros((0, dim)), []
        if isinstance(items, np.ndarray) or not any(isinstance(x, str) for x in items):
            return check_matrix(items, name, dim=self._dim, dtype=np.float64), []
        ids = [x for x in items if isinstance(x, str)]
        missing = [x for x in ids if x not in snap.row_of]
        if missing:
            msg = f"unknown id(s) in {name}: {missing[:5]!r}"
            raise KeyError(msg)
        rows = sorted({snap.row_of[x] for x in ids})
        stored = snap.vectors[rows].astype(np.float64)
        given = [x for x in items if not isinstance(x, str)]
        if not given:
            return stored, rows
        return np.vstack([stored, check_matrix(given, name, dim=self._dim, dtype=np.float64)]), rows

    @staticmethod
    def _candidate_rows(
        snap: _Snapshot,
        ids: Iterable[str] | None,
        where: Where | None,
        exclude: set[int],
    ) -> np.ndarray | None:
        if ids is None and where is None and not exclude:
            return None
        if ids is None and where is None:  # all but the excluded rows
            keep = np.ones(len(snap.ids), dtype=bool)
            keep[list(exclude)] = False
            return np.flatnonzero(keep)
        rows: Iterable[int] | np.ndarray
        if ids is None:
            rows = range(len(snap.ids))
        else:
            rows = _rows_of(snap.row_of, check_id_list(ids))
        if where is not None and isinstance(rows, np.ndarray):
            rows = rows.tolist()  # the filters below index Python lists row by row
        if isinstance(where, Mapping):  # required values: one cached column per key
            for key, value in where.items():
                if isinstance(value, np.ndarray):  # == would compare element-wise
                    msg = f"where[{key!r}] is an array: give the required value itself"
                    raise TypeError(msg)
                if (
                    isinstance(value, Mapping)
                    and value
                    and all(isinstance(k, str) and k.startswith("$") for k in value)
                ):  # Chroma/Mongo-style operators would silently match nothing
                    msg = (
                        f"where[{key!r}] = {dict(value)!r} looks like an operator filter; a dict"
                        " filter matches values by ==. Give a callable instead, e.g."
                        f" lambda m: m.get({key!r}) >= ..."
                    )
                    raise ValueError(msg)
                column = _metadata_column(snap, key)
                rows = [r for r in rows if (x := column[r]) is not _MISSING and x == value]
        elif where is not None:
            predicate = _as_predicate(where)
            rows = [r for r in rows if predicate(MappingProxyType(snap.metadatas[r]))]
        out = rows if isinstance(rows, np.ndarray) else np.fromiter(rows, dtype=np.int64)
        if exclude:
            out = out[~np.isin(out, np.fromiter(exclude, dtype=np.int64))]
        return out

    def _score(
        self, snap: _Snapshot, req: _Request, p: ScoringParams
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, SVMSolution]:
        cand, in_place = _candidates(snap, req.rows, p)
        # The query's scores (its kNN scores) and the positives', in one pass over the matrix.
        vectors, first = _score_vectors(req)
        scores = row_products(cand, vectors)
        if in_place:
            scores = scores[:, req.rows]
        knn = scores[0]
        subset = None if in_place else self._subset_cache(snap, req.rows, p)
        problem, sampled = self._problem(snap, req, p, knn, cand, subset, scores[first:])
        solution = get_solver(p.solver)(problem)
        return self._finish(cand, req.rows if in_place else None, knn, solution, sampled, p)

    def _score_many(
        self, snap: _Snapshot, reqs: list[_Request], p: ScoringParams
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, SVMSolution]]:
        """:meth:`_score` for requests sharing their candidates, with matrix-matrix products.

        Used when the solver has a batch form and the candidates hold at least
        ``solvers.BATCH_MIN_ELEMENTS`` elements; the results then equal per-request scoring up
        to floating-point rounding (a product over 32 queries rounds differently from one
        over 1). Otherwise each request is scored on its own.
        """
        batch = get_batch_solver(p.solver)
        matrix = snap.vectors
        rows = reqs[0].rows
        n_cand = matrix.shape[0] if rows is None else rows.size
        if (
            len(reqs) < 2
            or batch is None
            or n_cand * matrix.shape[1] < solvers.BATCH_MIN_ELEMENTS
            or any(r.rows is not rows for r in reqs)
        ):
            return [self._score(snap, req, p) for req in reqs]
        cand, in_place = _candidates(snap, rows, p)
        # The queries and the stored positives after them (the same for every query) in one
        # pass, a contiguous row each (a column of the product would be read whole per query).
        shared = reqs[0].positives[1:]
        with_shared = shared.shape[0] > 0 and all(
            np.array_equal(r.positives[0], r.query) and np.array_equal(r.positives[1:], shared)
            for r in reqs
        )
        vectors = np.stack([r.query for r in reqs])
        scores = row_products(cand, np.vstack([vectors, shared]) if with_shared else vectors)
        if in_place:
            scores = scores[:, rows]
        knns = list(scores[: len(reqs)])
        shared_scores = scores[len(reqs) :] if with_shared else None
        subset = None if in_place else self._subset_cache(snap, rows, p)
        built = [
            self._problem(
                snap,
                req,
                p,
                knn,
                cand,
                subset,
                None if shared_scores is None else np.vstack([knn[None, :], shared_scores]),
            )
            for req, knn in zip(reqs, knns, strict=True)
        ]
        solutions = batch([problem for problem, _ in built])
        return [
            self._finish(cand, rows if in_place else None, knn, solution, sampled, p)
            for knn, solution, (_, sampled) in zip(knns, solutions, built, strict=True)
        ]

    @staticmethod
    def _problem(
        snap: _Snapshot,
        req: _Request,
        p: ScoringParams,
        knn: np.ndarray,
        cand: np.ndarray,
        subset: dict[str, Any] | None,
        positive_scores: np.ndarray | None = None,
    ) -> tuple[SVMProblem, bool]:
        """The SVM training problem of ``req`` and whether its negatives were sampled.

        ``cand`` holds the candidate rows: the stored matrix (all rows, or ``req.rows`` of it
        in place, see :func:`_candidates`), or the rows of ``req.rows`` already gathered, so
        that a candidate subset is not copied a second time; ``subset`` is the solver's cache
        for a gathered subset (:meth:`_subset_cache`). ``knn`` is aligned with the candidates,
        and so are ``positive_scores`` (every positive's scores, ``(P, n)``) when given.
        """
        train_rows = None
        sampled = _samples(knn.shape[0], p)
        if sampled:
            rng = np.random.default_rng(p.random_state)
            train_rows = np.sort(rng.choice(knn.shape[0], size=p.max_negatives, replace=False))
        in_place = cand is snap.vectors and req.rows is not None
        if in_place:
            train_rows = req.rows  # never sampled: _candidates gathers sampled subsets
        whole = (req.rows is None or in_place) and not sampled
        if whole:
            cache = snap.cache
        elif not sampled and subset is not None:
            cache = subset
        else:
            cache = {}
        problem = SVMProblem(
            matrix=cand,
            rows=train_rows,
            positives=req.positives,
            extra_negatives=req.extra_negatives,
            C=p.C,
            tol=p.tol,
            max_iter=p.max_iter,
            random_state=p.random_state,
            knn_scores=None if sampled else knn,
            positive_scores=None if sampled else positive_scores,
            cache=cache,
            cache_persists=whole,
        )
        return problem, sampled

    @staticmethod
    def _subset_cache(
        snap: _Snapshot, rows: np.ndarray | None, p: ScoringParams
    ) -> dict[str, Any] | None:
        """The solver's per-corpus cache restricted to the candidate ``rows``: a filtered
        search starts from the corpus's warm start, not from scratch. ``None`` without a
        subset, when the negatives will be sampled, or when the solver keeps no cache."""
        share = solvers.get_subset_cache(p.solver)
        if rows is None or share is None or _samples(rows.size, p):
            return None
        return share(snap.cache, snap.vectors, rows)

    @staticmethod
    def _finish(
        cand: np.ndarray,
        rows: np.ndarray | None,
        knn: np.ndarray,
        solution: SVMSolution,
        sampled: bool,
        p: ScoringParams,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, SVMSolution]:
        """SVM and hybrid scores of the candidates (``cand``, or its ``rows`` when scored in
        place) from a solved hyperplane."""
        if solution.row_scores is not None and not sampled:
            svm = np.asarray(solution.row_scores, dtype=np.float64)
        else:
            svm = (cand @ solution.coef.astype(cand.dtype)).astype(np.float64) + solution.intercept
            if rows is not None:
                svm = svm[rows]
        hybrid = fuse(knn, svm, alpha=p.alpha, fusion=p.fusion)
        return knn, svm, hybrid, solution

    def _hits(
        self,
        snap: _Snapshot,
        req: _Request,
        scores: tuple[np.ndarray, np.ndarray, np.ndarray],
        mode: str,
        k: int,
        rel: np.ndarray,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        knn, svm, hybrid = scores
        ranking = {"knn": knn, "svm": svm, "hybrid": hybrid}[mode]
        rows = np.arange(knn.shape[0]) if req.rows is None else req.rows
        if req.hidden or score_threshold is not None:
            visible = np.ones(rows.size, dtype=bool)
            if req.hidden:
                hidden = req.hidden
                visible &= np.fromiter((r not in hidden for r in rows), dtype=bool, count=rows.size)
            if score_threshold is not None:
                visible &= rel >= score_threshold
            positions = np.flatnonzero(visible)
            order = positions[top_k(ranking[positions], k)]
        else:
            order = top_k(ranking, k)

        def payload(pos: int) -> tuple[str, str | None, Mapping[str, Any]]:
            row = int(rows[pos])
            return snap.ids[row], snap.texts[row], snap.metadatas[row]

        return build_hits(order, ranking, (knn, svm, hybrid), rel, payload)


_IN_PLACE_MIN_ELEMENTS = 2_000_000  # N * D from which most-row subsets are scored in place


def _candidates(
    snap: _Snapshot, rows: np.ndarray | None, p: ScoringParams
) -> tuple[np.ndarray, bool]:
    """The matrix to score a request's candidates on, and whether its ``rows`` are scored in
    place: all rows when ``rows`` is None; the stored matrix when ``rows`` hold at least half
    of a large one (all but a search's stored positives, a broad filter), so that it is not
    copied (the solver blocks the other rows; the scores are then taken at ``rows``); else
    ``matrix[rows]``, which costs less than passes over the whole matrix and is solved with
    the arithmetic of an index holding only those rows (the same scores to the last bit on
    small corpora; on large ones both ways give the exact optimum to the solver's ``tol``)."""
    matrix = snap.vectors
    if rows is None:
        return matrix, False
    if (
        2 * rows.size >= matrix.shape[0]
        and matrix.size >= _IN_PLACE_MIN_ELEMENTS
        and not _samples(rows.size, p)
    ):
        return matrix, True
    return matrix[rows], False


def _score_vectors(req: _Request) -> tuple[np.ndarray, int]:
    """The vectors a search scores every candidate for, the query first, and where the
    positives start among them: the positives when the query is the first of them, else the
    query then the positives (a search by positives alone ranks for their mean)."""
    if np.array_equal(req.positives[0], req.query):
        return req.positives, 0
    return np.vstack([req.query[None, :], req.positives]), 1


def _samples(n_cand: int, p: ScoringParams) -> bool:
    """Whether the negatives of ``n_cand`` candidates are sampled (``p.max_negatives``)."""
    return p.max_negatives is not None and n_cand > p.max_negatives


def build_hits(
    order: np.ndarray,
    ranking: np.ndarray,
    scores: tuple[np.ndarray, np.ndarray, np.ndarray],
    relevance: np.ndarray | None,
    payload: Callable[[int], tuple[str, str | None, Mapping[str, Any]]],
) -> list[Hit]:
    """Hits for the candidate positions ``order`` (best first), every score a Python float.

    ``scores`` are the kNN, SVM and hybrid vectors over the candidates; ``payload(pos)`` gives
    a candidate's ``(id, text, metadata)``; metadata is deep-copied into the hit.
    """
    knn, svm, hybrid = scores
    hits = []
    for rank, pos in enumerate(order, start=1):
        doc_id, text, metadata = payload(int(pos))
        hits.append(
            Hit(
                id=doc_id,
                score=float(ranking[pos]),
                knn_score=float(knn[pos]),
                svm_score=float(svm[pos]),
                hybrid_score=float(hybrid[pos]),
                rank=rank,
                text=text,
                metadata=copy.deepcopy(dict(metadata)),
                relevance=0.0 if relevance is None else float(relevance[pos]),
            )
        )
    return hits


_MISSING = object()  # a row's value for a metadata key it lacks
_COLUMNS_KEY = "index.metadata_columns"  # snapshot cache: metadata key -> every row's value


def _rows_of(row_of: Mapping[str, int], ids: list[str]) -> np.ndarray:
    """The sorted, distinct rows of ``ids``; a KeyError names unknown ones (one C-level
    lookup per id: a filter keeping most of a large index passes many)."""
    if not ids:
        return np.zeros(0, dtype=np.int64)
    try:
        found = operator.itemgetter(*ids)(row_of)
    except KeyError:
        missing = [i for i in ids if i not in row_of]
        msg = f"unknown id(s) in ids: {missing[:5]!r}"
        raise KeyError(msg) from None
    return np.unique(np.asarray(found if len(ids) > 1 else [found], dtype=np.int64))


def _metadata_column(snap: _Snapshot, key: Any) -> list[Any]:
    """Every row's value for metadata ``key`` (``_MISSING`` where absent), built once per
    snapshot and key: a dict filter then compares values without a call per row."""
    columns = snap.cache.setdefault(_COLUMNS_KEY, {})
    column = columns.get(key)
    if column is None:
        column = [meta.get(key, _MISSING) for meta in snap.metadatas]
        columns[key] = column
    return column


def _as_predicate(where: Where) -> Callable[[Mapping[str, Any]], bool]:
    """``where`` as a predicate on one row's metadata (the index itself matches dicts of
    required values by column, with the same ``==``: :func:`_metadata_column`)."""
    if callable(where):
        return where
    if isinstance(where, Mapping):
        required = dict(where)
        return lambda meta: all(k in meta and meta[k] == v for k, v in required.items())
    msg = f"where must be a callable or a dict of required metadata values, got {type(where).__name__}"
    raise TypeError(msg)


def _fresh_ids(taken: Mapping[str, int], n: int) -> list[str]:
    out: list[str] = []
    i = len(taken)
    while len(out) < n:
        if str(i) not in taken:
            out.append(str(i))
        i += 1
    return out
