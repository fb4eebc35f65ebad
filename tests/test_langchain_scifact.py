"""The LangChain adapters on a real collection (SciFact, precomputed MiniLM vectors).

Skipped when ``../shared/data`` is absent. The adapters must reproduce the core exactly: the
retriever is the core's search, and the reranker over a vector store's top 50 is the core's
search restricted to those 50 documents.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from svm_retrievers.langchain import SVMReranker, SVMRerankingRetriever, SVMRetriever

DATA = Path(__file__).parents[1] / ".." / "shared" / "data" / "scifact"
N_QUERIES = 5

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="../shared/data/scifact is absent")


class PrecomputedEmbeddings(Embeddings):
    """Looks texts up in the collection's precomputed MiniLM vectors."""

    def __init__(self, documents: dict[str, np.ndarray], queries: dict[str, np.ndarray]) -> None:
        self.documents = documents
        self.queries = queries

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.documents[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.queries[text].tolist()


@cache
def _collection() -> tuple[list[Document], list[str], PrecomputedEmbeddings, np.ndarray]:
    rows = [json.loads(line) for line in (DATA / "corpus.jsonl").open()]
    docs = [
        Document(f"{r['title']}\n{r['text']}", metadata={"title": r["title"]}, id=r["_id"])
        for r in rows
    ]
    vectors = np.load(DATA / "embeddings" / "minilm" / "corpus.npy")
    queries = [json.loads(line)["text"] for line in (DATA / "queries.jsonl").open()]
    query_vectors = np.load(DATA / "embeddings" / "minilm" / "queries.npy")
    embedding = PrecomputedEmbeddings(
        {d.page_content: v for d, v in zip(docs, vectors, strict=True)},
        dict(zip(queries, query_vectors, strict=True)),
    )
    return docs, queries[:N_QUERIES], embedding, vectors


@cache
def _retriever() -> SVMRetriever:
    docs, _, embedding, vectors = _collection()
    return SVMRetriever.from_embeddings(
        [(d.page_content, v) for d, v in zip(docs, vectors, strict=True)],
        embedding,
        metadatas=[d.metadata for d in docs],
        ids=[d.id for d in docs],
        k=10,
    )


def test_retriever_is_the_core_search_on_scifact():
    _, queries, embedding, _ = _collection()
    retriever = _retriever()
    assert len(retriever.index) == 5183
    for query, mode in zip(queries, ["svm", "hybrid", "svm", "hybrid", "svm"], strict=True):
        docs = retriever.invoke(query, mode=mode)
        hits = retriever.index.search(embedding.embed_query(query), k=10, mode=mode)
        assert [d.id for d in docs] == [h.id for h in hits]
        assert [d.metadata["svm_score"] for d in docs] == [h.svm_score for h in hits]


def test_reranker_over_a_vector_store_is_the_core_restricted_to_its_candidates():
    docs, queries, embedding, _ = _collection()
    store = InMemoryVectorStore(embedding)
    store.add_documents(docs)
    reranking = SVMRerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": 50}),
        reranker=SVMReranker(embedding=embedding, top_n=10),
    )
    index = _retriever().index
    for query in queries:
        candidates = [d.id for d in store.similarity_search(query, k=50)]
        reranked = reranking.invoke(query)
        hits = index.search(embedding.embed_query(query), k=10, ids=candidates)
        assert [d.id for d in reranked][:5] == [h.id for h in hits][:5]
        np.testing.assert_allclose(
            [d.metadata["svm_score"] for d in reranked], [h.svm_score for h in hits], atol=1e-4
        )
