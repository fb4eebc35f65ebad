"""SVMRetriever.save / load through the core's on-disk format (never pickle)."""

from __future__ import annotations

import json

import pytest
from langchain_helpers import BagOfWordsEmbeddings, corpus

from svm_retrievers import SVMIndex
from svm_retrievers.langchain import SVMRetriever

QUERY = "which svm ranks documents for a query"


@pytest.fixture
def retriever() -> SVMRetriever:
    return SVMRetriever.from_documents(corpus(), BagOfWordsEmbeddings(), k=3, mode="hybrid", C=0.5)


def test_round_trip_gives_the_same_results_and_settings(retriever, tmp_path):
    retriever.save(tmp_path / "idx")
    assert sorted(p.suffix for p in (tmp_path / "idx").iterdir()) == [".json", ".json", ".npy"]
    loaded = SVMRetriever.load(tmp_path / "idx", BagOfWordsEmbeddings())
    assert (loaded.k, loaded.mode, loaded.batch_size) == (3, "hybrid", retriever.batch_size)
    assert loaded.index.params.C == 0.5
    assert loaded.invoke(QUERY) == retriever.invoke(QUERY)
    assert loaded.invoke(QUERY, k=12, mode="svm", filter={"topic": "svm"}) == retriever.invoke(
        QUERY, k=12, mode="svm", filter={"topic": "svm"}
    )
    # The loaded retriever keeps working: add, delete, save again.
    loaded.add_texts(["a new text about rockets"], ids=["new"])
    loaded.delete(["t0"])
    loaded.save(tmp_path / "idx")
    again = SVMRetriever.load(tmp_path / "idx", BagOfWordsEmbeddings(), k=1, mode="knn")
    assert (again.k, again.mode) == (1, "knn")
    assert again.invoke("rockets")[0].id == "new"
    assert "t0" not in again.index


def test_settings_live_under_their_own_key_and_others_are_kept(retriever, tmp_path):
    retriever.index.save(tmp_path / "idx", extra={"llama_index": {"similarity_top_k": 7}})
    loaded = SVMRetriever.load(tmp_path / "idx", BagOfWordsEmbeddings())
    assert (loaded.k, loaded.mode) == (4, "knn")  # nothing saved by LangChain: the defaults
    loaded.save(tmp_path / "idx")
    extra = SVMIndex.load(tmp_path / "idx").extra
    assert extra["llama_index"] == {"similarity_top_k": 7}
    assert extra["langchain"] == {
        "k": 4,
        "mode": "knn",
        "batch_size": loaded.batch_size,
        "score_threshold": None,
        "embedding": "BagOfWordsEmbeddings",
    }


def test_bad_saved_settings_and_missing_index_are_refused(retriever, tmp_path):
    with pytest.raises(FileNotFoundError):
        SVMRetriever.load(tmp_path / "nothing here", BagOfWordsEmbeddings())
    retriever.index.save(tmp_path / "idx", extra={"langchain": {"k": 0}})
    with pytest.raises(ValueError, match="k must be >= 1"):
        SVMRetriever.load(tmp_path / "idx", BagOfWordsEmbeddings())
    retriever.index.save(tmp_path / "idx", extra={"langchain": ["not", "a", "dict"]})
    with pytest.raises(ValueError, match="must be a JSON object"):
        SVMRetriever.load(tmp_path / "idx", BagOfWordsEmbeddings())
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["extra"] == {"langchain": ["not", "a", "dict"]}


def test_wrong_embedding_on_load_is_named(retriever, tmp_path):
    retriever.save(tmp_path / "idx")
    loaded = SVMRetriever.load(tmp_path / "idx", BagOfWordsEmbeddings(dim=64))
    with pytest.raises(
        ValueError, match="BagOfWordsEmbeddings.embed_query returned vectors of dimension 64"
    ):
        loaded.invoke(QUERY)


def test_offline_embedder_is_saved_with_the_index(tmp_path):
    from svm_retrievers.embeddings import OfflineEmbedder
    from svm_retrievers.embeddings.langchain import as_langchain

    texts = [
        "the wing produces lift at low speed",
        "boundary layer transition on a flat plate",
        "heat transfer in hypersonic flow",
        "shock waves form ahead of a blunt body",
        "the compressor blade vibrates at resonance",
    ]
    embedding = as_langchain(OfflineEmbedder(dim=4).fit(texts))
    retriever = SVMRetriever.from_texts(texts, embedding, k=2)
    retriever.save(tmp_path / "idx")
    loaded = SVMRetriever.load(tmp_path / "idx")  # no embedding passed: the saved one is used
    query = "lift of a wing"
    assert [d.metadata for d in loaded.invoke(query)] == [
        d.metadata for d in retriever.invoke(query)
    ]
    SVMRetriever.from_texts(texts, BagOfWordsEmbeddings()).save(tmp_path / "other")
    with pytest.raises(ValueError, match="carries no embedder"):
        SVMRetriever.load(tmp_path / "other")
