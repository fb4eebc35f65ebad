"""SVMRetriever: scores, ids and metadata, per-call options, async, batches, bad input."""

from __future__ import annotations

import asyncio
import copy
import math
import subprocess
import sys
import time

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_helpers import (
    AsyncOnlyEmbeddings,
    BagOfWordsEmbeddings,
    assert_same_documents,
    corpus,
)

import svm_retrievers.langchain as lc
from svm_retrievers import SVMIndex
from svm_retrievers.langchain import SVMRetriever

QUERY = "which svm ranks documents for a query"


@pytest.fixture
def embedding() -> BagOfWordsEmbeddings:
    return BagOfWordsEmbeddings()


@pytest.fixture
def retriever(embedding: BagOfWordsEmbeddings) -> SVMRetriever:
    return SVMRetriever.from_documents(corpus(), embedding, k=4, mode="svm")


def _core_hits(retriever: SVMRetriever, query: str, k: int, mode: str, **options):
    vector = retriever.embedding.embed_query(query)
    return retriever.index.search(vector, k=k, mode=mode, **options)


# --------------------------------------------------------------------------- packaging
def test_import_svm_retrievers_does_not_import_langchain():
    code = (
        "import sys, svm_retrievers; "
        "bad = [m for m in sys.modules if m.startswith(('langchain', 'pydantic'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names():
    assert lc.__all__ == ["SVMReranker", "SVMRerankingRetriever", "SVMRetriever"]
    import svm_retrievers

    assert not set(lc.__all__) & set(svm_retrievers.__all__)


def test_repr_does_not_print_the_index(retriever: SVMRetriever):
    assert "index" not in repr(retriever)
    assert "index" not in retriever.model_dump()


# --------------------------------------------------------------------------- scores
@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_every_document_has_three_float_scores_matching_the_core(retriever, mode):
    docs = retriever.invoke(QUERY, k=12, mode=mode)
    hits = _core_hits(retriever, QUERY, 12, mode)
    assert [d.id for d in docs] == [h.id for h in hits]
    for doc, hit in zip(docs, hits, strict=True):
        for key in ("knn_score", "svm_score", "hybrid_score"):
            assert type(doc.metadata[key]) is float
            assert doc.metadata[key] == getattr(hit, key)
        assert doc.page_content == hit.text
    ranked = [d.metadata[f"{mode}_score"] for d in docs]
    assert ranked == sorted(ranked, reverse=True)


def test_best_document_shares_the_query_words(retriever):
    for mode in ("svm", "knn", "hybrid"):
        best = retriever.invoke("bake bread in the oven", mode=mode)[0]
        assert best.id == "t3"


def test_default_k_and_mode_come_from_the_retriever(embedding):
    retriever = SVMRetriever.from_documents(corpus(), embedding, k=2, mode="knn")
    docs = retriever.invoke(QUERY)
    hits = _core_hits(retriever, QUERY, 2, "knn")
    assert [d.id for d in docs] == [h.id for h in hits]


def test_per_call_k_and_mode_override_without_changing_the_retriever(retriever):
    one = retriever.invoke(QUERY, k=1, mode="hybrid")
    assert len(one) == 1
    assert one[0].id == _core_hits(retriever, QUERY, 1, "hybrid")[0].id
    assert len(retriever.invoke(QUERY, k=30)) == 12  # more than stored: all of them
    assert (retriever.k, retriever.mode) == (4, "svm")
    assert len(retriever.invoke(QUERY)) == 4
    assert retriever.invoke(QUERY, k=None, mode=None) == retriever.invoke(QUERY)  # None: default


def test_scoring_parameters_per_call(retriever):
    default = retriever.invoke(QUERY, k=12)
    strong = retriever.invoke(QUERY, k=12, C=10.0)
    by_id = {d.id: d.metadata["svm_score"] for d in default}
    assert any(abs(d.metadata["svm_score"] - by_id[d.id]) > 1e-3 for d in strong)
    knn_only = retriever.invoke(QUERY, k=12, mode="hybrid", alpha=1.0)
    knn = retriever.invoke(QUERY, k=12, mode="knn")
    assert [d.metadata["knn_score"] for d in knn_only] == [d.metadata["knn_score"] for d in knn]
    assert retriever.index.params.C == 0.1


def test_index_parameters_from_the_constructor(embedding):
    retriever = SVMRetriever.from_documents(corpus(), embedding, C=10.0, mode="svm")
    assert retriever.index.params.C == 10.0
    docs = retriever.invoke(QUERY, k=12)
    hits = _core_hits(retriever, QUERY, 12, "svm", C=10.0)
    assert [d.metadata["svm_score"] for d in docs] == [h.svm_score for h in hits]


# --------------------------------------------------------------------------- ids and metadata
def test_ids_and_metadata_are_kept_and_never_shared(embedding):
    docs = corpus()
    before = copy.deepcopy([d.metadata for d in docs])
    retriever = SVMRetriever.from_documents(docs, embedding)
    docs[0].metadata["tags"].append("changed by the caller")  # after indexing
    first = retriever.invoke("support vector machines", k=12)
    assert {d.id for d in first} == {f"t{i}" for i in range(12)}
    for doc in first:
        stored = before[int(doc.id[1:])]
        assert {
            k: v for k, v in doc.metadata.items() if not k.endswith("_score") and k != "relevance"
        } == stored
    # The caller's documents got no score keys.
    assert all("svm_score" not in d.metadata for d in docs)
    # Mutating a returned document changes nothing stored.
    first[0].metadata["tags"].append("changed by a consumer")
    first[0].metadata["topic"] = "changed"
    again = retriever.invoke("support vector machines", k=12)
    assert again[0].metadata["tags"] == before[int(again[0].id[1:])]["tags"]
    assert again[0].metadata["topic"] == before[int(again[0].id[1:])]["topic"]
    assert retriever.get_by_ids(["t0"])[0].metadata == before[0]


def test_from_texts_ids_metadatas_and_generated_ids(embedding):
    texts = ["alpha beta", "gamma delta", "beta gamma"]
    retriever = SVMRetriever.from_texts(
        texts, embedding, metadatas=[{"a": 1}, None, {"c": 3}], ids=["x", None, "z"]
    )
    ids = retriever.index.ids
    assert ids[0] == "x" and ids[2] == "z" and len(ids[1]) == 36  # a UUID
    got = {d.id: d for d in retriever.invoke("beta", k=3)}
    assert got["x"].metadata["a"] == 1 and got["z"].metadata["c"] == 3
    assert set(got[ids[1]].metadata) == {"knn_score", "svm_score", "hybrid_score", "relevance"}


def test_from_documents_keeps_ids_and_fills_missing_ones(embedding):
    docs = [Document("alpha beta", id="kept"), Document("gamma delta")]
    retriever = SVMRetriever.from_documents(docs, embedding)
    assert retriever.index.ids[0] == "kept"
    assert retriever.index.ids[1] != "kept" and len(retriever.index.ids[1]) == 36


def test_add_and_delete(retriever, embedding):
    ids = retriever.add_documents([Document("quantum entanglement of photons", id="new")])
    assert ids == ["new"]
    assert retriever.invoke("photons entanglement", k=1)[0].id == "new"
    more = retriever.add_texts(["tidal forces of the moon"], metadatas=[{"topic": "space"}])
    assert len(more) == 1 and more[0] in retriever.index
    assert retriever.add_texts([]) == []
    retriever.delete(["new", *more])
    assert "new" not in {d.id for d in retriever.invoke("photons entanglement", k=20)}
    assert len(retriever.index) == 12
    with pytest.raises(KeyError, match="unknown id"):
        retriever.delete(["never stored"])
    with pytest.raises(ValueError, match="already in the index"):
        retriever.add_texts(["again"], ids=["t0"])


def test_ids_given_as_a_str_or_no_sequence_are_refused(retriever, embedding):
    assert [d.id for d in retriever.get_by_ids(["t1", "t0", "gone"])] == ["t1", "t0"]
    for call in (retriever.get_by_ids, retriever.delete):
        with pytest.raises(TypeError, match=r"got a single str; wrap it as \[id\]"):
            call("t0")
        with pytest.raises(TypeError, match="ids must be a sequence of ids, got NoneType"):
            call(None)
    assert len(retriever.index) == 12
    with pytest.raises(
        TypeError, match=r"must be a \(text, vector\) pair, got a tuple of length 1"
    ):
        retriever.add_embeddings([("t",)])


def test_from_embeddings_uses_the_given_vectors(embedding):
    docs = corpus()
    pairs = [(d.page_content, embedding.embed_query(d.page_content)) for d in docs]
    embedding.query_calls.clear()
    retriever = SVMRetriever.from_embeddings(
        pairs, embedding, metadatas=[d.metadata for d in docs], ids=[d.id for d in docs]
    )
    assert embedding.document_calls == []
    reference = SVMRetriever.from_documents(docs, embedding)
    assert retriever.invoke(QUERY, k=12) == reference.invoke(QUERY, k=12)
    assert embedding.query_calls == [QUERY, QUERY]


def test_corpus_is_embedded_in_batches_with_embed_documents(embedding):
    texts = [f"text number {i} about topic {i % 3}" for i in range(10)]
    retriever = SVMRetriever.from_texts(texts, embedding, batch_size=4)
    assert [len(c) for c in embedding.document_calls] == [4, 4, 2]
    assert [t for call in embedding.document_calls for t in call] == texts
    assert embedding.query_calls == []
    retriever.invoke("topic 1")
    assert embedding.query_calls == ["topic 1"]


# --------------------------------------------------------------------------- filter, positives
def test_filter_is_applied_before_training(retriever):
    kept = [d.id for d in corpus() if d.metadata["topic"] in ("svm", "retrieval")]
    for where in ({"topic": "svm"}, lambda m: m["topic"] in ("svm", "retrieval")):
        docs = retriever.invoke(QUERY, k=12, mode="hybrid", filter=where)
        ids = [
            d.id
            for d in corpus()
            if (where(d.metadata) if callable(where) else d.metadata["topic"] == "svm")
        ]
        hits = _core_hits(retriever, QUERY, 12, "hybrid", ids=ids)
        assert [d.id for d in docs] == [h.id for h in hits]
        assert [d.metadata["svm_score"] for d in docs] == [h.svm_score for h in hits]
        assert [d.metadata["hybrid_score"] for d in docs] == [h.hybrid_score for h in hits]
    # Trained on the subset, not filtered afterwards: the SVM scores differ from the full run.
    subset = {
        d.id: d
        for d in retriever.invoke(QUERY, k=12, filter=lambda m: m["topic"] in ("svm", "retrieval"))
    }
    full = {d.id: d for d in retriever.invoke(QUERY, k=12)}
    assert set(subset) == set(kept)
    assert any(
        abs(subset[i].metadata["svm_score"] - full[i].metadata["svm_score"]) > 1e-6 for i in kept
    )


def test_positives_and_negatives_by_id_document_and_vector(retriever, embedding):
    by_id = retriever.invoke(QUERY, k=12, positives=["t4"], negatives=["t9"])
    hits = _core_hits(retriever, QUERY, 12, "svm", positives=["t4"], negatives=["t9"])
    assert [d.id for d in by_id] == [h.id for h in hits]
    assert {"t4", "t9"}.isdisjoint(d.id for d in by_id)  # examples are never returned
    from_generator = retriever.invoke(QUERY, k=12, positives=(i for i in ["t4"]), negatives=["t9"])
    assert from_generator == by_id
    stored = retriever.get_by_ids(["t4"])
    assert retriever.invoke(QUERY, k=12, positives=stored) == retriever.invoke(
        QUERY, k=12, positives=["t4"]
    )
    outside = [Document("simmer the tomato sauce with garlic")]  # not stored: embedded
    vector = np.array([embedding.embed_query(outside[0].page_content)])
    assert retriever.invoke(QUERY, k=12, positives=outside) == retriever.invoke(
        QUERY, k=12, positives=vector
    )


def test_stored_and_unstored_documents_as_examples_together(retriever, embedding):
    """A stored Document among unstored ones stays a stored example: never returned."""
    stored = retriever.get_by_ids(["t4"])[0]
    outside = Document("simmer the tomato sauce with garlic")
    vector = embedding.embed_query(outside.page_content)
    for name in ("positives", "negatives"):
        docs = retriever.invoke(QUERY, k=12, **{name: [stored, outside]})
        assert "t4" not in {d.id for d in docs}
        assert docs == retriever.invoke(QUERY, k=12, **{name: ["t4", vector]})
    hits = _core_hits(retriever, QUERY, 12, "svm", positives=["t4", vector])
    docs = retriever.invoke(QUERY, k=12, positives=[outside, stored])
    assert [d.id for d in docs] == [h.id for h in hits]


async def test_stored_and_unstored_documents_as_examples_together_async(retriever):
    stored = retriever.get_by_ids(["t4"])[0]
    outside = Document("simmer the tomato sauce with garlic")
    got = await retriever.ainvoke(QUERY, k=12, positives=[stored, outside])
    assert got == retriever.invoke(QUERY, k=12, positives=[stored, outside])
    assert "t4" not in {d.id for d in got}


def test_examples_that_are_no_sequence_are_refused(retriever):
    with pytest.raises(TypeError, match="positives must be a sequence of stored ids or vectors"):
        retriever.invoke(QUERY, positives=5)
    with pytest.raises(ValueError, match="query is empty"):
        retriever.invoke("", positives=np.zeros((0, retriever.index.dim)))


def test_more_like_these_with_an_empty_query(retriever):
    docs = retriever.invoke("", positives=["t3", "t4"], k=3)
    assert {"t3", "t4"}.isdisjoint(d.id for d in docs)
    assert docs[0].metadata["topic"] == "cooking"
    with pytest.raises(ValueError, match="query is empty"):
        retriever.invoke("  ")


# --------------------------------------------------------------------------- batch and async
def test_batch_matches_invoke(retriever):
    queries = [QUERY, "rocket orbit", "garlic sauce"]
    batched = retriever.batch(queries, k=2, mode="hybrid")
    for got, query in zip(batched, queries, strict=True):
        assert_same_documents(got, retriever.invoke(query, k=2, mode="hybrid"))
    assert all(len(docs) == 2 for docs in batched)


async def test_ainvoke_and_abatch_match_invoke(retriever):
    queries = [QUERY, "rocket orbit", "garlic sauce"]
    expected = [retriever.invoke(q, k=3, mode="knn", filter={"topic": "space"}) for q in queries]
    assert (
        await retriever.ainvoke(queries[0], k=3, mode="knn", filter={"topic": "space"})
        == expected[0]
    )
    batched = await retriever.abatch(queries, k=3, mode="knn", filter={"topic": "space"})
    for got, want in zip(batched, expected, strict=True):
        assert_same_documents(got, want)


async def test_async_paths_use_the_async_embedding_methods():
    embedding = AsyncOnlyEmbeddings()
    retriever = await SVMRetriever.afrom_documents(corpus(), embedding, batch_size=5)
    assert embedding.async_calls == ["aembed_documents"] * 3
    await retriever.aadd_texts(["one more text"], ids=["extra"])
    docs = await retriever.ainvoke("one more text", k=1)
    assert docs[0].id == "extra"
    assert embedding.async_calls[-2:] == ["aembed_documents", "aembed_query"]


async def test_event_loop_stays_responsive_during_a_large_search():
    """A ticker task keeps running while a big search runs in ``ainvoke``."""
    embedding = BagOfWordsEmbeddings(dim=32)
    rng = np.random.default_rng(0)
    n = 40_000
    index = SVMIndex.from_embeddings(rng.random((n, 32)) + 0.01, ids=[f"d{i}" for i in range(n)])
    retriever = SVMRetriever(index=index, embedding=embedding, k=5)
    # The reference solver keeps this search slow enough to see (whatever the default solver).
    options = {"solver": "liblinear"}

    async def longest_pause(call) -> tuple[float, float]:
        stamps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                stamps.append(time.perf_counter())
                await asyncio.sleep(0.002)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        start = time.perf_counter()
        docs = await call()
        took = time.perf_counter() - start
        done.set()
        await task
        assert len(docs) == 5
        inside = [s for s in stamps if s >= start] + [start + took]
        gaps = np.diff([start, *inside])
        return float(gaps.max()), took

    async def blocking() -> list[Document]:
        return retriever.invoke("a query", **options)

    pause, took = await longest_pause(lambda: retriever.ainvoke("a query", **options))
    blocked_pause, blocked_took = await longest_pause(blocking)
    # The same search run on the loop freezes the ticker for the whole search ...
    assert blocked_pause >= 0.9 * blocked_took
    assert blocked_took > 0.05
    # ... and in ainvoke the ticker keeps ticking.
    assert pause < 0.5 * took


# --------------------------------------------------------------------------- bad input
class _ScriptedEmbeddings(Embeddings):
    """Returns whatever it is told to, to exercise the checks on model output."""

    def __init__(self, documents=None, query=None) -> None:
        self.documents = documents
        self.query = query

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.query(text)


@pytest.mark.parametrize(
    ("documents", "match"),
    [
        (
            lambda texts: [[1.0, 0.0]] * (len(texts) - 1),
            r"_ScriptedEmbeddings.embed_documents returned 1 vector\(s\) for 2 text\(s\)",
        ),
        (
            lambda texts: [[1.0, float("nan")]] * len(texts),
            r"_ScriptedEmbeddings.embed_documents returned NaN",
        ),
        (
            lambda texts: [[1.0, 0.0], [1.0, 0.0, 0.0]],
            r"_ScriptedEmbeddings.embed_documents returned vectors that are not numeric"
            r" and of one length \(lengths \[2, 3\]\)",
        ),
        (
            lambda texts: [[0.0, 0.0]] * len(texts),
            r"_ScriptedEmbeddings.embed_documents returned a zero vector",
        ),
    ],
)
def test_bad_document_embeddings_are_named(documents, match):
    with pytest.raises(ValueError, match=match):
        SVMRetriever.from_texts(["a", "b"], _ScriptedEmbeddings(documents=documents))


def test_wrong_dimension_from_a_later_batch_or_the_query():
    sizes = iter([2, 3])
    model = _ScriptedEmbeddings(documents=lambda texts: [[1.0] * next(sizes)] * len(texts))
    with pytest.raises(
        ValueError,
        match=r"embed_documents returned vectors of dimension 3, but the index has dimension 2",
    ):
        SVMRetriever.from_texts(["a", "b"], model, batch_size=1)
    model = _ScriptedEmbeddings(
        documents=lambda texts: [[1.0, 0.5]] * len(texts), query=lambda t: [1.0, 0.0, 0.0]
    )
    retriever = SVMRetriever.from_texts(["a", "b"], model)
    with pytest.raises(
        ValueError,
        match=r"_ScriptedEmbeddings.embed_query returned vectors of dimension 3,"
        r" but the index has dimension 2",
    ):
        retriever.invoke("q")
    model.query = lambda t: [math.inf, 0.0]
    with pytest.raises(ValueError, match="embed_query returned NaN or infinite"):
        retriever.invoke("q")
    model.query = lambda t: "not a vector"
    with pytest.raises(TypeError, match="embed_query must return a vector, got str"):
        retriever.invoke("q")


def test_empty_inputs_are_refused(embedding):
    with pytest.raises(ValueError, match="texts is empty"):
        SVMRetriever.from_texts([], embedding)
    with pytest.raises(ValueError, match="documents is empty"):
        SVMRetriever.from_documents([], embedding)
    with pytest.raises(TypeError, match="single str"):
        SVMRetriever.from_texts("one text", embedding)
    with pytest.raises(ValueError, match="zero vector"):  # a text with no words
        SVMRetriever.from_texts(["some words", "!!!"], embedding)
    assert embedding.document_calls == [["some words", "!!!"]]


def test_bad_k_and_mode_are_refused(retriever, embedding):
    embedding.document_calls.clear()
    for k in (0, -1):
        with pytest.raises(ValueError, match="k must be >= 1"):
            retriever.invoke(QUERY, k=k)
        with pytest.raises(ValueError, match="k must be >= 1"):
            SVMRetriever.from_documents(corpus(), embedding, k=k)
    with pytest.raises(TypeError, match="k must be an integer"):
        retriever.invoke(QUERY, k=2.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        retriever.invoke(QUERY, mode="bm25")
    with pytest.raises(ValueError, match="mode must be one of"):
        SVMRetriever.from_documents(corpus(), embedding, mode="bm25")
    assert embedding.document_calls == []  # refused before embedding anything


def test_unknown_options_and_parameters_are_refused(retriever, embedding):
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['top_k'\]"):
        retriever.invoke(QUERY, top_k=3)
    with pytest.raises(ValueError, match="C must be a finite number > 0"):
        retriever.invoke(QUERY, C=0)
    with pytest.raises(TypeError, match="unknown scoring parameter"):
        SVMRetriever.from_documents(corpus(), embedding, gamma=1.0)
    with pytest.raises(ValueError, match="metadatas has 1 entries"):
        SVMRetriever.from_texts(["a", "b"], embedding, metadatas=[{}])
    with pytest.raises(ValueError, match="ids must be unique"):
        SVMRetriever.from_texts(["a", "b"], embedding, ids=["same", "same"])
    with pytest.raises(TypeError, match="a mix"):
        retriever.invoke(QUERY, positives=[Document("x"), "t1"])


def test_score_threshold_set_in_the_factories_checked_and_saved(embedding, tmp_path):
    everything = SVMRetriever.from_documents(corpus(), embedding, k=12).invoke(QUERY)
    cut = sorted(d.metadata["relevance"] for d in everything)[6]
    retriever = SVMRetriever.from_documents(corpus(), embedding, k=12, score_threshold=cut)
    assert retriever.score_threshold == cut
    docs = retriever.invoke(QUERY)
    assert 0 < len(docs) < 12 and all(d.metadata["relevance"] >= cut for d in docs)
    assert len(retriever.invoke(QUERY, score_threshold=0.0)) == 12  # off for one call
    texts = [d.page_content for d in corpus()]
    assert SVMRetriever.from_texts(texts, embedding, score_threshold=0.25).score_threshold == 0.25
    with pytest.raises(ValueError, match="score_threshold"):
        SVMRetriever(index=retriever.index, embedding=embedding, score_threshold=2)
    with pytest.raises(ValueError, match="score_threshold"):
        SVMRetriever.from_documents(corpus(), embedding, score_threshold=-0.1)
    with pytest.raises(TypeError, match="score_threshold"):  # pydantic would make it 1.0
        SVMRetriever(index=retriever.index, embedding=embedding, score_threshold=True)
    with pytest.raises(TypeError, match="unknown scoring parameter"):
        SVMRetriever.from_documents(corpus(), embedding, threshold=0.5)
    retriever.save(tmp_path / "index")
    loaded = SVMRetriever.load(tmp_path / "index", embedding)
    assert loaded.score_threshold == cut
    assert loaded.invoke(QUERY) == docs
    assert (
        SVMRetriever.load(tmp_path / "index", embedding, score_threshold=0.1).score_threshold == 0.1
    )
    with pytest.raises(TypeError, match="score_threshold"):
        SVMRetriever.load(tmp_path / "index", embedding, score_threshold=True)


def test_score_threshold_on_calibrated_relevance(retriever):
    docs = retriever.invoke(QUERY, k=12, score_threshold=0.0)
    assert len(docs) == 12 and all(0.0 <= d.metadata["relevance"] <= 1.0 for d in docs)
    cut = sorted(d.metadata["relevance"] for d in docs)[6]
    kept = retriever.invoke(QUERY, k=12, score_threshold=cut)
    assert kept and all(d.metadata["relevance"] >= cut for d in kept) and len(kept) < 12
    assert retriever.invoke(QUERY, score_threshold=1.0) == []
    with pytest.raises(ValueError, match="score_threshold"):
        retriever.invoke(QUERY, score_threshold=1.5)
