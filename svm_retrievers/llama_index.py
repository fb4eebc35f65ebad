"""LlamaIndex adapters: :class:`SVMRetriever` and :class:`SVMReranker`.

Thin translations onto :class:`svm_retrievers.SVMIndex`: embed with the LlamaIndex model,
search with the core, and hand back ``NodeWithScore`` objects whose node copies carry
``knn_score``, ``svm_score`` and ``hybrid_score`` in their metadata (kept out of LLM prompts
and embeddings). Every LlamaIndex import lives in this module, so ``import svm_retrievers``
never needs ``llama-index-core``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager
from llama_index.core.indices.vector_store.base import VectorStoreIndex
from llama_index.core.ingestion import run_transformations
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import (
    BaseNode,
    Document,
    MetadataMode,
    NodeWithScore,
    QueryBundle,
    TextNode,
    TransformComponent,
)
from llama_index.core.settings import Settings
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from llama_index.core.vector_stores.simple import SimpleVectorStore
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.core.vector_stores.utils import (
    build_metadata_filter_fn,
    metadata_dict_to_node,
    node_to_metadata_dict,
)

from ._locks import CopyableLock
from .index import Hit, SVMIndex
from .params import DEFAULT_MODE, ScoringParams
from .sources.searcher import CandidateSearcher
from .validation import (
    check_id_list,
    check_ids,
    check_k,
    check_matrix,
    check_mode,
    check_model_output,
    check_unit_interval,
    check_vector,
)

SCORE_KEYS = ("knn_score", "svm_score", "hybrid_score", "relevance")
"""Metadata keys added to every returned node (excluded from LLM prompts and embeddings)."""

EXTRA_KEY = "llama_index"
"""The key under which the retriever keeps its settings in the core's ``extra`` JSON."""

_REF_DOC_KEYS = ("document_id", "doc_id", "ref_doc_id")


# ---------------------------------------------------------------------------- shared helpers
def _resolve_embed_model(
    embed_model: BaseEmbedding | None, saved: str | None = None
) -> BaseEmbedding:
    """``embed_model``, else LlamaIndex's ``Settings.embed_model`` (``saved``: the class
    name of the model an index was built with, for the error message)."""
    if embed_model is None:
        try:
            return Settings.embed_model
        except ImportError as exc:  # its default is OpenAI's, maybe not installed
            built = f" (this index was built with {saved})" if saved else ""
            msg = (
                "no embed_model was given and LlamaIndex's Settings.embed_model could not be"
                f" created: {exc}. Pass embed_model=, the model the nodes were embedded with{built}"
            )
            raise ValueError(msg) from exc
    if not isinstance(embed_model, BaseEmbedding):
        msg = f"embed_model must be a llama_index BaseEmbedding, got {type(embed_model).__name__}"
        raise TypeError(msg)
    return embed_model


def _embed_texts(
    embed_model: BaseEmbedding,
    texts: list[str],
    *,
    dim: int | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Embed ``texts`` with the model's batch API and check what comes back."""
    raw = embed_model.get_text_embedding_batch(texts, show_progress=show_progress)
    return _check_embeddings(raw, len(texts), dim, embed_model, "get_text_embedding_batch")


async def _aembed_texts(
    embed_model: BaseEmbedding, texts: list[str], *, dim: int | None = None
) -> np.ndarray:
    raw = await embed_model.aget_text_embedding_batch(texts)
    return _check_embeddings(raw, len(texts), dim, embed_model, "aget_text_embedding_batch")


def _check_embeddings(
    raw: Any, n: int, dim: int | None, model: BaseEmbedding, method: str
) -> np.ndarray:
    return check_model_output(raw, source=f"{type(model).__name__}.{method}", count=n, dim=dim)


def _with_embedded(nodes: Sequence[BaseNode], embedded: np.ndarray | None) -> list[Any]:
    """Each node's own embedding, or the next row of ``embedded`` for nodes without one."""
    rows: list[Any] = []
    j = 0
    for node in nodes:
        if node.embedding is None:
            assert embedded is not None
            rows.append(embedded[j])
            j += 1
        else:
            rows.append(node.embedding)
    return rows


def _carried_dim(nodes: Sequence[BaseNode]) -> int | None:
    """The dimension of the first embedding the nodes carry (``None`` if none does)."""
    return next((len(n.embedding) for n in nodes if n.embedding is not None), None)


def _query_source(query_bundle: QueryBundle, reuse: bool) -> tuple[Any, list[str]]:
    """``(the bundle's embedding, [])`` when it is to be used, else ``(None, strings to
    embed)``. ``reuse=False`` (a reranker that embedded the nodes itself) embeds the query
    with the same model, unless the bundle has nothing but its embedding."""
    strs = list(query_bundle.embedding_strs)
    blank = not any(isinstance(x, str) and x.strip() for x in strs)
    if query_bundle.embedding is not None and (reuse or blank):
        return query_bundle.embedding, []
    if blank:
        msg = "query is empty: give a non-empty query_str, or a QueryBundle with an embedding"
        raise ValueError(msg)
    return None, strs


def _query_embedding(
    embed_model: BaseEmbedding, query_bundle: QueryBundle, dim: int | None, *, reuse: bool = True
) -> np.ndarray:
    """The query vector: the bundle's precomputed embedding as is (see
    :func:`_query_source`), else the model's."""
    given, strs = _query_source(query_bundle, reuse)
    if given is not None:
        return check_vector(given, "QueryBundle.embedding", dim=dim)
    if len(strs) == 1:
        raw = embed_model.get_query_embedding(strs[0])
    else:
        raw = embed_model.get_agg_embedding_from_queries(strs)
    return check_vector(raw, f"query embedding returned by {type(embed_model).__name__}", dim=dim)


async def _aquery_embedding(
    embed_model: BaseEmbedding, query_bundle: QueryBundle, dim: int | None, *, reuse: bool = True
) -> np.ndarray:
    given, strs = _query_source(query_bundle, reuse)
    if given is not None:
        return check_vector(given, "QueryBundle.embedding", dim=dim)
    if len(strs) == 1:
        raw = await embed_model.aget_query_embedding(strs[0])
    else:
        raw = await embed_model.aget_agg_embedding_from_queries(strs)
    return check_vector(raw, f"query embedding returned by {type(embed_model).__name__}", dim=dim)


_SCORED_CLASSES: dict[type[BaseNode], type[BaseNode]] = {}


def _scored_class(cls: type[BaseNode]) -> type[BaseNode]:
    """A subclass of ``cls`` whose ``hash`` ignores the score keys.

    LlamaIndex identifies nodes by ``node.hash`` (text + metadata), e.g. when
    ``QueryFusionRetriever`` fuses the results of several retrievers: a node carrying our
    scores must hash as the same node, or fusion counts it twice. ``class_name`` and
    ``get_type`` are inherited, so the copy serializes exactly as ``cls``.
    """
    sub = _SCORED_CLASSES.get(cls)
    if sub is None:
        base_hash = cls.hash

        def _hash(self: BaseNode) -> str:
            meta = {k: v for k, v in self.metadata.items() if k not in SCORE_KEYS}
            return base_hash.fget(self.model_copy(update={"metadata": meta}))  # type: ignore[attr-defined]

        sub = type(
            f"Scored{cls.__name__}",
            (cls,),
            {"hash": property(_hash), "__module__": __name__, "__reduce__": _reduce_scored},
        )
        _SCORED_CLASSES[cls] = sub
    return sub


def _reduce_scored(node: BaseNode) -> tuple[Any, tuple[Any, ...]]:
    """Pickle a scored node by its base class (the scored class is made at run time, so
    pickle could not find it by name)."""
    return _unpickle_scored, (type(node).__mro__[1], node.__getstate__())


def _unpickle_scored(base: type[BaseNode], state: Any) -> BaseNode:
    cls = _scored_class(base)
    node = cls.__new__(cls)
    node.__setstate__(state)
    return node


def _scored_node(node: BaseNode, hit: Hit) -> NodeWithScore:
    """A copy of ``node`` whose metadata carries the hit's three scores."""
    base = type(node)
    while base in _SCORED_CLASSES.values():  # reranking our own output
        base = base.__mro__[1]
    copied = node.model_copy(deep=True)
    out = _scored_class(base).model_construct(
        _fields_set=copied.model_fields_set,
        **{name: getattr(copied, name) for name in type(copied).model_fields},
    )
    out.metadata = {**out.metadata, **hit.scores()}
    for attr in ("excluded_llm_metadata_keys", "excluded_embed_metadata_keys"):
        keys = list(getattr(out, attr))
        setattr(out, attr, keys + [k for k in SCORE_KEYS if k not in keys])
    return NodeWithScore(node=out, score=hit.score)


def _node_text(node: BaseNode) -> str:
    return node.get_content(metadata_mode=MetadataMode.NONE)


def _embed_text(node: BaseNode) -> str:
    return node.get_content(metadata_mode=MetadataMode.EMBED)


# ---------------------------------------------------------------------------- retriever
class SVMRetriever(BaseRetriever):
    """A LlamaIndex retriever that ranks nodes by exemplar SVM, kNN or a hybrid of both.

    Every result's ``score`` is the ``mode``'s score; the node (a copy) carries all three
    scores in its metadata. Build it with :meth:`from_defaults` from nodes, documents or an
    existing ``VectorStoreIndex`` (whose stored embeddings are reused), or with
    :meth:`from_milvus` over a Milvus collection (nodes and vectors stay in Milvus; writes
    through :meth:`insert_nodes`/:meth:`delete_nodes` go there).

    Args:
        index: the scoring core, its rows aligned with ``nodes``; or a
            :class:`~svm_retrievers.sources.CandidateSearcher` such as
            ``MilvusSVMSearcher`` (then ``nodes`` is left out: they come from the database).
        nodes: the stored nodes, one per id of ``index`` (kept, never mutated).
        embed_model: embeds queries (and nothing else once built).
        similarity_top_k: how many nodes to return.
        mode: ``"svm"``, ``"knn"`` or ``"hybrid"`` (default: the index's mode).
        filters: ``MetadataFilters`` applied before the SVM is trained, with the semantics
            of LlamaIndex's ``SimpleVectorStore``.

    Example:
        >>> from llama_index.core.schema import TextNode
        >>> retriever = SVMRetriever.from_defaults(nodes=nodes, embed_model=embed_model)  # doctest: +SKIP
        >>> [n.metadata["svm_score"] for n in retriever.retrieve("query")]  # doctest: +SKIP
    """

    def __init__(
        self,
        index: SVMIndex | CandidateSearcher,
        nodes: Sequence[BaseNode] | None = None,
        embed_model: BaseEmbedding | None = None,
        similarity_top_k: int = 4,
        mode: str | None = None,
        filters: MetadataFilters | None = None,
        callback_manager: CallbackManager | None = None,
        object_map: dict | None = None,
        verbose: bool = False,
        score_threshold: float | None = None,
    ) -> None:
        # The stored nodes by id. Never changed in place: a write replaces the whole dict
        # (under ``_write_lock``, which serializes writes), so a reader holding one dict sees
        # one node set while other threads insert and delete.
        self._nodes: dict[str, BaseNode] | None = None
        self._write_lock = CopyableLock()
        # The ids passing the last filters used, for one node dict and the filters as JSON:
        # evaluating LlamaIndex's filter function on every stored node costs ~4 us per node,
        # more than the search itself at 100k nodes.
        self._passing: tuple[dict[str, BaseNode], str, list[str]] | None = None
        if isinstance(index, CandidateSearcher):
            if nodes is not None:
                msg = "nodes must be left out for a searcher: its nodes live in the database"
                raise ValueError(msg)
        elif not isinstance(index, SVMIndex):
            msg = (
                "index must be an svm_retrievers.SVMIndex or CandidateSearcher,"
                f" got {type(index).__name__}"
            )
            raise TypeError(msg)
        else:
            self._nodes = _aligned_nodes(index, nodes)
        if filters is not None and not isinstance(filters, MetadataFilters):
            msg = f"filters must be a MetadataFilters, got {type(filters).__name__}"
            raise TypeError(msg)
        self._index = index
        self._embed_model = _resolve_embed_model(embed_model)
        self.similarity_top_k = check_k(similarity_top_k, "similarity_top_k")
        self.mode = check_mode(mode) if mode is not None else index.params.mode
        self.filters = filters
        self.score_threshold = (
            None
            if score_threshold is None
            else check_unit_interval(score_threshold, "score_threshold")
        )
        super().__init__(callback_manager=callback_manager, object_map=object_map, verbose=verbose)

    def __getstate__(self) -> dict[str, Any]:
        """The state that ``copy.deepcopy`` and ``pickle`` copy: the nodes and the index as of
        one write (a write in flight is waited for); the copy gets a lock of its own."""
        with self._write_lock:
            state = self.__dict__.copy()
            if isinstance(self._index, SVMIndex):
                state["_index"] = copy.copy(self._index)  # pins the index's current snapshot
        return state

    def __deepcopy__(self, memo: dict[int, Any]) -> SVMRetriever:
        """A deep copy (see :meth:`__getstate__`) that shares the callback managers: they
        observe rather than hold state (LlamaIndex shares one through ``Settings``), and
        every retrieve changes them, so copying them would race with retrieves."""
        managers = (self.callback_manager, getattr(self._embed_model, "callback_manager", None))
        for manager in managers:
            if manager is not None:
                memo[id(manager)] = manager
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__getstate__(), memo))
        return new

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_defaults(
        cls,
        nodes: Sequence[BaseNode] | None = None,
        documents: Sequence[Document] | None = None,
        index: VectorStoreIndex | None = None,
        embed_model: BaseEmbedding | None = None,
        similarity_top_k: int = 4,
        mode: str = DEFAULT_MODE,
        show_progress: bool = False,
        filters: MetadataFilters | None = None,
        transformations: list[TransformComponent] | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
        score_threshold: float | None = None,
        **params: Any,
    ) -> SVMRetriever:
        """Build a retriever from exactly one of ``nodes``, ``documents`` or ``index``.

        Nodes are embedded with ``embed_model.get_text_embedding_batch`` (nodes that already
        carry an ``embedding`` keep it); documents are first split with ``transformations``
        (default: ``Settings.transformations``, a ``SentenceSplitter``). A
        ``VectorStoreIndex`` over a ``SimpleVectorStore`` gives its stored embeddings and
        nodes; its embed model is used for queries unless ``embed_model`` is given.
        ``params`` are scoring parameters (``C``, ``alpha``, ``solver``, ...).
        """
        given = [
            name
            for name, v in (("nodes", nodes), ("documents", documents), ("index", index))
            if v is not None
        ]
        if len(given) != 1:
            msg = "give exactly one of nodes, documents or index" + (
                f"; got {', '.join(given)}" if given else "; got none"
            )
            raise ValueError(msg)
        similarity_top_k = check_k(similarity_top_k, "similarity_top_k")
        scoring = ScoringParams.from_dict({"mode": check_mode(mode), **params})

        if index is not None:
            if not isinstance(index, VectorStoreIndex):
                msg = f"index must be a VectorStoreIndex, got {type(index).__name__}"
                raise TypeError(msg)
            node_list, vectors = _from_vector_store_index(index)
            model = _resolve_embed_model(embed_model or index._embed_model)
        else:
            model = _resolve_embed_model(embed_model)
            if documents is not None:
                documents = list(documents)
                if not documents:
                    msg = "documents is empty: at least one document is needed"
                    raise ValueError(msg)
                node_list = list(
                    run_transformations(
                        documents,
                        transformations
                        if transformations is not None
                        else Settings.transformations,
                        show_progress=show_progress,
                    )
                )
            else:
                node_list = list(nodes or [])
            if not node_list:
                msg = "nodes is empty: at least one node is needed"
                raise ValueError(msg)
            node_list = _check_nodes(node_list)
            vectors = _node_vectors(node_list, model, show_progress)
            node_list = [n.model_copy(update={"embedding": None}, deep=True) for n in node_list]

        core = SVMIndex.from_embeddings(
            vectors,
            [n.node_id for n in node_list],
            texts=[_node_text(n) for n in node_list],
            metadatas=[n.metadata for n in node_list],
            **scoring.to_dict(),
        )
        return cls(
            core,
            node_list,
            embed_model=model,
            similarity_top_k=similarity_top_k,
            mode=scoring.mode,
            filters=filters,
            callback_manager=callback_manager,
            verbose=verbose,
            score_threshold=score_threshold,
        )

    @classmethod
    def from_milvus(
        cls,
        uri: str | None = None,
        collection_name: str = "llamacollection",
        embed_model: BaseEmbedding | None = None,
        *,
        token: str = "",
        client: Any = None,
        dim: int | None = None,
        vector_field: str | None = None,
        id_field: str | None = None,
        text_field: str | None = "text",
        similarity_top_k: int = 4,
        mode: str = DEFAULT_MODE,
        filters: MetadataFilters | None = None,
        score_threshold: float | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
        **options: Any,
    ) -> SVMRetriever:
        """A retriever over the Milvus collection ``collection_name``; writes go to Milvus.

        ``uri`` is a local file (embedded Milvus Lite) or ``http://host:19530`` (a server or
        cluster; ``token="user:password"``), or pass ``client=`` a ``MilvusClient``. The
        collection must exist unless ``dim`` is given (then a missing one is created, with
        ``MilvusVectorStore``'s field names ``id`` and ``embedding``, and ``text``).
        ``MilvusVectorStore`` collections (``id``, ``embedding``, node JSON in
        ``_node_content``) are read as they are: ``vector_field=None`` takes the only vector
        field, ``id_field=None`` the primary key; a ``text_field`` the collection lacks is
        ignored (the text is then read from ``_node_content``). ``options`` are
        :class:`~svm_retrievers.sources.CandidateSearcher` settings (``m``, ``verify``,
        ``relevance=True`` for calibrated relevance and ``score_threshold``, at the cost of one
        pass over the collection at the first search, ...), ``metric``/``index_type`` for a
        new collection, and scoring parameters (``C``, ``alpha``, ...).
        """
        from .sources.milvus import MilvusSVMSearcher

        searcher = MilvusSVMSearcher.open(
            uri,
            collection_name,
            token=token,
            client=client,
            dim=dim,
            vector_field=vector_field or ("embedding" if dim is not None else None),
            id_field=id_field,
            text_field=text_field,
            mode=check_mode(mode),
            **options,
        )
        return cls(
            searcher,
            embed_model=embed_model,
            similarity_top_k=similarity_top_k,
            mode=mode,
            filters=filters,
            callback_manager=callback_manager,
            verbose=verbose,
            score_threshold=score_threshold,
        )

    # ------------------------------------------------------------------ properties
    @property
    def index(self) -> SVMIndex | CandidateSearcher:
        """The scoring core (for ``get_scores`` and other analysis), or the searcher."""
        return self._index

    @property
    def embed_model(self) -> BaseEmbedding:
        """The model that embeds queries."""
        return self._embed_model

    @property
    def nodes(self) -> list[BaseNode]:
        """Copies of the stored nodes, in index order (in-memory retrievers only)."""
        return [n.model_copy(deep=True) for n in self._in_memory_nodes("nodes").values()]

    def _in_memory_nodes(self, what: str, hint: str = "") -> dict[str, BaseNode]:
        if self._nodes is None:
            msg = (
                f"{what} needs an in-memory SVMRetriever; this one searches a"
                f" {type(self._index).__name__} whose nodes live in the database{hint}"
            )
            raise TypeError(msg)
        return self._nodes

    # ------------------------------------------------------------------ writes
    def insert_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False) -> list[str]:
        """Add ``nodes`` (embedded with ``embed_model`` unless they carry an embedding).

        Over Milvus they are written as ``MilvusVectorStore`` writes them (metadata keys
        as fields, the node with its text in ``_node_content``, ``doc_id``/``ref_doc_id``;
        the text also in the text field, if any), so either can read them; returns the ids.
        """
        node_list = _check_nodes(nodes)
        if not node_list:
            return []
        vectors = _node_vectors(node_list, self._embed_model, show_progress, self._index.dim)
        stored = [n.model_copy(update={"embedding": None}, deep=True) for n in node_list]
        ids = [n.node_id for n in stored]
        if isinstance(self._index, CandidateSearcher):
            text_field = getattr(self._index.source, "text_field", None)
            return self._index.add(
                vectors,
                ids,
                texts=[_node_text(n) for n in stored] if text_field else None,
                metadatas=[node_to_metadata_dict(n, flat_metadata=False) for n in stored],
            )
        with self._write_lock:
            nodes_by_id = self._in_memory_nodes("insert_nodes")
            clash = [i for i in ids if i in self._index]
            if clash:
                msg = f"node ids already in the index: {clash[:5]!r}"
                raise ValueError(msg)
            # The nodes first, then the index: a search never finds an id it has no node for.
            self._nodes = {**nodes_by_id, **dict(zip(ids, stored, strict=True))}
            try:
                return self._index.add(
                    vectors,
                    ids,
                    texts=[_node_text(n) for n in stored],
                    metadatas=[n.metadata for n in stored],
                )
            except BaseException:
                self._nodes = nodes_by_id  # the index refused them: nothing changes
                raise

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """Delete the nodes with these ids (Milvus skips unknown ids)."""
        ids = check_id_list(node_ids, "node_ids", "node_id")
        with self._write_lock:
            self._index.delete(ids)  # the index first, then the nodes (see insert_nodes)
            if self._nodes is not None:
                gone = set(ids)
                self._nodes = {i: n for i, n in self._nodes.items() if i not in gone}

    # ------------------------------------------------------------------ retrieval
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = _query_embedding(self._embed_model, query_bundle, self._index.dim)
        return self._search(query)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = await _aquery_embedding(self._embed_model, query_bundle, self._index.dim)
        return await asyncio.to_thread(self._search, query)

    def _search(self, query: np.ndarray) -> list[NodeWithScore]:
        k = check_k(self.similarity_top_k, "similarity_top_k")
        mode = check_mode(self.mode)
        hits: list[Hit] | None
        if isinstance(self._index, CandidateSearcher):
            hits = self._index.search(
                query,
                k=k,
                mode=mode,
                where=_searcher_filter(self._index, self.filters),
                score_threshold=self.score_threshold,
            )
            return [_scored_node(_node_from_hit(h), h) for h in hits]
        # Writes replace the node dict before the index's snapshot on insert and after it on
        # delete, so every hit has a node in the dict read before the search (deleted since)
        # or in the one read after it (inserted since). A filter's ids, read from the dict
        # before the search, may name a node whose write is in flight (an id the index does
        # not hold, a KeyError): the search then waits for that write and runs again; its
        # last try holds the write lock.
        for attempt in range(3):
            last = attempt == 2
            with self._write_lock if last else contextlib.nullcontext():
                before = self._in_memory_nodes("search")
                ids = self._filtered_ids(before)
                if ids is not None and not ids:
                    return []  # as SimpleVectorStore: nothing passes the filters
                try:
                    hits = self._index.search(
                        query, k=k, mode=mode, ids=ids, score_threshold=self.score_threshold
                    )
                except KeyError:
                    if last:
                        raise
                    hits = None
                after = self._in_memory_nodes("search")
                if hits is not None and all(h.id in before or h.id in after for h in hits):
                    found = [after[h.id] if h.id in after else before[h.id] for h in hits]
                    return [_scored_node(n, h) for n, h in zip(found, hits, strict=True)]
            with self._write_lock:  # wait for the write in flight
                pass
        msg = "the index and the retriever's nodes disagree: was the index written directly?"
        raise RuntimeError(msg)

    def _filtered_ids(self, nodes: dict[str, BaseNode]) -> list[str] | None:
        """The ids of the stored nodes passing ``self.filters`` (None: no filters), computed
        once per filters and node set: each node's metadata is read when a filter is first
        used after nodes were inserted or deleted, so editing a stored node's metadata in place
        does not reliably change what passes (``SimpleVectorStore`` copies metadata when nodes
        are added); delete the node and insert the edited one."""
        if self.filters is None or not self.filters.filters:
            return None
        key = self.filters.model_dump_json()
        memo = self._passing
        if memo is not None and memo[0] is nodes and memo[1] == key:
            return memo[2]
        passes = build_metadata_filter_fn(
            lambda node_id: _filter_view(nodes[node_id]), self.filters
        )
        ids = [node_id for node_id in nodes if passes(node_id)]
        self._passing = (nodes, key, ids)
        return ids

    # ------------------------------------------------------------------ persistence
    def persist(self, path: str | Path) -> None:
        """Write the retriever to directory ``path`` in the core's format (no pickle).

        Texts and metadata go to the core's payload; the rest of each node (class,
        relationships, excluded keys, templates) and the retriever's settings go to the
        core's ``extra`` JSON under ``"llama_index"``. An embedder of
        :mod:`svm_retrievers.embeddings` (wrapped by ``as_llama_index``) is saved with the
        index; any other embed model must be given again to :meth:`from_persist_dir`. A
        Milvus-backed retriever has nothing to persist (its nodes live in Milvus): this
        raises ``TypeError``; build it again with :meth:`from_milvus`.
        """
        with self._write_lock:  # the nodes and the index saved must be one state
            self._persist(path)

    def _persist(self, path: str | Path) -> None:
        nodes = self._in_memory_nodes(
            "persist()", "; build it again with SVMRetriever.from_milvus(...) instead"
        )
        core = self._index
        assert isinstance(core, SVMIndex)  # an in-memory retriever holds nodes
        embedder = getattr(self._embed_model, "embedder", None)
        if hasattr(embedder, "to_state"):
            core.embedder = embedder
        skeletons = {node_id: _node_skeleton(node) for node_id, node in nodes.items()}
        extra = {
            EXTRA_KEY: {
                "similarity_top_k": self.similarity_top_k,
                "mode": self.mode,
                "filters": None if self.filters is None else self.filters.model_dump(mode="json"),
                "score_threshold": self.score_threshold,
                "embed_model": self._embed_model.class_name(),
                "embed_model_name": getattr(self._embed_model, "model_name", None),
                "nodes": skeletons,
            }
        }
        core.save(path, extra={**core.extra, **extra})

    @classmethod
    def from_persist_dir(
        cls,
        path: str | Path,
        embed_model: BaseEmbedding | None = None,
        **overrides: Any,
    ) -> SVMRetriever:
        """Load a retriever written by :meth:`persist`.

        ``overrides`` replace saved settings (``similarity_top_k``, ``mode``, ``filters``,
        ``score_threshold``, ``callback_manager``, ``verbose``). Without ``embed_model``, the
        embedder saved with the index is used, if there is one (else ``Settings.embed_model``).
        """
        core = SVMIndex.load(path)
        if embed_model is None and core.embedder is not None:
            from .embeddings.llama_index import as_llama_index

            embed_model = as_llama_index(core.embedder)
        extra = (getattr(core, "extra", None) or {}).get(EXTRA_KEY)
        if not isinstance(extra, Mapping) or "nodes" not in extra:
            msg = (
                f"{path} holds an SVMIndex without LlamaIndex retriever data (extra[{EXTRA_KEY!r}])"
            )
            raise ValueError(msg)
        skeletons = extra["nodes"]
        nodes = []
        for node_id, text, metadata in zip(core.ids, core.texts(), core.metadatas(), strict=True):
            if node_id not in skeletons:
                msg = f"{path}: node {node_id!r} has no saved node data"
                raise ValueError(msg)
            nodes.append(_node_from_skeleton(skeletons[node_id], text or "", metadata))
        filters = extra.get("filters")
        settings: dict[str, Any] = {
            "similarity_top_k": extra.get("similarity_top_k", 4),
            "mode": extra.get("mode"),
            "filters": None if filters is None else MetadataFilters.model_validate(filters),
            "score_threshold": extra.get("score_threshold"),
        }
        settings.update(overrides)
        if embed_model is None:
            saved = extra.get("embed_model")
            embed_model = _resolve_embed_model(None, saved if isinstance(saved, str) else None)
        return cls(core, nodes, embed_model=embed_model, **settings)


def _filter_view(node: BaseNode) -> Mapping[str, Any]:
    """The metadata SimpleVectorStore filters on: the node's, plus its ref doc id keys."""
    ref = node.ref_doc_id or "None"
    return collections.ChainMap(node.metadata, dict.fromkeys(_REF_DOC_KEYS, ref))


def _node_vectors(
    nodes: list[BaseNode], model: BaseEmbedding, show_progress: bool, dim: int | None = None
) -> np.ndarray:
    """Embeddings for ``nodes``: the ones they carry, the model's batch API for the rest."""
    missing = [_embed_text(n) for n in nodes if n.embedding is None]
    embedded = (
        _embed_texts(model, missing, dim=dim or _carried_dim(nodes), show_progress=show_progress)
        if missing
        else None
    )
    return check_matrix(
        _with_embedded(nodes, embedded), "node embeddings", dim=dim, dtype=np.float64
    )


def _check_nodes(nodes: Sequence[BaseNode]) -> list[BaseNode]:
    """``nodes`` as a list of ``BaseNode`` with distinct ids, or a clear error."""
    if isinstance(nodes, BaseNode):
        msg = "nodes must be a list of nodes, got a single node; wrap it as [node]"
        raise TypeError(msg)
    node_list = list(nodes)
    for i, node in enumerate(node_list):
        if not isinstance(node, BaseNode):
            msg = f"nodes[{i}] must be a llama_index BaseNode, got {type(node).__name__}"
            raise TypeError(msg)
    check_ids([n.node_id for n in node_list], len(node_list), "node ids")
    return node_list


def _aligned_nodes(index: SVMIndex, nodes: Sequence[BaseNode] | None) -> dict[str, BaseNode]:
    """The nodes by id, checked to align with ``index.ids``."""
    if len(index) == 0:
        msg = "index is empty: an SVMRetriever needs at least one node"
        raise ValueError(msg)
    if nodes is None:
        msg = "nodes are required with an SVMIndex: one node per id of the index"
        raise ValueError(msg)
    nodes = list(nodes)
    node_ids = check_ids([n.node_id for n in nodes], len(nodes), "node ids")
    if node_ids != index.ids:
        mismatch = next(((a, b) for a, b in zip(node_ids, index.ids, strict=False) if a != b), None)
        msg = (
            f"nodes must align with index.ids: got {len(nodes)} nodes for an index of "
            f"{len(index)} ids (first mismatch: {mismatch!r})"
        )
        raise ValueError(msg)
    return {n.node_id: n for n in nodes}


def _node_from_hit(hit: Hit) -> BaseNode:
    """The node a database hit stands for: rebuilt from ``_node_content`` when the row was
    written by ``MilvusVectorStore`` or :meth:`SVMRetriever.insert_nodes`, else a
    ``TextNode`` of the row's text and metadata."""
    meta = hit.metadata
    if isinstance(meta.get("_node_content"), str):
        node = metadata_dict_to_node(meta, text=hit.text or None)
        if node.node_id == hit.id:
            return node
    return TextNode(id_=hit.id, text=hit.text or "", metadata=meta)


_MILVUS_OPERATORS = {
    FilterOperator.EQ: "==",
    FilterOperator.NE: "!=",
    FilterOperator.GT: ">",
    FilterOperator.GTE: ">=",
    FilterOperator.LT: "<",
    FilterOperator.LTE: "<=",
    FilterOperator.IN: "in",
    FilterOperator.NIN: "not in",
    FilterOperator.CONTAINS: "array_contains",
    FilterOperator.ANY: "array_contains_any",
    FilterOperator.ALL: "array_contains_all",
}


def _searcher_filter(searcher: CandidateSearcher, filters: MetadataFilters | None) -> Any:
    """``filters`` as the searcher's source takes them: a Milvus expression when the source
    builds expressions (pushed down to Milvus), else a predicate on metadata."""
    if filters is None or not filters.filters:
        return None
    source = searcher.source
    if callable(getattr(source, "condition", None)):
        return _milvus_expression(filters, source.condition)  # type: ignore[attr-defined]
    # The predicate receives a metadata dict where LlamaIndex passes a node id.
    return build_metadata_filter_fn(cast(Any, lambda meta: meta), filters)


def _milvus_expression(filters: MetadataFilters, condition: Any) -> str:
    parts = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            parts.append(f"({_milvus_expression(item, condition)})")
            continue
        assert isinstance(item, MetadataFilter)
        op = _MILVUS_OPERATORS.get(item.operator)
        if op is None:
            msg = (
                f"filter operator {item.operator.value!r} cannot be passed down to Milvus;"
                f" supported: {sorted(o.value for o in _MILVUS_OPERATORS)}"
            )
            raise ValueError(msg)
        parts.append(condition(item.key, op, item.value))
    if filters.condition == FilterCondition.NOT:
        return "not (" + " and ".join(parts) + ")"
    joiner = " or " if filters.condition == FilterCondition.OR else " and "
    return joiner.join(f"({p})" for p in parts)


def _from_vector_store_index(index: VectorStoreIndex) -> tuple[list[BaseNode], np.ndarray]:
    """The nodes and stored embeddings of a ``VectorStoreIndex`` (no re-embedding)."""
    store = index.vector_store
    if not isinstance(store, SimpleVectorStore):
        msg = (
            f"index must be backed by a SimpleVectorStore to reuse its embeddings, got "
            f"{type(store).__name__}; build the retriever from its nodes instead"
        )
        raise TypeError(msg)
    embedding_dict = store.data.embedding_dict
    node_ids = [i for i in index.index_struct.nodes_dict.values() if i in embedding_dict]
    if not node_ids:
        msg = "index holds no embedded nodes: at least one node is needed"
        raise ValueError(msg)
    nodes = index.docstore.get_nodes(node_ids)
    vectors = check_matrix(
        [embedding_dict[i] for i in node_ids], "embeddings stored in the index", dtype=np.float64
    )
    return [n.model_copy(update={"embedding": None}, deep=True) for n in nodes], vectors


def _node_skeleton(node: BaseNode) -> dict[str, Any]:
    """The node as JSON minus its text, metadata and embedding (saved by the core)."""
    blob = doc_to_json(node)
    data = blob["__data__"]
    data.pop("metadata", None)
    data.pop("embedding", None)
    if "text" in data:
        data["text"] = None
    resource = data.get("text_resource")
    if isinstance(resource, dict) and "text" in resource:
        resource["text"] = None
    return blob


def _node_from_skeleton(saved: Any, text: str, metadata: dict[str, Any]) -> BaseNode:
    if (
        not isinstance(saved, Mapping)
        or not isinstance(saved.get("__type__"), str)
        or not isinstance(saved.get("__data__"), Mapping)
    ):
        msg = "a saved node must be a JSON object with '__type__' and '__data__'"
        raise ValueError(msg)
    blob: dict[str, Any] = copy.deepcopy(dict(saved))
    data = blob["__data__"]
    data["metadata"] = metadata
    if "text" in data:
        data["text"] = text
    resource = data.get("text_resource")
    if isinstance(resource, dict) and "text" in resource:
        resource["text"] = text
    return json_to_doc(blob)


# ---------------------------------------------------------------------------- reranker
class SVMReranker(BaseNodePostprocessor):
    """Rerank any retriever's nodes with the exemplar SVM (or kNN / hybrid).

    The query is the positive, the candidate nodes the negatives (plus optional
    ``negatives``: background vectors that sharpen the SVM but are never returned). Nodes
    keep their ``embedding`` when they carry one; the others are embedded once each
    (deduplicated by ``node_id``) with ``embed_model``'s batch API from
    ``node.get_content(metadata_mode=MetadataMode.EMBED)``. The query is then embedded by
    ``embed_model`` too: a ``QueryBundle``'s own embedding (in a query engine, the upstream
    retriever's, perhaps from another model) is used only when every node carries its
    embedding or the bundle has no query text.

    Example:
        >>> reranker = SVMReranker(embed_model=embed_model, top_n=3)  # doctest: +SKIP
        >>> engine = index.as_query_engine(node_postprocessors=[reranker])  # doctest: +SKIP
    """

    top_n: int = Field(default=4, description="How many nodes to keep.")
    mode: str = Field(default=DEFAULT_MODE, description="'svm', 'knn' or 'hybrid'.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Scoring parameters (C, alpha, solver, ...)."
    )
    embed_model: BaseEmbedding | None = Field(
        default=None, description="Embeds the query and nodes without an embedding."
    )
    score_threshold: float | None = Field(
        default=None, description="Keep nodes whose calibrated relevance is at least this."
    )
    _negatives: np.ndarray | None = PrivateAttr(default=None)

    def __init__(
        self,
        top_n: int = 4,
        mode: str = DEFAULT_MODE,
        params: dict[str, Any] | None = None,
        embed_model: BaseEmbedding | None = None,
        negatives: Any = None,
        **kwargs: Any,
    ) -> None:
        top_n = check_k(top_n, "top_n")
        mode = check_mode(mode)
        threshold = kwargs.get("score_threshold")
        if threshold is not None:
            kwargs["score_threshold"] = check_unit_interval(threshold, "score_threshold")
        params = dict(params or {})
        ScoringParams.from_dict({"mode": mode, **params})  # validate now, not at the first query
        super().__init__(  # type: ignore[call-arg]  # pydantic fields
            top_n=top_n,
            mode=mode,
            params=params,
            embed_model=_resolve_embed_model(embed_model),
            **kwargs,
        )
        if negatives is not None:
            self._negatives = check_matrix(negatives, "negatives", dtype=np.float64)

    @classmethod
    def class_name(cls) -> str:
        return "SVMReranker"

    def _model(self) -> BaseEmbedding:
        return _resolve_embed_model(self.embed_model)

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        plan = self._plan(nodes, query_bundle)
        if plan is None:
            return []
        unique, texts, dim, bundle = plan
        model = self._model()
        embedded = _embed_texts(model, texts, dim=dim) if texts else None
        # Nodes this model embedded are compared with the query embedded by it too: the
        # bundle's embedding may come from another model (the upstream retriever's).
        query = _query_embedding(model, bundle, dim or _first_dim(embedded), reuse=not texts)
        return self._rerank(unique, embedded, query)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        plan = self._plan(nodes, query_bundle)
        if plan is None:
            return []
        unique, texts, dim, bundle = plan
        model = self._model()
        embedded = await _aembed_texts(model, texts, dim=dim) if texts else None
        query = await _aquery_embedding(model, bundle, dim or _first_dim(embedded), reuse=not texts)
        return await asyncio.to_thread(self._rerank, unique, embedded, query)

    def _plan(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[list[NodeWithScore], list[str], int | None, QueryBundle] | None:
        """Unique nodes, texts still to embed, the known dimension, the query (None: no nodes)."""
        unique = _dedupe(nodes)
        if not unique:
            return None
        if query_bundle is None:
            msg = "SVMReranker needs a query (query_bundle or query_str)"
            raise ValueError(msg)
        carried = _carried_dim([n.node for n in unique])
        texts = [_embed_text(n.node) for n in unique if n.node.embedding is None]
        return unique, texts, carried, query_bundle

    def _rerank(
        self, unique: list[NodeWithScore], embedded: np.ndarray | None, query: np.ndarray
    ) -> list[NodeWithScore]:
        nodes = [n.node for n in unique]
        rows = _with_embedded(nodes, embedded)
        dims = sorted({len(row) for row in rows})
        if len(dims) > 1:
            msg = (
                f"the nodes' embeddings have different dimensions {dims}: the nodes must be"
                " embedded by one model (the reranker's embed_model embeds those without one)"
            )
            raise ValueError(msg)
        vectors = check_matrix(rows, "node embeddings", dtype=np.float64)
        core = SVMIndex.from_embeddings(
            vectors, [n.node_id for n in nodes], mode=self.mode, **self.params
        )
        hits = core.search(
            query,
            k=check_k(self.top_n, "top_n"),
            negatives=self._negatives,
            score_threshold=self.score_threshold,
        )
        by_id = {n.node_id: n for n in nodes}
        return [_scored_node(by_id[h.id], h) for h in hits]


def _dedupe(nodes: list[NodeWithScore]) -> list[NodeWithScore]:
    """First occurrence of each ``node_id`` (fusion retrievers may repeat a node)."""
    seen: dict[str, NodeWithScore] = {}
    for i, n in enumerate(nodes):
        if not isinstance(n, NodeWithScore):
            msg = f"nodes[{i}] must be a NodeWithScore, got {type(n).__name__}"
            raise TypeError(msg)
        seen.setdefault(n.node.node_id, n)
    return list(seen.values())


def _first_dim(embedded: np.ndarray | None) -> int | None:
    return None if embedded is None else int(embedded.shape[1])


__all__ = ["EXTRA_KEY", "SCORE_KEYS", "SVMReranker", "SVMRetriever"]
