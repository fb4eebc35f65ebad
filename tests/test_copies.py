"""Copies: ``copy.deepcopy``, pydantic's ``model_copy(deep=True)`` and pickling (to send an
index or an adapter to worker processes) give independent objects that answer as the original.
Persistence stays ``save``/``persist``; these are in-memory copies."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from svm_retrievers import SVMIndex

TEXTS = [
    "the exemplar svm ranks documents against the corpus",
    "cosine similarity ranks by the angle to the query",
    "a hybrid averages the z scores of both rankings",
    "liblinear solves the squared hinge loss",
    "newton steps solve a ridge regression on the active set",
    "the kNN pass reads the whole matrix once",
    "metadata filters restrict the candidates before training",
    "an embedder turns texts into unit vectors",
    "persistence writes json and npy files, never pickle",
    "a reranker reorders the documents a retriever found",
    "threads may search while others add documents",
    "the warm start lies in the span of the principal directions",
]
QUERY = "which solver ranks documents"


def _embedder():
    from svm_retrievers.embeddings import OfflineEmbedder

    return OfflineEmbedder().fit(TEXTS)


def _lc_ids(docs) -> list[tuple[str, float, float, float]]:
    return [
        (d.id, d.metadata["knn_score"], d.metadata["svm_score"], d.metadata["hybrid_score"])
        for d in docs
    ]


def _roundtrips():
    return [
        ("deepcopy", copy.deepcopy),
        ("pickle", lambda o: pickle.loads(pickle.dumps(o))),
    ]


@pytest.mark.parametrize(("how", "clone"), _roundtrips())
def test_index_copies_answer_alike_and_change_alone(how, clone):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((60, 16)).astype(np.float32)
    metadatas = [{"group": i % 3, "tags": [i % 2]} for i in range(60)]
    index = SVMIndex.from_embeddings(
        vectors, texts=[f"t{i}" for i in range(60)], metadatas=metadatas
    )
    index.search(vectors[0], k=3, where={"group": 1})  # the per-corpus caches are filled
    twin = clone(index)
    query = rng.standard_normal(16)
    for mode in ("svm", "knn", "hybrid"):
        assert twin.search(query, k=5, mode=mode) == index.search(query, k=5, mode=mode)
    for where in ({"group": 1}, {"tags": [0]}):
        assert twin.search(query, k=5, where=where) == index.search(query, k=5, where=where)
    twin.add(rng.standard_normal((4, 16)), ids=["new0", "new1", "new2", "new3"])
    twin.delete(["0", "1"])
    assert len(twin) == 62 and len(index) == 60
    assert "new0" in twin and "new0" not in index and "0" in index
    # Nor do writes to the original reach the copy.
    index.add(rng.standard_normal((1, 16)), ids=["other"])
    assert "other" in index and "other" not in twin


@pytest.mark.parametrize(
    ("how", "clone"), [*_roundtrips(), ("model_copy", lambda o: o.model_copy(deep=True))]
)
def test_langchain_retriever_and_reranker_copies(how, clone):
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document

    from svm_retrievers.embeddings.langchain import as_langchain
    from svm_retrievers.langchain import SVMReranker, SVMRetriever

    embedding = as_langchain(_embedder())
    retriever = SVMRetriever.from_texts(TEXTS, embedding, k=4)
    expected = _lc_ids(retriever.invoke(QUERY))
    twin = clone(retriever)
    assert _lc_ids(twin.invoke(QUERY)) == expected
    twin.add_texts(["which solver ranks documents: the solver ranks documents"], ids=["extra"])
    assert twin.invoke(QUERY)[0].id == "extra"
    assert _lc_ids(retriever.invoke(QUERY)) == expected  # the original is unchanged

    reranker = SVMReranker(embedding=embedding, top_n=2, background=TEXTS[6:])
    docs = [Document(page_content=t, id=str(i)) for i, t in enumerate(TEXTS[:6])]
    ranked = _lc_ids(reranker.compress_documents(docs, QUERY))  # background embedded and kept
    assert _lc_ids(clone(reranker).compress_documents(docs, QUERY)) == ranked


@pytest.mark.parametrize(("how", "clone"), _roundtrips())
def test_llama_index_retriever_and_reranker_copies(how, clone):
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from svm_retrievers.embeddings.llama_index import as_llama_index
    from svm_retrievers.llama_index import SVMReranker, SVMRetriever

    embed_model = as_llama_index(_embedder())
    nodes = [TextNode(text=t, id_=f"n{i}") for i, t in enumerate(TEXTS)]
    retriever = SVMRetriever.from_defaults(nodes=nodes, embed_model=embed_model)

    def ranked(r) -> list[tuple[str, float, float]]:
        return [(n.node.node_id, n.score, n.node.metadata["svm_score"]) for n in r.retrieve(QUERY)]

    expected = ranked(retriever)
    twin = clone(retriever)
    assert ranked(twin) == expected
    twin.insert_nodes([TextNode(text="which solver ranks documents: the solver", id_="extra")])
    assert ranked(twin)[0][0] == "extra"
    assert ranked(retriever) == expected and "extra" not in retriever.index

    reranker = SVMReranker(embed_model=embed_model, top_n=3)
    found = [NodeWithScore(node=n, score=0.0) for n in nodes[:8]]
    bundle = QueryBundle(QUERY)
    got = [(n.node.node_id, n.score) for n in reranker.postprocess_nodes(found, bundle)]
    assert [
        (n.node.node_id, n.score) for n in clone(reranker).postprocess_nodes(found, bundle)
    ] == got


def _invoke_in_worker(retriever, query: str) -> list[tuple[str, float, float, float]]:
    return _lc_ids(retriever.invoke(query))


def test_langchain_retriever_in_a_spawned_worker_process():
    """A process pool started with "spawn" (the default on macOS and Windows) pickles the
    retriever into the worker; it answers there as it does here."""
    pytest.importorskip("langchain_core")
    from svm_retrievers.embeddings.langchain import as_langchain
    from svm_retrievers.langchain import SVMRetriever

    retriever = SVMRetriever.from_texts(TEXTS, as_langchain(_embedder()), k=4)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(_invoke_in_worker, retriever, QUERY).result(timeout=120)
    assert remote == _lc_ids(retriever.invoke(QUERY))


def test_llama_index_retriever_copy_reports_to_the_same_callbacks():
    """Callback managers observe; a deep copy reports to the original's handlers (they are
    not copied, which would also race with retrieves changing them)."""
    pytest.importorskip("llama_index.core")
    from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
    from llama_index.core.schema import TextNode

    from svm_retrievers.embeddings.llama_index import as_llama_index
    from svm_retrievers.llama_index import SVMRetriever

    handler = LlamaDebugHandler()
    retriever = SVMRetriever.from_defaults(
        nodes=[TextNode(text=t, id_=f"n{i}") for i, t in enumerate(TEXTS)],
        embed_model=as_llama_index(_embedder()),
        callback_manager=CallbackManager([handler]),
    )
    twin = copy.deepcopy(retriever)
    twin.retrieve(QUERY)
    assert len(handler.get_event_pairs(CBEventType.RETRIEVE)) == 1
