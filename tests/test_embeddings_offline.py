"""The offline TF-IDF/SVD embedder: fitting, determinism, state round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from svm_retrievers import SVMIndex
from svm_retrievers.embeddings import Embedder, OfflineEmbedder, embedder_from_state

CORPUS = [
    "The cat sat on the mat and purred.",
    "Dogs bark at the mailman every morning.",
    "A kitten is a young cat; cats purr when content.",
    "Puppies are young dogs and they bark a lot.",
    "Stock markets fell sharply as interest rates rose.",
    "Investors sold shares when the central bank raised rates.",
    "Python lists are mutable sequences; tuples are immutable.",
    "A dictionary maps hashable keys to values in Python.",
]


@pytest.fixture(scope="module")
def fitted() -> OfflineEmbedder:
    return OfflineEmbedder(dim=4).fit(CORPUS)


def test_vectors_are_unit_float32_of_fitted_dim(fitted: OfflineEmbedder) -> None:
    vectors = fitted.embed(CORPUS)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(CORPUS), 4) == (len(CORPUS), fitted.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_lists_of_python_floats(fitted: OfflineEmbedder) -> None:
    docs = fitted.embed_documents(CORPUS[:2])
    query = fitted.embed_query("cat")
    assert isinstance(docs, list) and all(isinstance(x, float) for x in docs[0])
    assert isinstance(query, list) and len(query) == 4 and isinstance(query[0], float)
    assert isinstance(fitted, Embedder)


def test_topics_separate(fitted: OfflineEmbedder) -> None:
    """A query about cats is closest to a cat document, one about rates to a finance one."""
    docs = fitted.embed(CORPUS)
    for query, expected in [("kitten cat purr", {0, 2}), ("interest rates shares", {4, 5})]:
        best = int(np.argmax(docs @ np.asarray(fitted.embed_query(query))))
        assert best in expected, (query, best)


def test_dimension_capped_by_corpus() -> None:
    small = OfflineEmbedder(dim=256).fit(CORPUS[:3])
    assert small.dim == 3
    assert small.requested_dim == 256
    one = OfflineEmbedder(dim=8).fit(["only one document here"])
    assert one.dim == 1
    assert one.embed(["document"]).shape == (1, 1)


def test_fit_is_deterministic() -> None:
    a = OfflineEmbedder(dim=5).fit(CORPUS).embed(CORPUS)
    b = OfflineEmbedder(dim=5).fit(CORPUS).embed(CORPUS)
    assert np.array_equal(a, b)


def test_unknown_words_give_zero_vector(fitted: OfflineEmbedder) -> None:
    assert not np.any(fitted.embed(["zzzz qqqq"]))


def test_state_round_trip_is_exact(fitted: OfflineEmbedder) -> None:
    config, arrays = fitted.to_state()
    assert config["kind"] == "offline-tfidf-svd"
    json.dumps(config)  # the config is JSON-ready
    assert set(arrays) == {"idf", "components"}
    assert all(a.dtype == np.float32 for a in arrays.values())
    # through JSON and float32 arrays, as persistence stores them
    rebuilt = embedder_from_state(
        json.loads(json.dumps(config)), {k: v.astype(np.float32) for k, v in arrays.items()}
    )
    assert isinstance(rebuilt, OfflineEmbedder)
    assert rebuilt.dim == fitted.dim
    texts = [*CORPUS, "cats and python dictionaries", "unseen words only zzz"]
    assert np.array_equal(rebuilt.embed(texts), fitted.embed(texts))


def test_state_arrays_are_copies(fitted: OfflineEmbedder) -> None:
    _, arrays = fitted.to_state()
    before = fitted.embed(["cat"])
    arrays["components"][:] = 0
    assert np.array_equal(fitted.embed(["cat"]), before)


def test_bigrams_round_trip() -> None:
    emb = OfflineEmbedder(dim=3, ngram_range=(1, 2), stop_words=None).fit(CORPUS)
    config, arrays = emb.to_state()
    assert "young cat" in config["vocabulary"]
    assert np.array_equal(embedder_from_state(config, arrays).embed(CORPUS), emb.embed(CORPUS))


def test_works_as_index_embedder(fitted: OfflineEmbedder) -> None:
    index = SVMIndex.from_embeddings(fitted.embed(CORPUS), ids=[str(i) for i in range(len(CORPUS))])
    hits = index.search(fitted.embed_query("young dogs bark"), k=2, mode="svm")
    assert {h.id for h in hits} <= {"1", "3", "0", "2"}
    assert hits[0].id in {"1", "3"}


def test_unfitted_use_is_a_clear_error() -> None:
    emb = OfflineEmbedder()
    with pytest.raises(NotFittedError, match="not fitted: call fit"):
        emb.embed_query("x")
    with pytest.raises(NotFittedError, match="not fitted"):
        emb.to_state()
    assert emb.dim is None and not emb.is_fitted


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0}, "dim must be an integer >= 1"),
        ({"dim": 2.5}, "dim must be"),
        ({"ngram_range": (2, 1)}, "min_n <= max_n"),
        ({"stop_words": "french"}, "stop_words"),
        ({"max_features": 0}, "max_features"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OfflineEmbedder(**kwargs)


def test_bad_fit_input() -> None:
    with pytest.raises(ValueError, match="texts is empty"):
        OfflineEmbedder().fit([])
    with pytest.raises(TypeError, match="single str"):
        OfflineEmbedder().fit("a text")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        OfflineEmbedder().fit(["ok", 3])
    with pytest.raises(ValueError, match="stop words"):
        OfflineEmbedder().fit(["the and of", "it is"])


def test_from_state_rejects_bad_state(fitted: OfflineEmbedder) -> None:
    config, arrays = fitted.to_state()
    with pytest.raises(ValueError, match="unknown embedder kind"):
        embedder_from_state({**config, "kind": "nope"}, arrays)
    with pytest.raises(ValueError, match="version"):
        embedder_from_state({**config, "version": 99}, arrays)
    with pytest.raises(ValueError, match="lacks array"):
        embedder_from_state(config, {"idf": arrays["idf"]})
    with pytest.raises(ValueError, match="'components' has shape"):
        embedder_from_state(config, {**arrays, "components": arrays["components"][:, :-1]})
    with pytest.raises(ValueError, match="'idf' has shape"):
        embedder_from_state(config, {**arrays, "idf": arrays["idf"][:-1]})
    with pytest.raises(ValueError, match="duplicate"):
        embedder_from_state({**config, "vocabulary": ["a"] * len(config["vocabulary"])}, arrays)
    bad = arrays["idf"].copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        embedder_from_state(config, {**arrays, "idf": bad})
    with pytest.raises(TypeError, match="config must be a dict"):
        embedder_from_state([("kind", "offline-tfidf-svd")], arrays)  # type: ignore[arg-type]
