"""LangChain's own standard retriever suite, run on every adapter (sockets disabled)."""

from __future__ import annotations

from functools import cache
from typing import Any

from langchain_core.vectorstores import InMemoryVectorStore
from langchain_helpers import BagOfWordsEmbeddings, corpus
from langchain_tests.integration_tests import RetrieversIntegrationTests

from svm_retrievers import SVMIndex
from svm_retrievers.langchain import SVMReranker, SVMRerankingRetriever, SVMRetriever

EMBEDDING = BagOfWordsEmbeddings()


@cache
def _index() -> SVMIndex:
    return SVMRetriever.from_documents(corpus(), EMBEDDING).index


class _SVMRetrieverSuite(RetrieversIntegrationTests):
    mode = "svm"

    @property
    def retriever_constructor(self) -> type[SVMRetriever]:
        return SVMRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": _index(), "embedding": EMBEDDING, "mode": self.mode}

    @property
    def retriever_query_example(self) -> str:
        return "which svm ranks documents for a query"


class TestSVMRetrieverSVMMode(_SVMRetrieverSuite):
    mode = "svm"


class TestSVMRetrieverKNNMode(_SVMRetrieverSuite):
    mode = "knn"


class TestSVMRetrieverHybridMode(_SVMRetrieverSuite):
    mode = "hybrid"


class TestSVMRerankingRetriever(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[SVMRerankingRetriever]:
        return SVMRerankingRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        store = InMemoryVectorStore(EMBEDDING)
        store.add_documents(corpus())
        return {
            "base_retriever": store.as_retriever(search_kwargs={"k": 8}),
            "reranker": SVMReranker(embedding=EMBEDDING, mode="hybrid"),
        }

    @property
    def retriever_query_example(self) -> str:
        return "which svm ranks documents for a query"
