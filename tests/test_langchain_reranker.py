"""SVMReranker and SVMRerankingRetriever over langchain-core's InMemoryVectorStore."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_helpers import (
    AsyncOnlyEmbeddings,
    BagOfWordsEmbeddings,
    assert_same_documents,
    corpus,
)

from svm_retrievers import SVMIndex
from svm_retrievers.langchain import SVMReranker, SVMRerankingRetriever

QUERY = "which svm ranks documents for a query"
SCORES = ("knn_score", "svm_score", "hybrid_score", "relevance", "relevance_score")


@pytest.fixture
def embedding() -> BagOfWordsEmbeddings:
    return BagOfWordsEmbeddings()


@pytest.fixture
def store(embedding: BagOfWordsEmbeddings) -> InMemoryVectorStore:
    store = InMemoryVectorStore(embedding)
    store.add_documents(corpus())
    embedding.document_calls.clear()
    embedding.query_calls.clear()
    return store


def _core(embedding, candidates, query, k, mode, **options):
    """The core's ranking of ``candidates``, built directly: what the reranker must match."""
    vectors = [embedding.embed_query(d.page_content) for d in candidates]
    index = SVMIndex.from_embeddings(vectors, ids=[d.id for d in candidates], dtype=np.float64)
    return index.search(embedding.embed_query(query), k=k, mode=mode, **options)


@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_reranks_vector_store_candidates_like_the_core(store, embedding, mode):
    candidates = store.similarity_search(QUERY, k=8)
    before = copy.deepcopy(candidates)
    reranked = SVMReranker(embedding=embedding, top_n=3, mode=mode).compress_documents(
        candidates, QUERY
    )
    hits = _core(embedding, candidates, QUERY, 3, mode)
    assert [d.id for d in reranked] == [h.id for h in hits]
    by_id = {d.id: d for d in candidates}
    for doc, hit in zip(reranked, hits, strict=True):
        for key in SCORES:
            assert type(doc.metadata[key]) is float
        assert doc.metadata["relevance_score"] == doc.metadata[f"{mode}_score"] == hit.score
        assert doc.metadata["svm_score"] == pytest.approx(hit.svm_score, abs=1e-9)
        assert doc.page_content == by_id[doc.id].page_content
        assert {k: v for k, v in doc.metadata.items() if k not in SCORES} == by_id[doc.id].metadata
    assert candidates == before  # no score keys were added to the candidates


def test_results_never_share_metadata_with_candidates(embedding):
    candidates = corpus()
    reranked = SVMReranker(embedding=embedding, top_n=12).compress_documents(candidates, QUERY)
    for doc in reranked:
        doc.metadata["tags"].append("changed")
    assert all("changed" not in d.metadata["tags"] for d in candidates)
    assert all("svm_score" not in d.metadata for d in candidates)


def test_repeated_candidates_are_embedded_once_and_returned_once(embedding):
    docs = corpus()[:4]
    twin = Document(docs[0].page_content, metadata={"copy": True}, id="other-id")
    no_id = [Document("lonely text about garlic"), Document("lonely text about garlic")]
    candidates = [*docs, *docs, twin, *no_id]
    reranked = SVMReranker(embedding=embedding, top_n=20).compress_documents(candidates, QUERY)
    embedded = [t for call in embedding.document_calls for t in call]
    assert sorted(embedded) == sorted({d.page_content for d in candidates})
    ids = [d.id for d in reranked]
    assert len(reranked) == 6  # four docs, the twin (own id), one id-less text
    assert len(set(filter(None, ids))) == 5 and ids.count(None) == 1


def test_background_adds_negatives(store, embedding):
    background = [
        "the svm ranks a query",
        "documents about svm ranking",
        "a query for the documents",
    ]
    candidates = store.similarity_search(QUERY, k=8)
    plain = SVMReranker(embedding=embedding, top_n=8, mode="svm").compress_documents(
        candidates, QUERY
    )
    reranker = SVMReranker(embedding=embedding, top_n=8, mode="svm", background=background)
    with_bg = reranker.compress_documents(candidates, QUERY)
    vectors = np.array([embedding.embed_query(t) for t in background])
    hits = _core(embedding, candidates, QUERY, 8, "svm", negatives=vectors)
    assert [d.id for d in with_bg] == [h.id for h in hits]
    assert [d.metadata["svm_score"] for d in with_bg] == pytest.approx([h.svm_score for h in hits])
    plain_svm = {d.id: d.metadata["svm_score"] for d in plain}
    assert any(abs(d.metadata["svm_score"] - plain_svm[d.id]) > 1e-6 for d in with_bg)
    # The background texts are embedded once, not per call.
    embedding.document_calls.clear()
    reranker.compress_documents(candidates, QUERY)
    assert all(background[0] not in call for call in embedding.document_calls)
    # Vectors work too.
    by_vectors = SVMReranker(embedding=embedding, top_n=8, mode="svm", background=vectors)
    assert by_vectors.compress_documents(candidates, QUERY) == with_bg


def test_per_call_options_and_empty_candidates(store, embedding):
    reranker = SVMReranker(embedding=embedding, top_n=3)
    candidates = store.similarity_search(QUERY, k=10)
    one = reranker.rerank(candidates, QUERY, k=1, mode="knn")
    assert len(one) == 1 and one[0].id == _core(embedding, candidates, QUERY, 1, "knn")[0].id
    only_svm = reranker.rerank(candidates, QUERY, k=10, filter={"topic": "svm"})
    assert only_svm and {d.metadata["topic"] for d in only_svm} == {"svm"}
    ids = [d.id for d in candidates if d.metadata["topic"] == "svm"]
    assert [d.id for d in only_svm] == [
        h.id for h in _core(embedding, candidates, QUERY, 10, "svm", ids=ids)
    ]
    assert reranker.compress_documents([], QUERY) == []
    assert len(reranker.compress_documents(candidates, QUERY)) == 3


async def test_async_matches_sync(store, embedding):
    reranker = SVMReranker(embedding=embedding, top_n=4, mode="hybrid", background=["svm ranking"])
    candidates = store.similarity_search(QUERY, k=8)
    expected = reranker.compress_documents(candidates, QUERY)
    assert await reranker.acompress_documents(candidates, QUERY) == expected


async def test_async_uses_the_async_embedding_methods():
    embedding = AsyncOnlyEmbeddings()
    reranker = SVMReranker(embedding=embedding, top_n=2, background=["svm ranking", "a query"])
    docs = await reranker.acompress_documents(corpus(), QUERY)
    assert len(docs) == 2
    assert embedding.async_calls == ["aembed_documents", "aembed_query", "aembed_documents"]
    await reranker.acompress_documents(corpus(), QUERY)  # the background is embedded once
    assert embedding.async_calls[3:] == ["aembed_documents", "aembed_query"]


def test_bad_reranker_settings(embedding):
    with pytest.raises(ValueError, match="top_n must be >= 1"):
        SVMReranker(embedding=embedding, top_n=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        SVMReranker(embedding=embedding, mode="bm25")
    with pytest.raises(ValueError, match="C must be a finite number > 0"):
        SVMReranker(embedding=embedding, params={"C": -1.0})
    with pytest.raises(TypeError, match=r"unknown scoring parameter\(s\) \['gamma'\]"):
        SVMReranker(embedding=embedding, params={"gamma": 1.0})
    with pytest.raises(ValueError, match="give mode as"):
        SVMReranker(embedding=embedding, params={"mode": "knn"})
    with pytest.raises(TypeError, match="got a single str"):
        SVMReranker(embedding=embedding, background="one text")
    wrong_dim = SVMReranker(embedding=embedding, background=np.ones((2, 3)))
    with pytest.raises(ValueError, match="background has dimension 3, but the candidates'"):
        wrong_dim.compress_documents(corpus(), QUERY)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['positives'\]"):
        SVMReranker(embedding=embedding).rerank(corpus(), QUERY, positives=["t0"])


# --------------------------------------------------------------------------- the retriever
def test_reranking_retriever_chains_base_retriever_and_reranker(store, embedding):
    reranker = SVMReranker(embedding=embedding, top_n=3)
    retriever = SVMRerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": 8}), reranker=reranker
    )
    candidates = store.similarity_search(QUERY, k=8)
    assert retriever.invoke(QUERY) == reranker.compress_documents(candidates, QUERY)
    two = retriever.invoke(QUERY, k=2, mode="knn")
    assert two == reranker.rerank(candidates, QUERY, k=2, mode="knn")
    fixed = SVMRerankingRetriever(base_retriever=retriever.base_retriever, reranker=reranker, k=5)
    assert len(fixed.invoke(QUERY)) == 5
    assert len(fixed.invoke(QUERY, k=None)) == 5
    embedding.query_calls.clear()
    with pytest.raises(ValueError, match="k must be >= 1"):
        retriever.invoke(QUERY, k=0)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['top_k'\]"):
        retriever.invoke(QUERY, top_k=2)
    with pytest.raises(ValueError, match="query is empty"):
        retriever.invoke("  ")
    assert embedding.query_calls == []  # refused before the base retriever ran


async def test_an_empty_query_is_refused_as_by_the_retriever(store, embedding):
    reranker = SVMReranker(embedding=embedding, score_threshold=0.2)
    candidates = store.similarity_search(QUERY, k=4)
    with pytest.raises(ValueError, match="query is empty"):
        reranker.compress_documents(candidates, "")
    with pytest.raises(ValueError, match="query is empty"):
        await reranker.acompress_documents(candidates, " ")
    with pytest.raises(ValueError, match="score_threshold"):
        SVMReranker(embedding=embedding, score_threshold=1.5)
    with pytest.raises(TypeError, match="score_threshold"):
        SVMReranker(embedding=embedding, score_threshold=True)


async def test_reranking_retriever_batch_and_async(store, embedding):
    retriever = SVMRerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": 8}),
        reranker=SVMReranker(embedding=embedding, mode="hybrid"),
    )
    queries = [QUERY, "rocket orbit", "garlic sauce"]
    expected = [retriever.invoke(q, k=2) for q in queries]
    for batched in (retriever.batch(queries, k=2), await retriever.abatch(queries, k=2)):
        for got, want in zip(batched, expected, strict=True):
            assert_same_documents(got, want)
    assert await retriever.ainvoke(queries[1], k=2) == expected[1]
