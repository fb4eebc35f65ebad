"""The OpenAI embedder with the real ``openai`` client against a real local server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from svm_retrievers.embeddings import EmbeddingError, OpenAIEmbedder, embedder_from_state
from tests.openai_server import NATIVE_DIM, OpenAICompatibleServer, text_vector

pytestmark = pytest.mark.network

TEXTS = ["alpha beta", "gamma delta", "alpha gamma", "epsilon"]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as srv:
        yield srv


@pytest.fixture
def live(server: OpenAICompatibleServer) -> Iterator[OpenAICompatibleServer]:
    server.reset()
    yield server
    server.reset()


def make(server: OpenAICompatibleServer, **kwargs: object) -> OpenAIEmbedder:
    kwargs.setdefault("api_key", server.api_key)
    kwargs.setdefault("max_retries", 0)
    return OpenAIEmbedder(base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def expected(texts: list[str], dim: int = NATIVE_DIM) -> np.ndarray:
    return np.vstack([text_vector(t, dim) for t in texts]).astype(np.float32)


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
def test_sync_embeddings_in_every_encoding(
    live: OpenAICompatibleServer, encoding_format: str | None
) -> None:
    emb = make(live, encoding_format=encoding_format)
    vectors = emb.embed(TEXTS)
    np.testing.assert_allclose(vectors, expected(TEXTS), rtol=1e-6)
    assert vectors.dtype == np.float32 and emb.dim == NATIVE_DIM
    sent = live.requests[-1]
    # the client asks for base64 unless told otherwise
    assert sent["encoding_format"] == (encoding_format or "base64")
    assert sent["model"] == "text-embedding-3-small"


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
async def test_async_embeddings_in_every_encoding(
    live: OpenAICompatibleServer, encoding_format: str | None
) -> None:
    emb = make(live, encoding_format=encoding_format)
    docs = await emb.aembed_documents(TEXTS)
    query = await emb.aembed_query("alpha beta")
    np.testing.assert_allclose(np.array(docs), expected(TEXTS), rtol=1e-6)
    assert isinstance(query[0], float)
    np.testing.assert_allclose(query, docs[0], rtol=1e-6)


def test_async_works_across_event_loops(live: OpenAICompatibleServer) -> None:
    """One embedder, several ``asyncio.run`` calls: each loop gets its own async client."""
    import asyncio

    emb = make(live)
    first = asyncio.run(emb.aembed_query("alpha beta"))
    for _ in range(2):
        assert asyncio.run(emb.aembed_query("alpha beta")) == first
    assert len(live.requests) == 3


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copies_open_their_own_clients(live: OpenAICompatibleServer, how: str) -> None:
    """A copy (e.g. pickled into a worker process) keeps the settings, not the clients."""
    import asyncio
    import copy
    import pickle

    emb = make(live, dimensions=8)
    first = emb.embed_query("alpha beta")  # the original's client exists now
    twin = copy.deepcopy(emb) if how == "deepcopy" else pickle.loads(pickle.dumps(emb))
    assert twin.embed_query("alpha beta") == first
    assert asyncio.run(twin.aembed_query("alpha beta")) == first
    assert twin.client is not emb.client and twin.dim == 8
    assert [r["dimensions"] for r in live.requests] == [8, 8, 8]


def test_lists_of_python_floats(live: OpenAICompatibleServer) -> None:
    emb = make(live)
    docs = emb.embed_documents(TEXTS)
    query = emb.embed_query("epsilon")
    assert all(isinstance(x, float) for row in docs for x in row)
    assert query == docs[3]


def test_batches_keep_order(live: OpenAICompatibleServer) -> None:
    texts = [f"text number {i} word{i % 7}" for i in range(23)]
    vectors = make(live, batch_size=5).embed(texts)
    assert len(live.requests) == 5
    assert [len(r["input"]) for r in live.requests] == [5, 5, 5, 5, 3]
    np.testing.assert_allclose(vectors, expected(texts), rtol=1e-6)


def test_dimensions_are_sent_and_checked(live: OpenAICompatibleServer) -> None:
    emb = make(live, dimensions=16)
    vectors = emb.embed(TEXTS)
    assert vectors.shape == (4, 16) and emb.dim == 16
    assert live.requests[-1]["dimensions"] == 16
    np.testing.assert_allclose(vectors, expected(TEXTS, 16), rtol=1e-6)


def test_empty_input_makes_no_request(live: OpenAICompatibleServer) -> None:
    assert make(live).embed([]).shape[0] == 0
    assert live.requests == []


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "the API key was rejected"), (429, "rate limited"), (500, "server error")],
)
def test_error_statuses_are_clear(live: OpenAICompatibleServer, status: int, words: str) -> None:
    import openai

    live.fail_status = status
    emb = make(live)
    with pytest.raises(EmbeddingError, match=f"HTTP {status} \\({words}") as info:
        emb.embed(TEXTS)
    assert info.value.status_code == status
    assert isinstance(info.value.__cause__, openai.APIStatusError)
    assert live.base_url in str(info.value)
    assert len(live.requests) == 1  # max_retries=0: no retry


@pytest.mark.parametrize("status", [401, 429, 500])
async def test_async_error_statuses_are_clear(live: OpenAICompatibleServer, status: int) -> None:
    live.fail_status = status
    with pytest.raises(EmbeddingError, match=f"HTTP {status}") as info:
        await make(live).aembed_query("alpha")
    assert info.value.status_code == status


def test_wrong_key_is_401(live: OpenAICompatibleServer) -> None:
    with pytest.raises(EmbeddingError, match="HTTP 401") as info:
        make(live, api_key="wrong").embed_query("alpha")
    assert "Incorrect API key" in str(info.value)


@pytest.mark.parametrize("encoding_format", [None, "float"])
def test_wrong_vector_count(live: OpenAICompatibleServer, encoding_format: str | None) -> None:
    live.drop_vectors = 1
    with pytest.raises(EmbeddingError, match="returned 3 vectors for 4 input texts"):
        make(live, encoding_format=encoding_format).embed(TEXTS)


def test_no_vectors_at_all(live: OpenAICompatibleServer) -> None:
    live.drop_vectors = 1
    with pytest.raises(EmbeddingError, match=r"0 vectors for 1 input|No embedding data"):
        make(live).embed_query("alpha")


async def test_async_wrong_vector_count(live: OpenAICompatibleServer) -> None:
    live.drop_vectors = 2
    with pytest.raises(EmbeddingError, match="returned 2 vectors for 4"):
        await make(live).aembed_documents(TEXTS)


def test_dimension_change_between_calls(live: OpenAICompatibleServer) -> None:
    emb = make(live)
    emb.embed(TEXTS)
    emb.dimensions = 8  # the server now answers 8-dim vectors; the embedder had 64
    emb._dim = NATIVE_DIM
    with pytest.raises(EmbeddingError, match="dimension"):
        emb.embed(TEXTS)


def test_connection_refused_is_clear() -> None:
    with OpenAICompatibleServer() as srv:
        url = srv.base_url
    emb = OpenAIEmbedder(base_url=url, api_key="k", max_retries=0, timeout=5)
    with pytest.raises(EmbeddingError, match="could not connect"):
        emb.embed_query("alpha")


def test_missing_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    emb = OpenAIEmbedder(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(EmbeddingError, match=r"no API key.*OPENAI_API_KEY"):
        emb.embed_query("alpha")


def test_environment_fallbacks(
    live: OpenAICompatibleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", live.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", live.base_url)
    emb = OpenAIEmbedder(max_retries=0)
    np.testing.assert_allclose(emb.embed_query("alpha"), text_vector("alpha"), rtol=1e-6)


@pytest.mark.parametrize("encoding_format", [None, "float"])
async def test_a_web_page_instead_of_an_api_is_an_embedding_error(
    live: OpenAICompatibleServer, encoding_format: str | None
) -> None:
    live.html = True
    emb = make(live, encoding_format=encoding_format)
    with pytest.raises(EmbeddingError, match="not an embeddings list.*base URL"):
        emb.embed(TEXTS)
    with pytest.raises(EmbeddingError, match="not an embeddings list"):
        await emb.aembed_query("alpha")


def test_items_without_index_are_taken_in_order(live: OpenAICompatibleServer) -> None:
    live.omit_index = True
    np.testing.assert_allclose(make(live).embed(TEXTS), expected(TEXTS), atol=1e-6)


def test_bad_input() -> None:
    emb = OpenAIEmbedder(api_key="k")
    with pytest.raises(ValueError, match="empty"):
        emb.embed_query("")
    with pytest.raises(TypeError, match="single str"):
        emb.embed("abc")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        emb.embed(["a", None])  # type: ignore[list-item]
    for kwargs, match in [
        ({"dimensions": 0}, "dimensions"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_retries": -1}, "max_retries"),
        ({"encoding_format": "int8"}, "encoding_format"),
        ({"model": ""}, "model"),
    ]:
        with pytest.raises(ValueError, match=match):
            OpenAIEmbedder(**kwargs)  # type: ignore[arg-type]
    for kwargs, match in [
        ({"timeout": None}, "timeout must be a number"),
        ({"timeout": "5"}, "timeout must be a number"),
        ({"base_url": 5}, "base_url must be a str"),
    ]:
        with pytest.raises(TypeError, match=match):
            OpenAIEmbedder(api_key="k", **kwargs)  # type: ignore[arg-type]


def test_state_has_no_key_and_round_trips(
    live: OpenAICompatibleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = make(live, api_key="secret-key-123", dimensions=16)
    config, arrays = emb.to_state()
    assert "secret-key-123" not in json.dumps(config)
    assert arrays == {}
    assert config == {
        "kind": "openai",
        "version": 1,
        "model": "text-embedding-3-small",
        "dimensions": 16,
        "base_url": live.base_url,
        "dim": 16,
    }
    monkeypatch.setenv("OPENAI_API_KEY", live.api_key)
    rebuilt = embedder_from_state(json.loads(json.dumps(config)), arrays)
    assert isinstance(rebuilt, OpenAIEmbedder)
    np.testing.assert_array_equal(rebuilt.embed(TEXTS), make(live, dimensions=16).embed(TEXTS))
