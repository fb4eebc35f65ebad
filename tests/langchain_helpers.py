"""Shared pieces of the LangChain adapter tests: a bag-of-words ``Embeddings`` and a corpus."""

from __future__ import annotations

import asyncio

from embeddings_for_tests import bag_of_words
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings


class BagOfWordsEmbeddings(Embeddings):
    """Offline LangChain embeddings (hashed bag of words) that record every call."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.document_calls: list[list[str]] = []
        self.query_calls: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.document_calls.append(list(texts))
        return [bag_of_words(t, self.dim) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.query_calls.append(text)
        return bag_of_words(text, self.dim)


class AsyncOnlyEmbeddings(BagOfWordsEmbeddings):
    """Native async methods that record their calls; the sync ones refuse to run."""

    def __init__(self) -> None:
        super().__init__()
        self.async_calls: list[str] = []

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.async_calls.append("aembed_documents")
        return await asyncio.to_thread(super().embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        self.async_calls.append("aembed_query")
        return await asyncio.to_thread(super().embed_query, text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("sync embed_documents called from async code")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("sync embed_query called from async code")


TOPICS = {
    "svm": [
        "support vector machines find a maximum margin hyperplane",
        "an exemplar svm trains one positive against many negatives",
        "linear svm with squared hinge loss and l2 penalty",
    ],
    "cooking": [
        "bake the bread in a hot oven for forty minutes",
        "simmer the tomato sauce with garlic and basil",
        "whisk eggs and sugar for a light sponge cake",
    ],
    "space": [
        "the rocket reached orbit after a long burn",
        "astronomers observed a distant galaxy with the telescope",
        "the moon landing used a lunar module",
    ],
    "retrieval": [
        "nearest neighbor search ranks documents by cosine similarity",
        "a retriever returns the documents most relevant to a query",
        "hybrid retrieval fuses svm and knn scores of documents",
    ],
}


def corpus() -> list[Document]:
    """Twelve documents in four topics, with ids ``t0``.. and metadata ``topic``/``n``/``tags``."""
    docs = []
    for topic, texts in TOPICS.items():
        for text in texts:
            i = len(docs)
            docs.append(
                Document(
                    page_content=text,
                    metadata={"topic": topic, "n": i, "tags": [topic, f"doc{i}"]},
                    id=f"t{i}",
                )
            )
    return docs


def assert_same_documents(got: list[Document], expected: list[Document], tol: float = 1e-6) -> None:
    """Same documents in the same order with the same scores up to ``tol``.

    Concurrent searches (``batch``, ``abatch``) may differ from sequential ones in the last
    digits: scikit-learn's liblinear draws from the process-wide C ``rand()``.
    """
    assert [d.id for d in got] == [d.id for d in expected]
    assert [d.page_content for d in got] == [d.page_content for d in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.metadata.keys() == b.metadata.keys()
        for key, value in b.metadata.items():
            if key.endswith("_score"):
                assert abs(a.metadata[key] - value) <= tol, (key, a.metadata[key], value)
            else:
                assert a.metadata[key] == value
