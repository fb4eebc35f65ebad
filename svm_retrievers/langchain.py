"""LangChain adapters: :class:`SVMRetriever`, :class:`SVMReranker`, :class:`SVMRerankingRetriever`.

Thin translations of the framework-free core (:class:`svm_retrievers.SVMIndex`): they embed
with a LangChain ``Embeddings`` model, call the core, and wrap its hits as ``Document``
objects whose metadata (a copy of the caller's) carries ``knn_score``, ``svm_score`` and
``hybrid_score`` as Python floats. No score is computed here.

Every LangChain import lives in this module: ``import svm_retrievers`` never imports LangChain.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever, RetrieverLike
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from ._locks import CopyableLock
from .index import Hit, SVMIndex, Where
from .params import DEFAULT_MODE, ScoringParams
from .sources.searcher import CandidateSearcher
from .validation import (
    check_id_list,
    check_ids,
    check_k,
    check_matrix,
    check_mode,
    check_model_output,
    check_optional_list,
    check_unit_interval,
)

__all__ = ["SVMReranker", "SVMRerankingRetriever", "SVMRetriever"]

DEFAULT_BATCH_SIZE = 64
"""Texts per ``embed_documents`` call."""

_SCORING_PARAMS = tuple(f.name for f in dataclasses.fields(ScoringParams) if f.name != "mode")
_RETRIEVER_OPTIONS = ("k", "mode", "filter", "positives", "negatives", "score_threshold")
_RERANKER_OPTIONS = ("k", "mode", "filter", "score_threshold")
SCORE_KEYS = ("knn_score", "svm_score", "hybrid_score", "relevance")
"""Metadata keys the adapters add to every returned document."""


# --------------------------------------------------------------------------- embedding checks
def _check_embedded(
    vectors: Any, *, model: Embeddings, method: str, count: int, dim: int | None
) -> np.ndarray:
    """What ``model.method`` returned as a finite ``(count, dim)`` float64 array, or an error."""
    return check_model_output(
        vectors, source=f"{type(model).__name__}.{method}", count=count, dim=dim
    )


def _batches(texts: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


def _embed_documents(
    model: Embeddings, texts: list[str], batch_size: int, dim: int | None
) -> np.ndarray:
    parts = []
    for batch in _batches(texts, batch_size):
        got = model.embed_documents(batch)
        parts.append(
            _check_embedded(got, model=model, method="embed_documents", count=len(batch), dim=dim)
        )
        dim = parts[-1].shape[1]
    return np.vstack(parts)


async def _aembed_documents(
    model: Embeddings, texts: list[str], batch_size: int, dim: int | None
) -> np.ndarray:
    parts = []
    for batch in _batches(texts, batch_size):
        got = await model.aembed_documents(batch)
        parts.append(
            _check_embedded(got, model=model, method="aembed_documents", count=len(batch), dim=dim)
        )
        dim = parts[-1].shape[1]
    return np.vstack(parts)


def _check_query(query: Any, *, empty_ok: bool = True) -> str:
    if not isinstance(query, str):
        msg = f"query must be a str, got {type(query).__name__}"
        raise TypeError(msg)
    if not empty_ok and not query.strip():
        msg = "query is empty: give a non-empty query to rank the candidates by"
        raise ValueError(msg)
    return query


def _check_query_vector(got: Any, model: Embeddings, method: str, dim: int | None) -> np.ndarray:
    if isinstance(got, (str, bytes, Mapping)) or not hasattr(got, "__len__"):
        msg = f"{type(model).__name__}.{method} must return a vector, got {type(got).__name__}"
        raise TypeError(msg)
    return _check_embedded([got], model=model, method=method, count=1, dim=dim)[0]


def _embed_query(model: Embeddings, query: str, dim: int | None) -> np.ndarray:
    return _check_query_vector(model.embed_query(query), model, "embed_query", dim)


async def _aembed_query(model: Embeddings, query: str, dim: int | None) -> np.ndarray:
    return _check_query_vector(await model.aembed_query(query), model, "aembed_query", dim)


# --------------------------------------------------------------------------- input checks
def _check_texts(texts: Any, name: str = "texts") -> list[str]:
    if isinstance(texts, (str, bytes)):
        msg = (
            f"{name} must be a list of str, got a single {type(texts).__name__}; wrap it as [text]"
        )
        raise TypeError(msg)
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            msg = f"{name}[{i}] must be a str, got {type(text).__name__}"
            raise TypeError(msg)
    return out


def _check_documents(documents: Any) -> list[Document]:
    if isinstance(documents, Document):
        msg = "documents must be a list of Document, got a single Document; wrap it as [document]"
        raise TypeError(msg)
    out = list(documents)
    for i, doc in enumerate(out):
        if not isinstance(doc, Document):
            msg = f"documents[{i}] must be a langchain_core Document, got {type(doc).__name__}"
            raise TypeError(msg)
    return out


def _split_options(kwargs: dict[str, Any], options: tuple[str, ...]) -> tuple[dict, dict]:
    """Per-call ``kwargs`` -> (adapter options, scoring overrides); unknown names are refused."""
    kwargs = dict(kwargs)
    kwargs.pop("verbose", None)  # BaseRetriever.invoke reads it and passes it on
    unknown = sorted(set(kwargs) - set(options) - set(_SCORING_PARAMS))
    if unknown:
        msg = (
            f"unknown option(s) {unknown}; per-call options are {list(options)} and the "
            f"scoring parameters {list(_SCORING_PARAMS)}"
        )
        raise TypeError(msg)
    # ``None`` means "not given": the retriever's or the index's setting applies.
    opts = {k: v for k, v in kwargs.items() if k in options and v is not None}
    params = {k: v for k, v in kwargs.items() if k in _SCORING_PARAMS and v is not None}
    if "k" in opts:
        check_k(opts["k"])
    if "mode" in opts:
        check_mode(opts["mode"])
    return opts, params


def _check_param_names(params: Mapping[str, Any], *extra: str) -> None:
    unknown = sorted(set(params) - {*_SCORING_PARAMS, *extra})
    if unknown:
        msg = (
            f"unknown scoring parameter(s) {unknown}; expected some of {[*_SCORING_PARAMS, *extra]}"
        )
        raise TypeError(msg)


def _with_scores(metadata: Mapping[str, Any], hit: Hit, **extra: float) -> dict[str, Any]:
    """A new dict: ``metadata`` (already a copy) plus the hit's three scores and ``extra``."""
    metadata = dict(metadata)
    metadata.update(hit.scores())
    metadata.update(extra)
    return metadata


# --------------------------------------------------------------------------- SVMRetriever
class SVMRetriever(BaseRetriever):
    """A LangChain retriever over an :class:`~svm_retrievers.SVMIndex` or a Milvus collection.

    Ranks by the exemplar SVM, kNN or a hybrid. With :meth:`from_milvus` the documents live
    in Milvus (writes go there) and the SVM is the exact full-collection one
    (:class:`~svm_retrievers.sources.milvus.MilvusSVMSearcher`).

    Every returned ``Document`` keeps its ``id`` and a copy of its metadata, plus
    ``knn_score``, ``svm_score`` and ``hybrid_score`` (Python floats).

    Setup:
        ``pip install "svm-retrievers[langchain]"``; any LangChain ``Embeddings`` model.

    Key init args:
        index: the :class:`SVMIndex` holding vectors, ids, texts and metadata, or a
            :class:`~svm_retrievers.sources.CandidateSearcher` (e.g. ``MilvusSVMSearcher``).
        embedding: the ``Embeddings`` model that embeds queries (and added texts).
        k: documents per call (default 4); mode: ``"knn"`` (default), ``"svm"`` or ``"hybrid"``.
        batch_size: texts per ``embed_documents`` call.

    Per call, ``invoke(query, k=..., mode=..., filter=..., positives=..., negatives=...,
    C=..., alpha=..., ...)``: ``filter`` (a predicate on metadata or a dict of required values)
    restricts the candidates before the SVM is trained; ``positives``/``negatives`` are stored
    ids, vectors or ``Document`` objects ("more like these, not like those"); an empty query
    with ``positives`` searches by the positives alone. Scoring parameters are those of
    :class:`~svm_retrievers.ScoringParams`.

    Example:
        .. code-block:: python

            retriever = SVMRetriever.from_texts(texts, embedding, k=3, mode="hybrid")
            docs = retriever.invoke("what is an exemplar svm?", k=1, mode="svm")
            docs[0].metadata["svm_score"]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: SVMIndex | CandidateSearcher = Field(repr=False, exclude=True)
    """The core index (vectors, ids, texts, metadata, scoring parameters), or a searcher
    over a vector database (:class:`~svm_retrievers.sources.milvus.MilvusSVMSearcher`)."""
    embedding: Embeddings = Field(exclude=True)
    """Embeds the query (``embed_query``) and added texts (``embed_documents``)."""
    k: int = 4
    """Documents returned per call (overridable per call)."""
    mode: str = DEFAULT_MODE
    """Ranking score: ``"svm"``, ``"knn"`` or ``"hybrid"`` (overridable per call)."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Texts per ``embed_documents`` call."""
    score_threshold: float | None = None
    """Keep only documents whose calibrated ``relevance`` (in [0, 1]) is at least this
    (overridable per call; ``svm_retrievers.calibration.RELEVANCE_THRESHOLD`` is a sensible
    value)."""

    @field_validator("k", "batch_size", mode="before")
    @classmethod
    def _valid_count(cls, value: Any, info: Any) -> int:
        return check_k(value, info.field_name)

    @field_validator("mode")
    @classmethod
    def _valid_mode(cls, value: Any) -> str:
        return check_mode(value)

    @field_validator("score_threshold", mode="before")
    @classmethod
    def _valid_threshold(cls, value: Any) -> float | None:
        return None if value is None else check_unit_interval(value, "score_threshold")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        embedding: Embeddings,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
        *,
        k: int = 4,
        mode: str = DEFAULT_MODE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **params: Any,
    ) -> SVMRetriever:
        """Embed ``texts`` with ``embedding.embed_documents`` (in batches) and index them.

        ``ids`` default to fresh UUIDs; ``params`` are the index's
        :class:`~svm_retrievers.ScoringParams` (``C``, ``alpha``, ...), ``dtype``, or the
        retriever's ``score_threshold``.
        """
        retriever = cls._empty(embedding, k, mode, batch_size, params)
        texts = _check_texts(texts)
        _refuse_empty(texts, "texts")
        retriever.add_texts(texts, metadatas, ids)
        return retriever

    @classmethod
    async def afrom_texts(
        cls,
        texts: Iterable[str],
        embedding: Embeddings,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
        *,
        k: int = 4,
        mode: str = DEFAULT_MODE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **params: Any,
    ) -> SVMRetriever:
        """Async :meth:`from_texts` (``aembed_documents``)."""
        retriever = cls._empty(embedding, k, mode, batch_size, params)
        texts = _check_texts(texts)
        _refuse_empty(texts, "texts")
        await retriever.aadd_texts(texts, metadatas, ids)
        return retriever

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Document],
        embedding: Embeddings,
        *,
        k: int = 4,
        mode: str = DEFAULT_MODE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **params: Any,
    ) -> SVMRetriever:
        """Index ``documents`` (``page_content``, ``metadata``, and ``id`` when set)."""
        retriever = cls._empty(embedding, k, mode, batch_size, params)
        documents = _check_documents(documents)
        _refuse_empty(documents, "documents")
        retriever.add_documents(documents)
        return retriever

    @classmethod
    async def afrom_documents(
        cls,
        documents: Iterable[Document],
        embedding: Embeddings,
        *,
        k: int = 4,
        mode: str = DEFAULT_MODE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **params: Any,
    ) -> SVMRetriever:
        """Async :meth:`from_documents` (``aembed_documents``)."""
        retriever = cls._empty(embedding, k, mode, batch_size, params)
        documents = _check_documents(documents)
        _refuse_empty(documents, "documents")
        await retriever.aadd_documents(documents)
        return retriever

    @classmethod
    def from_embeddings(
        cls,
        text_embeddings: Iterable[tuple[str, Sequence[float]]],
        embedding: Embeddings,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
        *,
        k: int = 4,
        mode: str = DEFAULT_MODE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **params: Any,
    ) -> SVMRetriever:
        """Index precomputed ``(text, vector)`` pairs; ``embedding`` then embeds queries only."""
        retriever = cls._empty(embedding, k, mode, batch_size, params)
        pairs = list(text_embeddings)
        _refuse_empty(pairs, "text_embeddings")
        retriever.add_embeddings(pairs, metadatas, ids)
        return retriever

    @classmethod
    def from_milvus(
        cls,
        embedding: Embeddings,
        uri: str | None = None,
        collection_name: str = "LangChainCollection",
        *,
        token: str = "",
        client: Any = None,
        dim: int | None = None,
        vector_field: str | None = None,
        id_field: str | None = None,
        text_field: str | None = "text",
        metadata_field: str | None = None,
        k: int = 4,
        mode: str = DEFAULT_MODE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        score_threshold: float | None = None,
        **options: Any,
    ) -> SVMRetriever:
        """A retriever over the Milvus collection ``collection_name``; writes go to Milvus.

        ``uri`` is a local file (embedded Milvus Lite) or ``http://host:19530`` (a server or
        cluster; ``token="user:password"``), or pass ``client=`` a ``MilvusClient``. The
        collection must exist (``langchain-milvus`` defaults ``pk``/``vector``/``text`` and
        one field per metadata key or dynamic fields are read as they are; give
        ``metadata_field="metadata"`` for a JSON metadata field) unless ``dim`` is given:
        then a missing collection is created. ``vector_field=None`` takes the collection's
        only vector field, ``id_field=None`` its primary key. ``options`` are
        :class:`~svm_retrievers.sources.CandidateSearcher` settings (``m``, ``max_m``,
        ``verify``, ``relevance=True`` for calibrated relevance and ``score_threshold``, at
        the cost of one pass over the collection at the first search, ...),
        ``metric``/``index_type`` for a new collection, and scoring parameters (``C``,
        ``alpha``, ...).
        """
        from .sources.milvus import MilvusSVMSearcher

        searcher = MilvusSVMSearcher.open(
            uri,
            collection_name,
            token=token,
            client=client,
            dim=dim,
            vector_field=vector_field,
            id_field=id_field,
            text_field=text_field,
            metadata_field=metadata_field,
            **options,
        )
        return cls(
            index=searcher,
            embedding=embedding,
            k=k,
            mode=mode,
            batch_size=batch_size,
            score_threshold=score_threshold,
        )

    @classmethod
    def _empty(
        cls, embedding: Embeddings, k: int, mode: str, batch_size: int, params: dict[str, Any]
    ) -> SVMRetriever:
        _check_param_names(params, "dtype", "score_threshold")
        params = dict(params)
        threshold = params.pop("score_threshold", None)
        return cls(
            index=SVMIndex(**params),
            embedding=embedding,
            k=k,
            mode=mode,
            batch_size=batch_size,
            score_threshold=threshold,
        )

    # ------------------------------------------------------------------ writes
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Embed and add ``texts``; returns their ids (fresh UUIDs where none is given).

        An empty list adds nothing and returns ``[]``.
        """
        texts, metadatas, new_ids = self._prepare(texts, metadatas, ids)
        if not texts:
            return []
        vectors = _embed_documents(self.embedding, texts, self.batch_size, self.index.dim)
        return self.index.add(vectors, new_ids, texts=texts, metadatas=metadatas)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Async :meth:`add_texts` (``aembed_documents``)."""
        texts, metadatas, new_ids = self._prepare(texts, metadatas, ids)
        if not texts:
            return []
        vectors = await _aembed_documents(self.embedding, texts, self.batch_size, self.index.dim)
        return await asyncio.to_thread(
            self.index.add, vectors, new_ids, texts=texts, metadatas=metadatas
        )

    def add_documents(
        self, documents: Iterable[Document], ids: Sequence[str | None] | None = None
    ) -> list[str]:
        """Add ``documents``; keeps each ``Document.id`` that is set (``ids`` overrides them)."""
        texts, metadatas, doc_ids = _unpack_documents(documents, ids)
        return self.add_texts(texts, metadatas, doc_ids)

    async def aadd_documents(
        self, documents: Iterable[Document], ids: Sequence[str | None] | None = None
    ) -> list[str]:
        """Async :meth:`add_documents`."""
        texts, metadatas, doc_ids = _unpack_documents(documents, ids)
        return await self.aadd_texts(texts, metadatas, doc_ids)

    def add_embeddings(
        self,
        text_embeddings: Iterable[tuple[str, Sequence[float]]],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add precomputed ``(text, vector)`` pairs; returns their ids."""
        pairs = list(text_embeddings)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                got = (
                    f"a {type(pair).__name__} of length {len(pair)}"
                    if isinstance(pair, (tuple, list))
                    else type(pair).__name__
                )
                msg = f"text_embeddings[{i}] must be a (text, vector) pair, got {got}"
                raise TypeError(msg)
        texts, metadatas, new_ids = self._prepare([p[0] for p in pairs], metadatas, ids)
        if not texts:
            return []
        vectors = [p[1] for p in pairs]
        return self.index.add(vectors, new_ids, texts=texts, metadatas=metadatas)

    def _prepare(
        self,
        texts: Iterable[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
    ) -> tuple[list[str], list[Mapping[str, Any] | None] | None, list[str] | None]:
        """Check texts, metadatas and ids before anything is embedded. Without any id, a
        database makes its own (``None``): its keys may be integers, or generated."""
        texts = _check_texts(texts)
        n = len(texts)
        metas = check_optional_list(metadatas, n, "metadatas")
        given = check_optional_list(ids, n, "ids") or [None] * n
        if isinstance(self.index, CandidateSearcher) and all(i is None for i in given):
            return texts, metas, None
        new_ids = check_ids([i if i is not None else str(uuid.uuid4()) for i in given], n)
        clash = _stored(self.index, new_ids)
        if clash:
            msg = f"ids already in the index: {clash[:5]!r}"
            raise ValueError(msg)
        return texts, metas, new_ids

    def delete(self, ids: Iterable[str]) -> None:
        """Remove the documents with these ids (in memory every id must be stored; Milvus
        skips unknown ids)."""
        self.index.delete(check_id_list(ids))

    def get_by_ids(self, ids: Sequence[str]) -> list[Document]:
        """The stored documents with these ids (copies), skipping unknown ids."""
        ids = check_id_list(ids)
        if isinstance(self.index, CandidateSearcher):
            got = self.index.fetch(list(ids))
            return [
                Document(page_content=text or "", metadata=metadata, id=doc_id)
                for doc_id, text, metadata in zip(got.ids, got.texts, got.metadatas, strict=True)
            ]
        out = []
        for doc_id in ids:
            if doc_id in self.index:
                text, metadata = self.index.get(doc_id)
                out.append(Document(page_content=text or "", metadata=metadata, id=doc_id))
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the index and these settings to the directory ``path`` (``.npy`` + JSON).

        The settings go under ``"langchain"`` in the index's ``extra``; other adapters'
        keys already there are kept. An embedder of :mod:`svm_retrievers.embeddings` (wrapped
        by ``as_langchain``) is saved with the index; any other model must be passed to
        :meth:`load` again. A Milvus-backed retriever has nothing to save (its documents
        live in Milvus): this raises ``TypeError``; build it again with :meth:`from_milvus`.
        """
        if not isinstance(self.index, SVMIndex):
            msg = (
                f"save() writes an in-memory SVMIndex; this retriever searches a"
                f" {type(self.index).__name__} whose documents stay in the database: build it"
                " again with SVMRetriever.from_milvus(...) instead of saving it"
            )
            raise TypeError(msg)
        embedder = getattr(self.embedding, "embedder", None)
        if hasattr(embedder, "to_state"):
            self.index.embedder = embedder
        settings = {
            "k": self.k,
            "mode": self.mode,
            "batch_size": self.batch_size,
            "score_threshold": self.score_threshold,
            "embedding": type(self.embedding).__name__,
        }
        self.index.save(path, extra={**self.index.extra, "langchain": settings})

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        embedding: Embeddings | None = None,
        *,
        k: int | None = None,
        mode: str | None = None,
        batch_size: int | None = None,
        score_threshold: float | None = None,
    ) -> SVMRetriever:
        """Load a retriever written by :meth:`save`; ``k``/``mode``/``batch_size``/
        ``score_threshold`` override the saved settings. ``embedding`` must be the model the
        index was built with; it may be left out when the index carries its own embedder
        (see :meth:`save`)."""
        index = SVMIndex.load(path)
        if embedding is None:
            if index.embedder is None:
                msg = (
                    f"the index at {str(path)!r} carries no embedder: pass embedding=, the"
                    " model it was built with"
                )
                raise ValueError(msg)
            from .embeddings.langchain import as_langchain

            embedding = as_langchain(index.embedder)
        saved = index.extra.get("langchain", {})
        if not isinstance(saved, Mapping):
            msg = (
                f"the saved 'langchain' settings must be a JSON object, got {type(saved).__name__}"
            )
            raise ValueError(msg)
        given: dict[str, Any] = {
            "k": k,
            "mode": mode,
            "batch_size": batch_size,
            "score_threshold": score_threshold,
        }
        settings: dict[str, Any] = {
            name: given[name] if given[name] is not None else saved[name]
            for name in given
            if given[name] is not None or name in saved
        }
        return cls(index=index, embedding=embedding, **settings)

    # ------------------------------------------------------------------ retrieval
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        opts, params = _split_options(kwargs, _RETRIEVER_OPTIONS)
        query = _check_query(query)
        dim = self.index.dim
        positives = self._examples(opts.get("positives"), "positives")
        negatives = self._examples(opts.get("negatives"), "negatives")
        vector = (
            None if _by_positives(query, positives) else _embed_query(self.embedding, query, dim)
        )
        return self._search(vector, opts, positives, negatives, params)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        opts, params = _split_options(kwargs, _RETRIEVER_OPTIONS)
        query = _check_query(query)
        dim = self.index.dim
        positives = await self._aexamples(opts.get("positives"), "positives")
        negatives = await self._aexamples(opts.get("negatives"), "negatives")
        vector = (
            None
            if _by_positives(query, positives)
            else await _aembed_query(self.embedding, query, dim)
        )
        return await asyncio.to_thread(self._search, vector, opts, positives, negatives, params)

    def _search(
        self,
        vector: np.ndarray | None,
        opts: dict[str, Any],
        positives: Any,
        negatives: Any,
        params: dict[str, Any],
    ) -> list[Document]:
        hits = self.index.search(
            vector,
            k=opts.get("k", self.k),
            mode=opts.get("mode") or self.mode,
            where=opts.get("filter"),
            positives=positives,
            negatives=negatives,
            score_threshold=opts.get("score_threshold", self.score_threshold),
            **params,
        )
        return [
            Document(
                page_content=hit.text or "", metadata=_with_scores(hit.metadata, hit), id=hit.id
            )
            for hit in hits
        ]

    def _examples(self, examples: Any, name: str) -> Any:
        """Positives/negatives: stored Documents become their ids, the others embeddings."""
        value, texts = self._split_examples(examples, name)
        if texts is None:
            return value
        vectors = _embed_documents(self.embedding, texts, self.batch_size, self.index.dim)
        return [*value, *vectors] if value else vectors

    async def _aexamples(self, examples: Any, name: str) -> Any:
        value, texts = self._split_examples(examples, name)
        if texts is None:
            return value
        vectors = await _aembed_documents(self.embedding, texts, self.batch_size, self.index.dim)
        return [*value, *vectors] if value else vectors

    def _split_examples(self, examples: Any, name: str) -> tuple[Any, list[str] | None]:
        """``(value for the core, None)``, or ``(stored Documents' ids, texts to embed)`` when
        some Documents are not stored (stored ones stay ids, so they are never returned)."""
        if examples is None or isinstance(examples, (str, np.ndarray)):
            return examples, None
        if not isinstance(examples, (Document, Iterable)):
            return examples, None  # the index names the problem
        items = [examples] if isinstance(examples, Document) else list(examples)
        n_docs = sum(isinstance(x, Document) for x in items)
        if n_docs == 0:
            return items, None
        if n_docs != len(items):
            msg = f"{name} must be all Documents, all stored ids, or all vectors; got a mix"
            raise TypeError(msg)
        stored = [d.id is not None and d.id in self.index for d in items]
        ids = [d.id for d, s in zip(items, stored, strict=True) if s]
        texts = [d.page_content for d, s in zip(items, stored, strict=True) if not s]
        return ids, texts or None


def _stored(index: SVMIndex | CandidateSearcher, ids: Sequence[str]) -> list[str]:
    """Which of ``ids`` the index or searcher already holds (one lookup for a database)."""
    if isinstance(index, CandidateSearcher):
        return index.fetch(ids).ids if ids else []
    return [i for i in ids if i in index]


def _refuse_empty(items: list[Any], name: str) -> None:
    if not items:
        msg = f"{name} is empty: at least one document is needed to build a retriever"
        raise ValueError(msg)


def _unpack_documents(
    documents: Iterable[Document], ids: Sequence[str | None] | None
) -> tuple[list[str], list[dict[str, Any]], list[str | None]]:
    docs = _check_documents(documents)
    given = check_optional_list(ids, len(docs), "ids")
    doc_ids = given if given is not None else [d.id for d in docs]
    return [d.page_content for d in docs], [d.metadata for d in docs], doc_ids


def _by_positives(query: str, positives: Any) -> bool:
    """An empty query searches by the positives alone; without positives it is refused."""
    if query.strip():
        return False
    if positives is None or (hasattr(positives, "__len__") and len(positives) == 0):
        msg = "query is empty: give a non-empty query, or positives=... for 'more like these'"
        raise ValueError(msg)
    return True


# --------------------------------------------------------------------------- SVMReranker
class SVMReranker(BaseDocumentCompressor):
    """Reranks any retriever's candidates with an exemplar SVM trained on those candidates.

    Each candidate is embedded once (``embed_documents``; repeats, by ``id`` or else by
    ``page_content``, are dropped), the query is the SVM's positive and the candidates
    (plus the optional ``background`` sample) its negatives. Every returned document carries
    ``knn_score``, ``svm_score``, ``hybrid_score`` and ``relevance_score`` (the score of
    ``mode``) in a copy of its metadata; the best ``top_n`` come back, best first.

    Key init args:
        embedding: the ``Embeddings`` model for the query and the candidates.
        top_n: how many documents to return (default 3).
        mode: ``"knn"`` (default), ``"svm"`` or ``"hybrid"``.
        params: :class:`~svm_retrievers.ScoringParams` fields (``C``, ``alpha``, ...).
        background: extra negatives: a list of texts (embedded once) or an ``(M, D)`` array.

    Example:
        .. code-block:: python

            reranker = SVMReranker(embedding=embedding, top_n=3)
            best = reranker.compress_documents(vector_store.similarity_search(q, k=50), q)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    embedding: Embeddings = Field(exclude=True)
    top_n: int = 3
    mode: str = DEFAULT_MODE
    params: dict[str, Any] = Field(default_factory=dict)
    background: Any = Field(default=None, repr=False, exclude=True)
    batch_size: int = DEFAULT_BATCH_SIZE
    score_threshold: float | None = None

    _background_vectors: np.ndarray | None = PrivateAttr(default=None)
    _lock: CopyableLock = PrivateAttr(default_factory=CopyableLock)

    @field_validator("top_n", "batch_size", mode="before")
    @classmethod
    def _valid_count(cls, value: Any, info: Any) -> int:
        return check_k(value, info.field_name)

    @field_validator("mode")
    @classmethod
    def _valid_mode(cls, value: Any) -> str:
        return check_mode(value)

    @field_validator("score_threshold", mode="before")
    @classmethod
    def _valid_threshold(cls, value: Any) -> float | None:
        return None if value is None else check_unit_interval(value, "score_threshold")

    @field_validator("params")
    @classmethod
    def _valid_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "mode" in value:
            msg = "give mode as SVMReranker(mode=...), not in params"
            raise ValueError(msg)
        _check_param_names(value)
        ScoringParams(**value)
        return value

    @field_validator("background", mode="before")
    @classmethod
    def _valid_background(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, bytes)):
            msg = (
                "background must be a list of texts or an (M, D) array of vectors, got a single str"
            )
            raise TypeError(msg)
        if not isinstance(value, np.ndarray) and all(isinstance(x, str) for x in value):
            texts = list(value)
            return texts or None
        return check_matrix(value, "background", dtype=np.float64)

    # ------------------------------------------------------------------ LangChain API
    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The best ``top_n`` of ``documents`` for ``query``, with the scores in their metadata."""
        return self.rerank(documents, query)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents`; scoring runs in a worker thread."""
        return await self.arerank(documents, query)

    # ------------------------------------------------------------------ reranking
    def rerank(self, documents: Iterable[Document], query: str, **kwargs: Any) -> list[Document]:
        """:meth:`compress_documents` with per-call ``k``, ``mode``, ``filter``, scoring params."""
        opts, params = _split_options(kwargs, _RERANKER_OPTIONS)
        query = _check_query(query, empty_ok=False)
        unique, contents = _unique_candidates(documents)
        if not unique:
            return []
        vectors = _embed_documents(self.embedding, contents, self.batch_size, None)
        vector = _embed_query(self.embedding, query, vectors.shape[1])
        background = self._background(vectors.shape[1])
        return self._rank(unique, contents, vectors, vector, background, opts, params)

    async def arerank(
        self, documents: Iterable[Document], query: str, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`rerank` (``aembed_documents``/``aembed_query``; scoring in a thread)."""
        opts, params = _split_options(kwargs, _RERANKER_OPTIONS)
        query = _check_query(query, empty_ok=False)
        unique, contents = _unique_candidates(documents)
        if not unique:
            return []
        vectors = await _aembed_documents(self.embedding, contents, self.batch_size, None)
        vector = await _aembed_query(self.embedding, query, vectors.shape[1])
        background = await self._abackground(vectors.shape[1])
        return await asyncio.to_thread(
            self._rank, unique, contents, vectors, vector, background, opts, params
        )

    def _background(self, dim: int) -> np.ndarray | None:
        """The background vectors (texts are embedded on first use, then kept)."""
        if self.background is None:
            return None
        with self._lock:
            if self._background_vectors is None:
                if isinstance(self.background, np.ndarray):
                    self._background_vectors = self.background
                else:
                    self._background_vectors = _embed_documents(
                        self.embedding, self.background, self.batch_size, None
                    )
            return _check_background(self._background_vectors, dim)

    async def _abackground(self, dim: int) -> np.ndarray | None:
        if self.background is None or isinstance(self.background, np.ndarray):
            return self._background(dim)
        if self._background_vectors is None:
            vectors = await _aembed_documents(
                self.embedding, self.background, self.batch_size, None
            )
            with self._lock:
                if self._background_vectors is None:
                    self._background_vectors = vectors
        return _check_background(self._background_vectors, dim)

    def _rank(
        self,
        unique: list[Document],
        contents: list[str],
        vectors: np.ndarray,
        query_vector: np.ndarray,
        background: np.ndarray | None,
        opts: dict[str, Any],
        params: dict[str, Any],
    ) -> list[Document]:
        row_of = {text: row for row, text in enumerate(contents)}
        matrix = vectors[[row_of[d.page_content] for d in unique]]
        index = SVMIndex.from_embeddings(
            matrix,
            ids=[str(i) for i in range(len(unique))],
            metadatas=[d.metadata for d in unique] if opts.get("filter") is not None else None,
            dtype=np.float64,
            **self.params,
        )
        where: Where | None = opts.get("filter")
        hits = index.search(
            query_vector,
            k=opts.get("k") or self.top_n,
            mode=opts.get("mode") or self.mode,
            where=where,
            negatives=background,
            score_threshold=opts.get("score_threshold", self.score_threshold),
            **params,
        )
        out = []
        for hit in hits:
            doc = unique[int(hit.id)]
            metadata = _with_scores(copy.deepcopy(doc.metadata), hit, relevance_score=hit.score)
            out.append(doc.model_copy(update={"metadata": metadata}))
        return out


def _check_background(vectors: np.ndarray, dim: int) -> np.ndarray:
    if vectors.shape[1] != dim:
        msg = (
            f"background has dimension {vectors.shape[1]},"
            f" but the candidates' embeddings have dimension {dim}"
        )
        raise ValueError(msg)
    return vectors


def _unique_candidates(documents: Iterable[Document]) -> tuple[list[Document], list[str]]:
    """Candidates without repeats (same ``id``, or same content when there is no id), and
    their distinct contents in first-seen order (each embedded once)."""
    docs = _check_documents(documents)
    seen: set[tuple[str, str]] = set()
    unique: list[Document] = []
    contents: dict[str, None] = {}
    for doc in docs:
        key = ("id", doc.id) if doc.id is not None else ("text", doc.page_content)
        if key in seen:
            continue
        seen.add(key)
        unique.append(doc)
        contents.setdefault(doc.page_content, None)
    return unique, list(contents)


# --------------------------------------------------------------------------- reranking retriever
class SVMRerankingRetriever(BaseRetriever):
    """Any retriever proposes candidates; :class:`SVMReranker` ranks them.

    A dependency-free stand-in for ``ContextualCompressionRetriever`` (now in
    ``langchain-classic``). Per call: ``k`` (default: ``k`` here, else the reranker's
    ``top_n``), ``mode``, ``filter`` and scoring parameters go to the reranker.

    Example:
        .. code-block:: python

            retriever = SVMRerankingRetriever(
                base_retriever=vector_store.as_retriever(search_kwargs={"k": 50}),
                reranker=SVMReranker(embedding=embedding),
                k=4,
            )
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    base_retriever: RetrieverLike
    """Proposes the candidates (any Runnable from a query str to a list of Documents)."""
    reranker: SVMReranker
    k: int | None = None
    """Documents returned per call; ``None`` uses ``reranker.top_n``."""

    @field_validator("k", mode="before")
    @classmethod
    def _valid_k(cls, value: Any) -> int | None:
        return None if value is None else check_k(value)

    def _options(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        opts, params = _split_options(kwargs, _RERANKER_OPTIONS)
        if "k" not in opts:
            opts["k"] = self.k if self.k is not None else self.reranker.top_n
        return opts, params

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        opts, params = self._options(kwargs)  # refuse bad options before retrieving
        _check_query(query, empty_ok=False)
        candidates = self.base_retriever.invoke(
            query, config={"callbacks": run_manager.get_child()}
        )
        return self.reranker.rerank(candidates, query, **opts, **params)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        opts, params = self._options(kwargs)  # refuse bad options before retrieving
        _check_query(query, empty_ok=False)
        candidates = await self.base_retriever.ainvoke(
            query, config={"callbacks": run_manager.get_child()}
        )
        return await self.reranker.arerank(candidates, query, **opts, **params)
