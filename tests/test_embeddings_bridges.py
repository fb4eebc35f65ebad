"""The LangChain and LlamaIndex bridges: LangChain's standard suites, LlamaIndex use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from llama_index.core.base.embeddings.base import BaseEmbedding

from svm_retrievers.embeddings import OfflineEmbedder, OpenAIEmbedder
from svm_retrievers.embeddings.langchain import LangChainEmbeddings, as_langchain
from svm_retrievers.embeddings.llama_index import LlamaIndexEmbedding, as_llama_index
from tests.openai_server import OpenAICompatibleServer, text_vector

CORPUS = ["foo bar baz", "bar qux", "foo quux corge", "hello world", "lorem ipsum dolor"]
OFFLINE = OfflineEmbedder(dim=3).fit(CORPUS)


class _OfflineMixin:
    @property
    def embeddings_class(self) -> type[Embeddings]:
        return LangChainEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": OFFLINE}


class TestOfflineLangChainUnit(_OfflineMixin, EmbeddingsUnitTests):
    pass


class TestOfflineLangChainIntegration(_OfflineMixin, EmbeddingsIntegrationTests):
    pass


class _ServerMixin:
    server: OpenAICompatibleServer

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _server(cls) -> Iterator[None]:
        with OpenAICompatibleServer() as srv:
            cls.server = srv
            yield

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return LangChainEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        srv = type(self).server
        return {
            "embedder": OpenAIEmbedder(base_url=srv.base_url, api_key=srv.api_key, max_retries=0)
        }


@pytest.mark.network
class TestOpenAILangChainUnit(_ServerMixin, EmbeddingsUnitTests):
    pass


@pytest.mark.network
class TestOpenAILangChainIntegration(_ServerMixin, EmbeddingsIntegrationTests):
    def test_vectors_come_from_the_server(self, model: Embeddings) -> None:
        np.testing.assert_allclose(model.embed_query("foo bar"), text_vector("foo bar"), rtol=1e-6)
        assert len(type(self).server.requests) >= 1


def test_as_langchain_wraps_and_passes_through() -> None:
    wrapped = as_langchain(OFFLINE)
    assert isinstance(wrapped, Embeddings)
    assert as_langchain(wrapped) is wrapped
    assert wrapped.embed_query("foo") == OFFLINE.embed_query("foo")
    with pytest.raises(TypeError, match="embed_documents and embed_query"):
        as_langchain(object())


async def test_as_langchain_async_without_native_async() -> None:
    class SyncOnly:
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[float(len(t)), 1.0] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return [float(len(text)), 1.0]

    wrapped = as_langchain(SyncOnly())
    assert await wrapped.aembed_documents(["ab", "c"]) == [[2.0, 1.0], [1.0, 1.0]]
    assert await wrapped.aembed_query("abc") == [3.0, 1.0]


async def test_as_llama_index_offline() -> None:
    embed_model = as_llama_index(OFFLINE)
    assert isinstance(embed_model, BaseEmbedding)
    assert as_llama_index(embed_model) is embed_model
    assert embed_model.model_name == "offline-tfidf-svd"
    query = embed_model.get_query_embedding("foo bar")
    assert query == OFFLINE.embed_query("foo bar")
    texts = embed_model.get_text_embedding_batch(CORPUS)
    assert texts == OFFLINE.embed_documents(CORPUS)
    assert await embed_model.aget_query_embedding("foo bar") == query
    assert await embed_model.aget_text_embedding_batch(CORPUS) == texts
    assert all(isinstance(x, float) for x in embed_model.get_text_embedding("hello world"))
    with pytest.raises(TypeError, match="embed_documents and embed_query"):
        LlamaIndexEmbedding(object())


@pytest.mark.network
async def test_as_llama_index_openai_sync_and_async() -> None:
    with OpenAICompatibleServer() as srv:
        emb = OpenAIEmbedder(
            base_url=srv.base_url, api_key=srv.api_key, max_retries=0, dimensions=8
        )
        embed_model = as_llama_index(emb)
        assert embed_model.model_name == "text-embedding-3-small"
        np.testing.assert_allclose(
            embed_model.get_query_embedding("hello"), text_vector("hello", 8), rtol=1e-6
        )
        batch = await embed_model.aget_text_embedding_batch(["hello", "world"])
        np.testing.assert_allclose(
            batch, [text_vector("hello", 8), text_vector("world", 8)], rtol=1e-6
        )


def test_llama_index_vector_store_index_with_offline_embedder() -> None:
    """The bridge works where LlamaIndex takes an embed model (no OpenAI default needed)."""
    from llama_index.core import Document, VectorStoreIndex

    docs = [Document(text=t, id_=str(i)) for i, t in enumerate(CORPUS)]
    index = VectorStoreIndex.from_documents(docs, embed_model=as_llama_index(OFFLINE))
    nodes = index.as_retriever(similarity_top_k=1).retrieve("hello world")
    assert nodes[0].node.get_content() == "hello world"


# ------------------------------------------------------------------ with the package's adapters
PETS = [
    "Cats purr and sleep on warm mats.",
    "A kitten is a young cat that likes to play.",
    "Dogs bark at the mailman every morning.",
    "Interest rates rose and stock markets fell.",
    "The central bank raised interest rates again.",
]


def test_langchain_retriever_with_offline_embedder() -> None:
    from svm_retrievers.langchain import SVMRetriever

    embedder = OfflineEmbedder(dim=4).fit(PETS)
    retriever = SVMRetriever.from_texts(PETS, as_langchain(embedder), k=2, mode="svm")
    docs = retriever.invoke("young cat kitten")
    assert len(docs) == 2
    assert docs[0].page_content == PETS[1]
    assert all(isinstance(d.metadata["svm_score"], float) for d in docs)
    assert docs[0].metadata["svm_score"] >= docs[1].metadata["svm_score"]


@pytest.mark.network
async def test_langchain_retriever_with_openai_embedder_sync_and_async() -> None:
    from svm_retrievers.langchain import SVMRetriever

    with OpenAICompatibleServer() as srv:
        emb = OpenAIEmbedder(base_url=srv.base_url, api_key=srv.api_key, max_retries=0)
        retriever = SVMRetriever.from_texts(PETS, as_langchain(emb), k=1, mode="knn")
        assert retriever.invoke("interest rates")[0].page_content in PETS[3:]
        docs = await retriever.ainvoke("young cat kitten")
        assert docs[0].page_content == PETS[1]
        assert srv.requests[-1]["input"] == ["young cat kitten"]


def test_llama_index_retriever_with_offline_embedder() -> None:
    from llama_index.core import Document

    from svm_retrievers.llama_index import SVMRetriever

    embedder = OfflineEmbedder(dim=4).fit(PETS)
    retriever = SVMRetriever.from_defaults(
        documents=[Document(text=t) for t in PETS],
        embed_model=as_llama_index(embedder),
        similarity_top_k=2,
        mode="hybrid",
    )
    nodes = retriever.retrieve("central bank interest rates")
    assert len(nodes) == 2
    assert nodes[0].node.get_content() in PETS[3:]
    assert isinstance(nodes[0].score, float)


def test_documented_embedder_examples_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The "Embedders in Python" examples (README, or docs/cli.md before the merge) run."""
    root = Path(__file__).parents[1]
    title = "## Embedders in Python\n"
    source = next(
        p for p in (root / "README.md", root / "docs" / "cli.md") if title in p.read_text()
    )
    text = source.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "docs"}
    for block in blocks:
        exec(compile(block, str(source), "exec"), namespace)
    hit_line = capsys.readouterr().out.split()
    assert hit_line[0] == "cats" and float(hit_line[1]) > 0.9
    assert isinstance(namespace["lc_embeddings"], Embeddings)
    assert isinstance(namespace["li_embed_model"], BaseEmbedding)
    assert (tmp_path / "pets-index" / "manifest.json").is_file()
