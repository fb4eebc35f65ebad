"""Exact exemplar SVM from candidates: the weighted solver and the in-memory source."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from svm_retrievers import SVMIndex
from svm_retrievers.solvers.weighted import solve_weighted
from svm_retrievers.sources import CandidateSearcher, InMemorySource, class_weights

N, D = 2000, 24


def clustered(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, d))
    return (centers[rng.integers(0, 20, n)] + 0.6 * rng.normal(size=(n, d))).astype(np.float32)


VECTORS = clustered(N, D)
IDS = [f"doc{i}" for i in range(N)]
METAS = [{"group": i % 4, "lang": "en" if i % 2 else "fr"} for i in range(N)]
TEXTS = [f"text {i}" for i in range(N)]
QUERIES = [VECTORS[i] + 0.3 * np.random.default_rng(i).normal(size=D) for i in (3, 500, 1700)]


@pytest.fixture(scope="module")
def reference() -> SVMIndex:
    return SVMIndex.from_embeddings(
        VECTORS, IDS, texts=TEXTS, metadatas=METAS, solver="liblinear", tol=1e-8
    )


def assert_same_top(hits, ref_hits, atol=1e-4):
    assert [h.id for h in hits] == [h.id for h in ref_hits]
    for h, r in zip(hits, ref_hits, strict=True):
        assert h.svm_score == pytest.approx(r.svm_score, abs=atol)
        assert h.knn_score == pytest.approx(r.knn_score, abs=1e-5)
        assert type(h.svm_score) is float and type(h.hybrid_score) is float


# ---------------------------------------------------------------------- the solver
def test_weighted_solver_matches_linearsvc_with_sample_weight():
    rng = np.random.default_rng(1)
    x = clustered(400, 12, seed=1).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[0] + 0.2 * rng.normal(size=12)
    q /= np.linalg.norm(q)
    c_pos, c_neg = 9.0, 0.35
    sol = solve_weighted(q[None], x, c_pos=c_pos, c_neg=c_neg, C=0.1)
    clf = LinearSVC(C=0.1, tol=1e-12, max_iter=100000)
    clf.fit(np.vstack([q, x]), np.r_[1, np.zeros(400)], sample_weight=np.r_[c_pos, [c_neg] * 400])
    assert sol.converged
    np.testing.assert_allclose(sol.coef, clf.coef_[0], atol=1e-6)
    assert sol.intercept == pytest.approx(clf.intercept_[0], abs=1e-6)
    np.testing.assert_allclose(sol.neg_scores, clf.decision_function(x), atol=1e-5)


def test_class_weights_are_balanced_over_the_full_problem():
    assert class_weights(999) == (500.0, 1000 / 1998)


def test_subset_balanced_weights_differ_from_full_weights(reference):
    """The full problem's weights matter: 'balanced' on the candidates alone differs."""
    q = QUERIES[0] / np.linalg.norm(QUERIES[0])
    near = np.argsort(-(reference.vectors @ q))[:200]
    c_pos, c_neg = class_weights(N)
    full_w = solve_weighted(q[None], reference.vectors[near], c_pos=c_pos, c_neg=c_neg, C=0.1)
    sub_w = solve_weighted(q[None], reference.vectors[near], c_pos=100.5, c_neg=201 / 400, C=0.1)
    assert not np.allclose(full_w.neg_scores, sub_w.neg_scores, atol=1e-2)


# ---------------------------------------------------------------------- in memory
@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_in_memory_source_reproduces_the_full_svm(reference, mode):
    searcher = CandidateSearcher(InMemorySource(reference), m=100, verify_m=100)
    for q in QUERIES:
        hits = searcher.search(q, k=10, mode="svm")
        assert searcher.last is not None and searcher.last.verified
        assert_same_top(hits, reference.search(q, k=10, mode="svm"))
        if mode != "svm":  # the hybrid is fused over the working set, not all N: only check order
            mode_hits = searcher.search(q, k=10, mode=mode)
            assert [h.score for h in mode_hits] == sorted(
                (h.score for h in mode_hits), reverse=True
            )
            if mode == "knn":
                assert_same_top(mode_hits, reference.search(q, k=10, mode="knn"))


def test_working_set_grows_until_certified(reference):
    searcher = CandidateSearcher(InMemorySource(reference), m=20, verify_m=20)
    searcher.search(QUERIES[1], k=5)
    last = searcher.last
    assert last is not None and last.verified and len(last.m_history) > 1
    assert last.m_history == sorted(last.m_history) and last.m_history[-1] > 20


def test_margin_check_doubles_m_without_verification(reference):
    searcher = CandidateSearcher(InMemorySource(reference), m=16, verify=False, slack=0.05)
    searcher.search(QUERIES[2], k=5)
    last = searcher.last
    assert last is not None and not last.verified
    assert last.m_history[:3] == [16, 32, 64]
    tail = last.svm[last.m - 20 : last.m]
    assert tail.max() <= -1.05 or last.m_history[-1] == N


def test_a_batch_rounds_fetches_are_one_fetch_of_their_union():
    """The documents each query's check finds are fetched in one request for the batch; each
    query still gets its own documents, in its order, unknown ids skipped, its own metadata."""
    from svm_retrievers.sources.exact import _fetch_many

    source = InMemorySource(SVMIndex.from_embeddings(VECTORS, IDS, texts=TEXTS, metadatas=METAS))
    calls: list[list[str]] = []
    fetch = source.fetch

    def counting(ids):
        calls.append(list(ids))
        return fetch(ids)

    source.fetch = counting  # type: ignore[method-assign]
    lists = [[IDS[3], "nope", IDS[1]], [IDS[1], IDS[7]], []]
    got = _fetch_many(source, lists)
    assert len(calls) == 1 and sorted(calls[0]) == sorted([IDS[3], "nope", IDS[1], IDS[7]])
    for one, ids in zip(got, lists, strict=True):
        want = fetch(ids)
        assert one.ids == want.ids
        np.testing.assert_array_equal(one.vectors, want.vectors)
        assert one.texts == want.texts and one.metadatas == want.metadatas
        assert np.isnan(one.knn).all() and one.knn.shape == (len(want),)
    got[0].metadatas[1]["edited"] = True  # IDS[1], also in the second list
    assert "edited" not in got[1].metadatas[0]
