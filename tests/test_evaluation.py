"""Metrics, loader, significance test and evaluate() of svm_retrievers.evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from svm_retrievers.evaluation import (
    METRICS,
    evaluate,
    format_table,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    paired_permutation_test,
    recall_at_k,
)

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"

GAINS = {"a": 0, "b": 3, "c": 1, "d": 2}  # a judged not relevant, d relevant but unranked


# ---------------------------------------------------------------------- metrics
def test_ndcg_uses_graded_gains_as_given():
    got = ndcg_at_k(["a", "b", "c"], GAINS, k=3)
    dcg = 0 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert got == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["b", "d", "c"], GAINS, k=3) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], GAINS, k=10) == 0.0
    assert ndcg_at_k(["b"], {"b": 0}, k=10) == 0.0  # no relevant document at all


def test_ndcg_cuts_at_k():
    assert ndcg_at_k(["a", "b"], GAINS, k=1) == 0.0
    assert ndcg_at_k(["b", "a"], GAINS, k=1) == pytest.approx(1.0)


def test_recall_counts_gain_at_least_one():
    assert recall_at_k(["a", "b"], GAINS, k=100) == pytest.approx(1 / 3)
    assert recall_at_k(["b", "c", "d"], GAINS, k=2) == pytest.approx(2 / 3)
    assert recall_at_k(["a"], {"a": 0}, k=100) == 0.0


def test_mrr_is_first_relevant_within_k():
    assert mrr_at_k(["a", "x", "c", "b"], GAINS, k=10) == pytest.approx(1 / 3)
    assert mrr_at_k(["a", "x", "c"], GAINS, k=2) == 0.0
    assert mrr_at_k(["a"], GAINS, k=10) == 0.0  # gain 0 is not relevant


# ---------------------------------------------------------------------- significance
def test_permutation_identical_is_one():
    a = np.linspace(0, 1, 30)
    assert paired_permutation_test(a, a) == 1.0


def test_permutation_detects_consistent_difference():
    rng = np.random.default_rng(1)
    a = rng.uniform(size=40)
    assert paired_permutation_test(a + 0.1, a, n_resamples=2000) < 0.01


def test_permutation_noise_is_not_significant_and_seeded():
    rng = np.random.default_rng(2)
    a = rng.uniform(size=40)
    noise = rng.normal(scale=0.05, size=40)
    b = a + noise - noise.mean() + 1e-9  # no real mean difference
    p1 = paired_permutation_test(a, b, n_resamples=2000, seed=3)
    assert p1 > 0.5
    assert paired_permutation_test(a, b, n_resamples=2000, seed=3) == p1


def test_permutation_bad_shapes():
    with pytest.raises(ValueError, match="shapes"):
        paired_permutation_test([], [])


# ---------------------------------------------------------------------- loader
def _write_beir(root: Path, n_docs: int = 30, dim: int = 12, seed: int = 0) -> Path:
    """A tiny BEIR dir: query i is a noisy copy of doc 3*i (gain 2) with doc 3*i+1 at gain 1."""
    rng = np.random.default_rng(seed)
    docs = rng.normal(size=(n_docs, dim))
    n_q = n_docs // 3
    queries = docs[::3][:n_q] + 0.05 * rng.normal(size=(n_q, dim))
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as fh:
        for i in range(n_docs):
            title = "" if i % 2 else f"title {i}"
            fh.write(json.dumps({"_id": f"d{i}", "title": title, "text": f"text {i}"}) + "\n")
    with (root / "queries.jsonl").open("w") as fh:
        for i in range(n_q):
            fh.write(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n")
        fh.write(json.dumps({"_id": "q_unjudged", "text": "nothing relevant"}) + "\n")
    with (root / "qrels" / "test.tsv").open("w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for i in range(n_q):
            fh.write(f"q{i}\td{3 * i}\t2\nq{i}\td{3 * i + 1}\t1\nq{i}\td{3 * i + 2}\t0\n")
        fh.write("q_unjudged\td0\t0\n")
    emb = root / "embeddings" / "toy"
    emb.mkdir(parents=True)
    np.save(emb / "corpus.npy", docs.astype(np.float32))
    np.save(emb / "queries.npy", np.vstack([queries, rng.normal(size=(1, dim))]).astype(np.float32))
    return root


def test_load_beir(tmp_path):
    root = _write_beir(tmp_path / "toy")
    data = load_beir(root)
    assert data.corpus_ids[:2] == ["d0", "d1"]
    assert data.corpus_texts[0] == "title 0 text 0"
    assert data.corpus_texts[1] == "text 1"  # empty title is dropped
    assert data.query_ids[-1] == "q_unjudged"
    assert data.qrels["q0"] == {"d0": 2, "d1": 1, "d2": 0}


def test_load_beir_refuses_duplicate_query_ids(tmp_path):
    root = _write_beir(tmp_path / "toy")
    with (root / "queries.jsonl").open("a") as fh:
        fh.write(json.dumps({"_id": "q0", "text": "the same id again"}) + "\n")
    with pytest.raises(ValueError, match=r"queries\.jsonl: duplicate query ids \['q0'\]"):
        load_beir(root)


def test_load_beir_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"qrels/test\.tsv"):
        (tmp_path / "corpus.jsonl").write_text("")
        (tmp_path / "queries.jsonl").write_text("")
        load_beir(tmp_path)


# ---------------------------------------------------------------------- evaluate
def test_evaluate_toy_collection(tmp_path):
    root = _write_beir(tmp_path / "toy")
    res = evaluate(
        root, embeddings=root / "embeddings" / "toy", hybrid_alphas=[0.85], n_resamples=500
    )
    json.dumps(res)  # JSON-ready
    assert res["n_docs"] == 30
    assert res["n_queries"] == 10  # the query without a relevant document is dropped
    assert list(res["modes"]) == ["knn", "svm", "hybrid", "hybrid(alpha=0.85)"]
    knn = res["modes"]["knn"]
    # each query is a near-copy of its gain-2 document: kNN ranks it first
    assert knn["mrr@10"] == pytest.approx(1.0)
    assert knn["recall@100"] == pytest.approx(1.0)
    assert knn["delta"]["ndcg@10"] == 0.0 and knn["p_value"]["ndcg@10"] == 1.0
    for entry in res["modes"].values():
        assert set(METRICS) <= set(entry)
        assert all(0.0 <= entry[m] <= 1.0 for m in METRICS)
        assert all(0.0 < p <= 1.0 for p in entry["p_value"].values())
    table = format_table(res)
    assert table.count("\n") == 1 + 4
    assert "| toy | toy | hybrid(alpha=0.85) |" in table


class _LetterEmbedder:
    """A tiny real embedder: letter counts of the text (plus one so no vector is zero)."""

    def __init__(self) -> None:
        self.fitted_on = 0

    def fit(self, texts):
        self.fitted_on = len(texts)
        return self

    def _vec(self, text):
        v = np.ones(26)
        for ch in text.lower():
            if "a" <= ch <= "z":
                v[ord(ch) - 97] += 1
        return v.tolist()

    def embed_documents(self, texts):
        return [self._vec(t) for t in texts]

    def embed_query(self, text):
        return self._vec(text)


def test_evaluate_with_embedder(tmp_path):
    root = _write_beir(tmp_path / "toy")
    embedder = _LetterEmbedder()
    res = evaluate(root, embedder=embedder, modes=("knn",), n_resamples=100)
    assert embedder.fitted_on == 30
    assert res["embeddings"] == "_LetterEmbedder"
    assert res["dim"] == 26
    assert list(res["modes"]) == ["knn"]


def test_evaluate_zero_vectors(tmp_path):
    root = _write_beir(tmp_path / "toy")
    emb = root / "embeddings" / "toy"
    docs = np.load(emb / "corpus.npy")
    queries = np.load(emb / "queries.npy")
    docs[5] = 0.0  # a document the embedder could not embed
    queries[1] = 0.0  # and a query
    np.save(emb / "corpus.npy", docs)
    np.save(emb / "queries.npy", queries)
    res = evaluate(root, embeddings=emb, modes=("knn",), n_resamples=100)
    assert res["n_docs"] == 30 and res["n_docs_zero_vector"] == 1
    assert res["n_queries_zero_vector"] == 1
    per = evaluate(root, embeddings=emb, modes=("knn",), n_resamples=100, per_query=True)
    assert per["modes"]["knn"]["per_query"]["ndcg@10"][1] == 0.0
    assert per["modes"]["knn"]["mrr@10"] == pytest.approx(0.9)


def test_evaluate_bad_input(tmp_path):
    root = _write_beir(tmp_path / "toy")
    emb = root / "embeddings" / "toy"
    with pytest.raises(ValueError, match="embeddings"):
        evaluate(root)
    with pytest.raises(ValueError, match="unknown mode"):
        evaluate(root, embeddings=emb, modes=("nope",))
    with pytest.raises(TypeError, match="embed_documents"):
        evaluate(root, embedder=object())
    np.save(emb / "queries.npy", np.zeros((3, 12), dtype=np.float32))
    with pytest.raises(ValueError, match=r"queries\.npy"):
        evaluate(root, embeddings=emb)
    corpus = np.load(emb / "corpus.npy")
    corpus[4, 2] = np.nan  # was dropped as a "zero vector", lowering the metrics silently
    np.save(emb / "corpus.npy", corpus)
    with pytest.raises(
        ValueError, match=r"corpus\.npy holds NaN or inf in 1 row\(s\), the first at row 4"
    ):
        evaluate(root, embeddings=emb)
    np.save(emb / "corpus.npy", np.full((30, 12), "x"))
    with pytest.raises(ValueError, match=r"corpus\.npy holds <U1 values"):
        evaluate(root, embeddings=emb)


@pytest.mark.skipif(not (DATA / "cranfield").is_dir(), reason="shared data absent")
def test_evaluate_cranfield_minilm_knn():
    coll = DATA / "cranfield"
    res = evaluate(
        coll,
        embeddings=coll / "embeddings" / "minilm",
        modes=("knn",),
        params={"max_negatives": 64},  # kNN does not depend on the SVM; keep the solves cheap
        n_resamples=100,
    )
    assert res["n_docs"] == 1400 and res["n_queries"] == 225
    assert res["modes"]["knn"]["ndcg@10"] == pytest.approx(0.3817, abs=5e-4)
