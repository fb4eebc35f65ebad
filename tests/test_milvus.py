"""The exact exemplar SVM over candidate sources: in memory, and a real Milvus Lite database."""

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


# ---------------------------------------------------------------------- Milvus Lite
pymilvus = pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from svm_retrievers.sources.milvus import MilvusSource, MilvusSVMSearcher  # noqa: E402


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "svm.db")


@pytest.fixture(scope="module")
def searcher(milvus_uri) -> MilvusSVMSearcher:
    s = MilvusSVMSearcher(milvus_uri, "docs", m=200, verify_m=200)
    s.add(VECTORS, IDS, texts=TEXTS, metadatas=METAS)
    return s


def test_milvus_top10_matches_the_in_memory_exact_svm(searcher, reference):
    assert len(searcher) == N
    for q in QUERIES:
        hits = searcher.search(q, k=10, mode="svm")
        assert searcher.last.exact
        assert_same_top(hits, reference.search(q, k=10, mode="svm"))
        assert hits[0].text == reference.get(hits[0].id)[0]
        assert hits[0].metadata == reference.get(hits[0].id)[1]
        knn = searcher.search(q, k=10, mode="knn")
        assert_same_top(knn, reference.search(q, k=10, mode="knn"))


def test_milvus_scores_only_search_and_fetch_agree_with_candidates(searcher):
    source = searcher.source
    full = source.candidates(QUERIES[0], 30, where={"lang": "en"})
    ids, cosines = source.neighbours(QUERIES[0], 30, where={"lang": "en"})
    assert ids == full.ids
    np.testing.assert_allclose(cosines, full.knn, atol=1e-5)
    fetched = source.fetch(ids[::-1])
    assert fetched.ids == ids[::-1] and fetched.metadatas == full.metadatas[::-1]
    np.testing.assert_allclose(fetched.vectors, full.vectors[::-1], atol=1e-6)


def test_milvus_filters_are_pushed_down(searcher, reference):
    q = QUERIES[0]
    for where in ({"group": 1}, "group == 1"):
        hits = searcher.search(q, k=8, where=where)
        assert all(h.metadata["group"] == 1 for h in hits)
        assert searcher.last.n_total == N // 4
        assert_same_top(hits, reference.search(q, k=8, where={"group": 1}))
    hits = searcher.search(q, k=8, where={"group": [1, 2], "lang": "en"})
    assert {h.metadata["group"] for h in hits} <= {1, 2}
    assert all(h.metadata["lang"] == "en" for h in hits)
    assert searcher.source.size({"group": [1, 2], "lang": "en"}) == N // 4
    with pytest.raises(TypeError, match="where"):
        searcher.search(q, k=3, where=lambda meta: True)


def test_milvus_add_then_delete(milvus_uri):
    s = MilvusSVMSearcher(milvus_uri, "writes", m=50)
    s.add(VECTORS[:300], IDS[:300], texts=TEXTS[:300], metadatas=METAS[:300])
    new = np.random.default_rng(7).normal(size=D)
    assert s.add([new], ["fresh"], texts=["new doc"], metadatas=[{"group": 9}]) == ["fresh"]
    assert len(s) == 301
    top = s.search(new, k=3, mode="knn")
    assert top[0].id == "fresh" and top[0].knn_score == pytest.approx(1.0, abs=1e-5)
    assert top[0].text == "new doc" and top[0].metadata == {"group": 9}
    assert [h.id for h in s.search(new, k=5, where={"group": 9})] == ["fresh"]
    s.delete(["fresh", "doc0"])
    assert len(s) == 299
    ids = [h.id for h in s.search(new, k=299, mode="knn")]
    assert "fresh" not in ids and "doc0" not in ids and len(ids) == 299


def test_milvus_reads_an_existing_collection_with_another_schema(milvus_uri, reference):
    """A llama-index-vector-stores-milvus style collection: int ids elsewhere, `embedding`."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(milvus_uri)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=D)
    schema.add_field("body", DataType.VARCHAR, max_length=100)
    index_params = client.prepare_index_params()
    index_params.add_index("embedding", index_type="FLAT", metric_type="IP")
    client.create_collection("other", schema=schema, index_params=index_params)
    unit = reference.vectors
    client.insert(
        "other",
        [{"pk": i, "embedding": unit[i], "body": TEXTS[i], "group": i % 4} for i in range(N)],
    )
    s = MilvusSVMSearcher(
        client=client, collection_name="other", vector_field="embedding", text_field="body"
    )
    assert s.source.id_field == "pk" and s.source.metric == "IP"
    hits = s.search(QUERIES[1], k=10)
    ref = reference.search(QUERIES[1], k=10)
    assert [h.id for h in hits] == [r.id.removeprefix("doc") for r in ref]
    assert hits[0].text == ref[0].text and hits[0].metadata == {"group": ref[0].metadata["group"]}
    s.delete([hits[0].id])
    assert len(s) == N - 1 and s.search(QUERIES[1], k=1)[0].id == hits[1].id


def test_milvus_langchain_milvus_schema(milvus_uri, reference):
    """langchain-milvus defaults: `pk` VARCHAR, `text`, `vector`; metadata in a JSON field; L2."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(milvus_uri)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("text", DataType.VARCHAR, max_length=100)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=D)
    schema.add_field("metadata", DataType.JSON)
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection("lc", schema=schema, index_params=index_params)
    s = MilvusSVMSearcher(client=client, collection_name="lc", metadata_field="metadata")
    s.add(reference.vectors, IDS, texts=TEXTS, metadatas=METAS)
    assert s.source.id_field == "pk" and s.source.metric == "L2"
    hits = s.search(QUERIES[2], k=10, where={"group": 3})
    assert_same_top(hits, reference.search(QUERIES[2], k=10, where={"group": 3}))
    assert hits[0].metadata == reference.get(hits[0].id)[1]


def test_milvus_bad_input(milvus_uri, searcher):
    with pytest.raises(ValueError, match="vector_field"):
        MilvusSource(milvus_uri, "docs", vector_field="nope")
    with pytest.raises(ValueError, match="dimension"):
        searcher.search(np.ones(D + 1), k=3)
    with pytest.raises(ValueError, match="metric"):
        MilvusSource(milvus_uri, "fresh_one", metric="HAMMING")
    with pytest.raises(ValueError, match="reserved"):
        searcher.add(VECTORS[:1], ["x"], metadatas=[{"vector": 1}])
    with pytest.raises(ValueError, match="where keys"):
        searcher.search(QUERIES[0], k=3, where={"a b": 1})
