"""Calibrated relevance (Hit.relevance, Scores.relevance) and score_threshold in search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from svm_retrievers import SVMIndex
from svm_retrievers.calibration import RELEVANCE_THRESHOLD
from svm_retrievers.evaluation import load_beir

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
FAST = {"max_negatives": 128}  # relevance does not depend on the SVM; keep the solves cheap


@pytest.fixture(scope="module")
def index() -> SVMIndex:
    rng = np.random.default_rng(0)
    return SVMIndex.from_embeddings(rng.normal(size=(60, 16)), ids=[f"d{i}" for i in range(60)])


def test_relevance_on_every_hit_and_in_scores(index):
    q = index.vectors[5].astype(np.float64) + 0.1
    for mode in ("knn", "svm", "hybrid"):
        hits = index.search(q, k=60, mode=mode)
        assert all(isinstance(h.relevance, float) and 0.0 <= h.relevance <= 1.0 for h in hits)
    scores = index.get_scores(q)
    assert scores.relevance is not None and scores.relevance.shape == scores.knn.shape
    by_id = dict(zip(scores.ids, scores.relevance, strict=True))
    assert all(h.relevance == pytest.approx(by_id[h.id]) for h in hits)
    # relevance is an increasing function of the cosine (clipped at 0)
    order = np.argsort(-scores.knn)
    rel = scores.relevance[order]
    assert np.all(np.diff(rel) <= 1e-12)


def test_stored_vector_has_relevance_one(index):
    hit = index.search(index.vectors[7], k=1, mode="knn")[0]
    assert hit.id == "d7" and hit.relevance == pytest.approx(1.0)


def test_no_threshold_changes_nothing(index):
    q = np.random.default_rng(1).normal(size=16)
    plain = index.search(q, k=10, mode="svm")
    assert index.search(q, k=10, mode="svm", score_threshold=None) == plain
    assert [h.id for h in index.search(q, k=10, mode="svm", score_threshold=0.0)] == [
        h.id for h in plain
    ]


@pytest.mark.parametrize("mode", ["knn", "svm", "hybrid"])
def test_threshold_filters_then_takes_top_k(index, mode):
    q = index.vectors[3].astype(np.float64) + 0.3 * index.vectors[4]
    scores = index.get_scores(q)
    t = float(np.sort(scores.relevance)[-4])  # exactly four documents reach it
    hits = index.search(q, k=10, mode=mode, score_threshold=t)
    assert len(hits) == 4
    assert {h.id for h in hits} == {
        i for i, r in zip(scores.ids, scores.relevance, strict=True) if r >= t
    }
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(index.search(q, k=2, mode=mode, score_threshold=t)) == 2


def test_threshold_in_search_batch_and_subsets(index):
    qs = np.stack([index.vectors[1], np.random.default_rng(2).normal(size=16)])
    out = index.search_batch(qs, k=5, mode="hybrid", score_threshold=0.9)
    assert [h.id for h in out[0]] == ["d1"]
    assert out[1] == []
    # calibrated against the whole corpus: a candidate subset does not change a document's relevance
    full = {h.id: h.relevance for h in index.search(qs[0], k=60)}
    sub = index.search(qs[0], k=5, ids=["d1", "d2", "d3"])
    assert all(h.relevance == pytest.approx(full[h.id]) for h in sub)


@pytest.mark.parametrize("bad", [1.5, -0.1])
def test_threshold_out_of_range(index, bad):
    with pytest.raises(ValueError, match="score_threshold"):
        index.search(index.vectors[0], score_threshold=bad)


def test_threshold_wrong_type(index):
    with pytest.raises(TypeError, match="score_threshold"):
        index.search(index.vectors[0], score_threshold="high")


# ---------------------------------------------------------------------- shared data
COMBOS = [(c, e) for c in ("cranfield", "scifact") for e in ("minilm", "e5small")]
OTHER = {"cranfield": "scifact", "scifact": "cranfield"}


def _have(coll: str, emb: str) -> bool:
    return (DATA / coll / "embeddings" / emb / "corpus.npy").is_file() and (
        DATA / OTHER[coll] / "embeddings" / emb / "queries.npy"
    ).is_file()


@pytest.mark.parametrize(("coll", "emb"), COMBOS)
def test_off_topic_queries_return_nothing(coll, emb):
    if not _have(coll, emb):
        pytest.skip("shared data absent")
    docs = np.load(DATA / coll / "embeddings" / emb / "corpus.npy")
    index = SVMIndex.from_embeddings(docs, **FAST)
    rng = np.random.default_rng(0)
    random_queries = rng.normal(size=(10, docs.shape[1]))
    for hits in index.search_batch(random_queries, k=10, score_threshold=RELEVANCE_THRESHOLD):
        assert hits == []
    other = np.load(DATA / OTHER[coll] / "embeddings" / emb / "queries.npy")
    picked = other[rng.choice(len(other), size=20, replace=False)]
    results = index.search_batch(picked, k=10, mode="knn", score_threshold=RELEVANCE_THRESHOLD)
    answered = sum(bool(hits) for hits in results)
    assert answered <= 2, f"{answered}/20 off-topic queries from {OTHER[coll]} got hits"


@pytest.mark.parametrize(("coll", "emb"), COMBOS)
def test_on_topic_queries_keep_relevant_documents(coll, emb):
    if not _have(coll, emb):
        pytest.skip("shared data absent")
    data = load_beir(DATA / coll)
    docs = np.load(DATA / coll / "embeddings" / emb / "corpus.npy")
    queries = np.load(DATA / coll / "embeddings" / emb / "queries.npy")
    index = SVMIndex.from_embeddings(docs, ids=data.corpus_ids, **FAST)
    picked = np.random.default_rng(0).choice(len(queries), size=30, replace=False)
    results = index.search_batch(
        queries[picked], k=10, mode="knn", score_threshold=RELEVANCE_THRESHOLD
    )
    kept = 0
    for i, hits in zip(picked, results, strict=True):
        gains = data.qrels[data.query_ids[i]]
        kept += any(gains.get(h.id, 0) >= 1 for h in hits)
    # measured on all queries: 36-77% keep a relevant document (docs/quality.md)
    assert kept >= 8, f"only {kept}/30 on-topic queries kept a relevant document"
