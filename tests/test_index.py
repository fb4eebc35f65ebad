"""The shared scoring core: reproduction of the seed notebook, the three scores, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

import svm_retrievers
from svm_retrievers import Hit, SVMIndex


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def seed_data() -> tuple[np.ndarray, np.ndarray]:
    """The seed notebook's data, generated exactly as it does."""
    np.random.seed(42)
    embeddings = np.random.randn(1000, 1536)
    embeddings = embeddings / np.sqrt((embeddings**2).sum(1, keepdims=True))
    query = np.random.randn(1536)
    query = query / np.sqrt((query**2).sum())
    return embeddings, query


@pytest.fixture
def small() -> tuple[SVMIndex, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(60, 12))
    index = SVMIndex.from_embeddings(
        vectors,
        ids=[f"d{i}" for i in range(60)],
        texts=[f"text {i}" for i in range(60)],
        metadatas=[{"group": i % 3, "i": i} for i in range(60)],
    )
    return index, vectors, rng


def _reference_svm(x_pos: np.ndarray, x_neg: np.ndarray, C: float = 0.1) -> LinearSVC:
    x = np.vstack([x_pos, x_neg])
    y = np.zeros(len(x))
    y[: len(x_pos)] = 1
    return LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=C, random_state=0).fit(
        x, y
    )


# ----------------------------------------------------------------------------- seed reproduction
SEED_KNN_TOP10 = [545, 790, 973, 597, 479, 229, 976, 568, 800, 654]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["auto", "liblinear"])
def test_seed_notebook_is_reproduced(seed_data, dtype, solver):
    embeddings, query = seed_data
    index = SVMIndex.from_embeddings(embeddings, dtype=dtype, solver=solver)
    scores = index.get_scores(query)
    assert [int(i) for i in np.argsort(-scores.knn)[:10]] == SEED_KNN_TOP10
    assert scores.knn.max() == pytest.approx(0.07956628031855814, abs=1e-6)
    assert scores.positive_svm[0] == pytest.approx(0.97971126, abs=1e-6)
    assert scores.svm[545] == pytest.approx(-0.83606497, abs=1e-6)
    assert scores.svm[790] == pytest.approx(-0.85192262, abs=1e-6)
    hits = index.search(query, k=10, mode="knn")
    assert [h.id for h in hits] == [str(i) for i in SEED_KNN_TOP10]


def test_svm_scores_match_scikit_learn(small):
    index, vectors, rng = small
    q = rng.normal(size=12)
    scores = index.get_scores(q, solver="liblinear")
    ref = _reference_svm(_unit(q)[None], _unit(vectors))
    np.testing.assert_allclose(scores.svm, ref.decision_function(_unit(vectors)), atol=1e-5)


# ----------------------------------------------------------------------------- the three scores
@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_every_hit_has_all_three_scores_as_floats(small, mode):
    index, _, rng = small
    hits = index.search(rng.normal(size=12), k=7, mode=mode)
    assert len(hits) == 7
    for rank, hit in enumerate(hits, start=1):
        assert isinstance(hit, Hit)
        assert hit.rank == rank
        for value in (hit.score, hit.knn_score, hit.svm_score, hit.hybrid_score):
            assert type(value) is float and np.isfinite(value)
        assert (
            hit.score
            == {"svm": hit.svm_score, "knn": hit.knn_score, "hybrid": hit.hybrid_score}[mode]
        )
        assert hit.text == f"text {hit.id[1:]}"
        assert hit.metadata["i"] == int(hit.id[1:])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_knn_score_is_cosine(small):
    index, vectors, rng = small
    q = rng.normal(size=12)
    scores = index.get_scores(q)
    np.testing.assert_allclose(scores.knn, _unit(vectors) @ _unit(q), atol=1e-6)


def test_hybrid_is_mean_of_zscores_and_rrf_is_offered(small):
    index, _, rng = small
    q = rng.normal(size=12)
    s = index.get_scores(q)
    z = lambda a: (a - a.mean()) / a.std()  # noqa: E731
    np.testing.assert_allclose(s.hybrid, 0.5 * z(s.knn) + 0.5 * z(s.svm), atol=1e-9)
    s_alpha = index.get_scores(q, alpha=0.8)
    np.testing.assert_allclose(s_alpha.hybrid, 0.8 * z(s.knn) + 0.2 * z(s.svm), atol=1e-9)
    rrf = index.get_scores(q, fusion="rrf")
    rank = lambda a: np.argsort(np.argsort(-a)) + 1  # noqa: E731
    np.testing.assert_allclose(rrf.hybrid, 1 / (60 + rank(s.knn)) + 1 / (60 + rank(s.svm)))


def test_get_scores_is_aligned_with_ids(small):
    index, _, rng = small
    q = rng.normal(size=12)
    scores = index.get_scores(q)
    assert scores.ids == index.ids
    assert scores.knn.shape == scores.svm.shape == scores.hybrid.shape == (60,)
    best = index.search(q, k=1, mode="hybrid")[0]
    assert scores.hybrid[index.ids.index(best.id)] == pytest.approx(best.hybrid_score)


def test_swap_bug_regression_documents_outscoring_the_query():
    """Documents whose decision value beats the query's own still come back best first.

    The stock retriever scores the query with the documents and swaps it to the front, which
    demotes the best document whenever two documents outscore the query.
    """
    rng = np.random.default_rng(3)
    dim = 16
    bulk_direction, other = np.eye(dim)[0], np.eye(dim)[1]
    query = _unit(bulk_direction + other)
    bulk = _unit(bulk_direction + 0.3 * rng.normal(size=(60, dim)))
    beyond = _unit(0.1 * bulk_direction + other + 0.05 * rng.normal(size=(4, dim)))
    index = SVMIndex.from_embeddings(np.vstack([bulk, beyond]))
    scores = index.get_scores(query)
    assert (scores.svm > scores.positive_svm[0]).sum() == 4  # four documents outscore the query
    hits = index.search(query, k=64, mode="svm")
    values = [h.svm_score for h in hits]
    assert values == sorted(values, reverse=True)
    assert {h.id for h in hits[:4]} == {"60", "61", "62", "63"}
    assert hits[0].svm_score == pytest.approx(scores.svm.max())
    assert len({h.id for h in hits}) == 64


def test_search_is_deterministic(small):
    index, _, rng = small
    q = rng.normal(size=12)
    assert index.search(q, k=10) == index.search(q, k=10)


def test_per_call_params_override_index_defaults(small):
    index, _, rng = small
    q = rng.normal(size=12)
    low = index.get_scores(q, C=0.001).svm
    high = index.get_scores(q, C=10.0).svm
    assert not np.allclose(low, high)
    assert index.params.C == 0.1
    tight = SVMIndex.from_embeddings(index.vectors, C=10.0)
    np.testing.assert_allclose(tight.get_scores(q).svm, high, atol=1e-6)


def test_hnswlib_invariant_each_vector_finds_itself_first():
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(300, 24))
    index = SVMIndex.from_embeddings(vectors)
    results = index.search_batch(vectors, k=1, mode="knn")
    assert [r[0].id for r in results] == index.ids


def test_search_batch_equals_single_searches(small):
    index, _, rng = small
    queries = rng.normal(size=(4, 12))
    batch = index.search_batch(queries, k=5, mode="hybrid")
    assert batch == [index.search(q, k=5, mode="hybrid") for q in queries]


# ----------------------------------------------------------------------------- more than the notebook
def test_several_positives_by_vector_match_scikit_learn(small):
    index, vectors, rng = small
    q = rng.normal(size=12)
    extra = rng.normal(size=(2, 12))
    scores = index.get_scores(q, positives=extra, solver="liblinear")
    ref = _reference_svm(_unit(np.vstack([q, extra])), _unit(vectors))
    np.testing.assert_allclose(scores.svm, ref.decision_function(_unit(vectors)), atol=1e-5)
    assert scores.positive_svm.shape == (3,)


def test_positives_by_id_are_trained_on_and_not_returned(small):
    index, vectors, rng = small
    q = rng.normal(size=12)
    hits = index.search(q, k=60, positives=["d1", "d2"])
    ids = [h.id for h in hits]
    assert "d1" not in ids and "d2" not in ids and len(ids) == 58
    others = [i for i in range(60) if i not in (1, 2)]
    ref = _reference_svm(_unit(np.vstack([q, vectors[[1, 2]]])), _unit(vectors[others]))
    expected = ref.decision_function(_unit(vectors[others]))
    got = {h.id: h.svm_score for h in hits}
    np.testing.assert_allclose([got[f"d{i}"] for i in others], expected, atol=1e-5)


def test_examples_mixing_stored_ids_and_vectors(small):
    index, vectors, rng = small
    q, extra_pos, extra_neg = rng.normal(size=(3, 12))
    hits = index.search(q, k=60, positives=["d1", extra_pos], negatives=[extra_neg, "d5"])
    ids = [h.id for h in hits]
    assert {"d1", "d5"}.isdisjoint(ids) and len(ids) == 58  # stored examples never return
    others = [i for i in range(60) if i != 1]
    ref = _reference_svm(
        _unit(np.vstack([q, vectors[1], extra_pos])),
        _unit(np.vstack([vectors[others], extra_neg, vectors[5]])),
    )
    expected = dict(zip(others, ref.decision_function(_unit(vectors[others])), strict=True))
    np.testing.assert_allclose(
        [h.svm_score for h in hits], [expected[int(h.id[1:])] for h in hits], atol=1e-5
    )
    with pytest.raises(KeyError, match="unknown id"):
        index.search(q, positives=["d1", "nope", extra_pos])
    with pytest.raises(ValueError, match="dimension 3"):
        index.search(q, positives=["d1", [1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="positives must be a sequence of stored ids or vectors"):
        index.search(q, positives=3)


def test_more_like_these_without_a_query(small):
    index, _, _ = small
    hits = index.search(None, k=5, positives=["d4", "d5"])
    assert len(hits) == 5 and {"d4", "d5"}.isdisjoint(h.id for h in hits)


def test_negatives_push_results_away(small):
    index, vectors, rng = small
    q = rng.normal(size=12)
    plain = index.get_scores(q)
    top = plain.ids[int(np.argmax(plain.svm))]
    pushed = index.search(q, k=60, negatives=[top])
    assert top not in [h.id for h in pushed]
    # An explicit negative vector lowers the score of documents like it.
    neg_vec = vectors[int(top[1:])]
    steered = index.get_scores(q, negatives=neg_vec[None] + 0.01)
    assert steered.svm[int(top[1:])] < plain.svm[int(top[1:])]


def test_candidate_subset_trains_and_zscores_on_the_subset_only(small):
    index, vectors, rng = small
    q = rng.normal(size=12)
    subset = [f"d{i}" for i in range(0, 60, 4)]
    scores = index.get_scores(q, ids=subset, solver="liblinear")
    assert scores.ids == subset
    rows = list(range(0, 60, 4))
    ref = _reference_svm(_unit(q)[None], _unit(vectors[rows]))
    np.testing.assert_allclose(scores.svm, ref.decision_function(_unit(vectors[rows])), atol=1e-5)
    z = lambda a: (a - a.mean()) / a.std()  # noqa: E731
    np.testing.assert_allclose(scores.hybrid, 0.5 * z(scores.knn) + 0.5 * z(scores.svm), atol=1e-9)
    hits = index.search(q, k=100, ids=subset)
    assert sorted(h.id for h in hits) == sorted(subset)


def test_where_filter_is_applied_before_training(small):
    index, _, rng = small
    q = rng.normal(size=12)
    by_dict = index.search(q, k=100, where={"group": 1})
    by_ids = index.search(q, k=100, ids=[f"d{i}" for i in range(1, 60, 3)])
    by_callable = index.search(q, k=100, where=lambda m: m["group"] == 1)
    assert by_dict == by_ids == by_callable
    assert len(by_dict) == 20


def test_dict_filters_match_the_equality_predicate_on_mixed_metadata():
    """A dict ``where`` keeps the rows whose value equals the required one under ``==`` (as
    the equivalent callable would): missing keys, None, 1 == 1.0 == True, lists, NaN (never
    equal); and it follows the index through add and delete."""
    nan = float("nan")
    values = [1, 1.0, True, 0, None, "1", [1], [1, 2], nan, {"a": 1}, (1,)]
    metas = [{"v": v, "k": i % 3} for i, v in enumerate(values)] + [{"k": 0}, {}]
    rng = np.random.default_rng(41)
    index = SVMIndex.from_embeddings(
        rng.normal(size=(len(metas), 6)), ids=[f"m{i}" for i in range(len(metas))], metadatas=metas
    )
    q = rng.normal(size=6)

    def expected(where: dict) -> list[str]:
        keep = lambda m: all(k in m and m[k] == v for k, v in where.items())  # noqa: E731
        return sorted(h.id for h in index.search(q, k=100, where=keep))

    for where in (
        {"v": 1}, {"v": None}, {"v": [1]}, {"v": nan}, {"v": (1,)}, {"v": {"a": 1}},
        {"v": 1, "k": 0}, {"k": 0}, {"absent": 1}, {"v": "1"},
    ):  # fmt: skip
        got = sorted(h.id for h in index.search(q, k=100, where=where))
        assert got == expected(where), where
    assert expected({"v": 1}) == ["m0", "m1", "m2"]
    index.add(rng.normal(size=(1, 6)), ids=["late"], metadatas=[{"v": 1}])
    index.delete(["m1"])
    got = sorted(h.id for h in index.search(q, k=100, where={"v": 1}))
    assert got == expected({"v": 1}) == ["late", "m0", "m2"]


def test_max_negatives_trains_on_a_seeded_sample_but_scores_all(small):
    index, _, rng = small
    q = rng.normal(size=12)
    a = index.get_scores(q, max_negatives=10)
    b = index.get_scores(q, max_negatives=10)
    full = index.get_scores(q)
    assert a.svm.shape == (60,)
    np.testing.assert_array_equal(a.svm, b.svm)
    assert not np.allclose(a.svm, full.svm)


def test_add_then_delete_restores_results(small):
    index, _, rng = small
    q = rng.normal(size=12)
    before = index.search(q, k=10, mode="hybrid")
    new_ids = index.add(rng.normal(size=(5, 12)), ids=[f"new{i}" for i in range(5)])
    assert len(index) == 65 and new_ids == [f"new{i}" for i in range(5)]
    assert index.search(q, k=10, mode="hybrid") != before
    index.delete(new_ids)
    assert index.search(q, k=10, mode="hybrid") == before


def test_add_without_ids_generates_fresh_ones():
    index = SVMIndex(dim=3)
    assert index.add(np.eye(3)) == ["0", "1", "2"]
    index.delete(["1"])
    assert index.add([[1.0, 1.0, 0.0]]) == ["3"]


def test_vectors_stored_once_normalized_float32_and_caller_arrays_untouched():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(10, 5)) * 3
    original = vectors.copy()
    index = SVMIndex.from_embeddings(vectors)
    query = rng.normal(size=5)
    q_copy = query.copy()
    index.search(query, k=3)
    np.testing.assert_array_equal(vectors, original)
    np.testing.assert_array_equal(query, q_copy)
    assert index.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-6)
    assert not index.vectors.flags.writeable


def test_k_larger_than_corpus_returns_all(small):
    index, _, rng = small
    assert len(index.search(rng.normal(size=12), k=1000)) == 60


def test_public_api():
    assert set(svm_retrievers.__all__) >= {"SVMIndex", "Hit", "Scores", "ScoringParams"}


# ----------------------------------------------------------------------------- bad input
def test_empty_index_is_refused():
    with pytest.raises(ValueError, match="empty"):
        SVMIndex(dim=4).search(np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        SVMIndex.from_embeddings(np.zeros((0, 4)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(small, bad):
    index, _, _ = small
    q = np.ones(12)
    q[3] = bad
    with pytest.raises(ValueError, match=r"query.*NaN or infinite"):
        index.search(q)
    vecs = np.ones((3, 12))
    vecs[1, 2] = bad
    with pytest.raises(ValueError, match=r"vectors.*NaN or infinite.*row\(s\) 1"):
        SVMIndex.from_embeddings(vecs)
    with pytest.raises(ValueError, match="NaN or infinite"):
        index.add(vecs)


def test_zero_norm_vectors_are_refused(small):
    index, _, _ = small
    with pytest.raises(ValueError, match="zero-norm"):
        index.search(np.zeros(12))
    with pytest.raises(ValueError, match="zero-norm"):
        SVMIndex.from_embeddings(np.zeros((2, 3)))


@pytest.mark.filterwarnings("error")  # no overflow/underflow warnings either
def test_vectors_with_huge_or_tiny_entries_keep_their_direction():
    vecs = np.array([[1e200, 1e200, 0.0], [1e-320, 0.0, 1e-320], [3.0, 4.0, 0.0]])
    index = SVMIndex.from_embeddings(vecs, ids=["huge", "tiny", "plain"], dtype=np.float64)
    s = 0.5**0.5
    np.testing.assert_allclose(index.vectors, [[s, s, 0], [s, 0, s], [0.6, 0.8, 0]], rtol=1e-12)
    assert index.search([1e300, 1e300, 0.0], k=1, mode="knn")[0].id == "huge"
    with pytest.raises(ValueError, match="zero-norm"):
        SVMIndex.from_embeddings([[0.0, 0.0, 0.0], [1e-320, 0.0, 0.0]])


def test_dimension_mismatch_names_both_dimensions(small):
    index, _, _ = small
    with pytest.raises(ValueError, match=r"query has dimension 5, but the index has dimension 12"):
        index.search(np.ones(5))
    with pytest.raises(ValueError, match=r"dimension 7.*index has dimension 12"):
        index.add(np.ones((2, 7)))


def test_one_d_two_d_mixups(small):
    index, _, _ = small
    with pytest.raises(ValueError, match="2-D.*search_batch"):
        index.search(np.ones((2, 12)))
    with pytest.raises(ValueError, match=r"must be a 2-D array.*1-D"):
        SVMIndex.from_embeddings(np.ones(12))
    with pytest.raises(ValueError, match=r"2-D array.*1-D"):
        index.search_batch(np.ones(12))


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one(small, k):
    index, _, _ = small
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.search(np.ones(12), k=k)


@pytest.mark.parametrize("k", [1.5, "3", True, None])
def test_non_integer_k(small, k):
    index, _, _ = small
    with pytest.raises(TypeError, match="k must be an integer"):
        index.search(np.ones(12), k=k)


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match=r"unique.*'a'"):
        SVMIndex.from_embeddings(np.eye(3), ids=["a", "b", "a"])
    index = SVMIndex.from_embeddings(np.eye(3), ids=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"already in the index.*'b'"):
        index.add(np.eye(3)[:1], ids=["b"])


def test_unknown_ids_are_refused(small):
    index, _, _ = small
    with pytest.raises(KeyError, match="nope"):
        index.delete(["nope"])
    with pytest.raises(KeyError, match=r"positives.*nope"):
        index.search(np.ones(12), positives=["nope"])
    with pytest.raises(KeyError, match=r"negatives.*nope"):
        index.search(np.ones(12), negatives=["nope"])
    with pytest.raises(KeyError, match=r"ids.*nope"):
        index.search(np.ones(12), ids=["nope"])
    assert len(index) == 60


def test_ids_filter_ignores_order_and_repeats_and_names_every_unknown_id(small):
    index, _, rng = small
    q = rng.normal(size=12)
    a = index.search(q, k=4, ids=["d9", "d1", "d30", "d2", "d44"])
    b = index.search(q, k=4, ids=["d1", "d2", "d9", "d30", "d44", "d9", "d1"])
    assert [(h.id, h.svm_score, h.hybrid_score) for h in a] == [
        (h.id, h.svm_score, h.hybrid_score) for h in b
    ]
    assert [h.id for h in index.search(q, k=3, ids=["d5"])] == ["d5"]
    assert [h.id for h in index.search(q, k=3, ids=("d5", "d5"))] == ["d5"]
    # Stored positives are left out of the candidates they are among.
    c = index.search(q, k=10, ids=["d1", "d2", "d9", "d30", "d44"], positives=["d9", "d30"])
    assert sorted(h.id for h in c) == ["d1", "d2", "d44"]
    with pytest.raises(KeyError, match=r"unknown id\(s\) in ids: \['nope', 'gone'\]"):
        index.search(q, ids=["d1", "nope", "d2", "gone"])


def test_unknown_mode_and_bad_params(small):
    index, _, _ = small
    with pytest.raises(
        ValueError, match=r"mode must be one of 'svm', 'knn', 'hybrid', got 'cosine'"
    ):
        index.search(np.ones(12), mode="cosine")
    for C in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="C must be a finite number > 0"):
            index.search(np.ones(12), C=C)
    with pytest.raises(ValueError, match="C must be"):
        SVMIndex.from_embeddings(np.eye(3), C=0)
    with pytest.raises(TypeError, match="unknown scoring parameter"):
        index.search(np.ones(12), gamma=1)
    with pytest.raises(ValueError, match="alpha must be in"):
        index.search(np.ones(12), alpha=1.5)
    with pytest.raises(ValueError, match="solver must be"):
        index.search(np.ones(12), solver="magic")


def test_ids_count_mismatch_and_non_string_ids():
    with pytest.raises(ValueError, match="ids has 2 entries but there are 3 vectors"):
        SVMIndex.from_embeddings(np.eye(3), ids=["a", "b"])
    with pytest.raises(TypeError, match=r"ids\[1\] must be a str"):
        SVMIndex.from_embeddings(np.eye(3), ids=["a", 2, "c"])


def test_filter_that_excludes_everything_returns_nothing(small):
    index, _, _ = small
    assert index.search(np.ones(12), where={"group": 99}) == []
    assert index.search(np.ones(12), ids=[]) == []
    assert index.search_batch(np.ones((2, 12)), where={"group": 99}) == [[], []]
    scores = index.get_scores(np.ones(12), where={"group": 99})
    assert scores.ids == [] and scores.svm.shape == (0,)
    with pytest.raises(TypeError, match=r"where\['group'\] is an array"):
        index.search(np.ones(12), where={"group": np.array([1, 2])})
    with pytest.raises(
        ValueError, match=r"where\['group'\] = \{'\$gte': 1\} looks like an operator"
    ):
        index.search(np.ones(12), where={"group": {"$gte": 1}})
    assert index.search(np.ones(12), where={"group": {"gte": 1}}) == []  # a plain dict value


def test_where_predicate_cannot_modify_stored_metadata(small):
    index, _, rng = small

    def meddle(meta):
        meta["group"] = 99
        return True

    with pytest.raises(TypeError):
        index.search(rng.normal(size=12), where=meddle)
    assert index.get("d0")[1]["group"] == 0


def test_random_state_beyond_32_bits_is_refused_at_once(small):
    index, _, _ = small
    with pytest.raises(ValueError, match="random_state must be <= 2\\*\\*32 - 1"):
        SVMIndex.from_embeddings(np.eye(3), random_state=2**32)
    with pytest.raises(ValueError, match="random_state"):
        index.search(np.ones(12), random_state=2**40)


def test_candidate_subset_is_gathered_once() -> None:
    """A search over ``ids=`` copies the candidate rows once (not once more in the solver)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20000, 384)).astype(np.float32)
    index = SVMIndex.from_embeddings(vectors)
    subset = [str(i) for i in range(0, 20000, 2)]
    subset_bytes = len(subset) * 384 * 4
    index.search(vectors[3], k=5, mode="svm", ids=subset)  # warm caches
    tracemalloc.start()
    try:
        hits = index.search(vectors[3], k=5, mode="svm", ids=subset)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {h.id for h in hits} <= set(subset)
    assert peak < 1.75 * subset_bytes, (peak, subset_bytes)


# ---------------------------------------------------------------------------- large subsets
@pytest.fixture(scope="module")
def large() -> tuple[SVMIndex, np.ndarray, np.ndarray]:
    """A corpus large enough (N x D >= 2M) for the solver's cached warm start and for subsets
    scored in place, with a metadata field splitting it 3:1."""
    from benchmarks.synthetic import clustered_unit, queries_like

    vectors = clustered_unit(2100, 1024, seed=31)
    index = SVMIndex.from_embeddings(
        vectors,
        ids=[f"d{i}" for i in range(vectors.shape[0])],
        metadatas=[{"part": i % 4} for i in range(vectors.shape[0])],
    )
    return index, vectors, queries_like(vectors, 3, seed=32)


def _peak_bytes(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "options",
    [{"positives": ["d3", "d9"]}, {"where": lambda m: m["part"] != 0}, {"where": {"part": 1}}],
    ids=["stored-positives", "filter-3/4", "filter-1/4"],
)
def test_large_subsets_match_liblinear(large, options):
    """All but the stored positives and a broad filter are scored in place, a narrow filter
    on a gathered copy with the corpus's warm start; each is LinearSVC's optimum on the subset."""
    index, _, queries = large
    for q in queries[:2]:
        got = index.get_scores(q, **options)
        ref = index.get_scores(q, **options, solver="liblinear")
        assert got.ids == ref.ids
        np.testing.assert_allclose(got.svm, ref.svm, atol=1e-4)
        np.testing.assert_allclose(got.knn, ref.knn, atol=1e-6)
        got_top = [h.id for h in index.search(q, k=10, mode="svm", **options)]
        ref_top = [h.id for h in index.search(q, k=10, mode="svm", **options, solver="liblinear")]
        assert got_top == ref_top


def test_all_but_stored_positives_is_not_a_copy_of_the_corpus(large):
    """Excluding a search's stored positives used to gather every other row (a copy of the
    corpus per query); the rows are now scored in place."""
    index, vectors, queries = large
    index.search(queries[0], k=10)  # the per-corpus cache, once
    peak = _peak_bytes(lambda: index.search(queries[1], k=10, positives=["d3"]))
    # Gathering the other rows peaked at 14.8 MB here (the copy, 8.6 MB, and the working set:
    # 1024 rows, half this corpus); in place 5.9 MB.
    assert peak < vectors.nbytes


def test_stored_positives_are_scored_in_the_query_pass(large, monkeypatch):
    """A search with stored positives scores the candidates for the query and the positives in
    one pass over the matrix, and a batch scores them once, in its queries' pass; the
    solver used to spend passes of its own on them. The answers stay LinearSVC's."""
    from svm_retrievers import index as index_module
    from svm_retrievers.solvers import newton

    index, vectors, queries = large
    positives = ["d3", "d7"]
    stored = vectors[[3, 7]].astype(np.float64)  # unit rows: stored as given
    calls: list[tuple[str, np.ndarray]] = []

    def counting(who, real):
        def products(matrix, rows):
            calls.append((who, np.asarray(rows)))
            return real(matrix, rows)

        return products

    monkeypatch.setattr(index_module, "row_products", counting("index", index_module.row_products))
    monkeypatch.setattr(newton, "row_products", counting("solver", newton.row_products))
    monkeypatch.setattr(svm_retrievers.solvers, "BATCH_MIN_ELEMENTS", 0)

    def solver_scored_positives() -> bool:
        return any(
            who == "solver" and any(np.allclose(v, s, atol=1e-6) for v in rows for s in stored)
            for who, rows in calls
        )

    single = [index.search(q, k=10, mode="svm", positives=positives) for q in queries]
    assert [rows.shape[0] for who, rows in calls if who == "index"] == [3] * len(queries)
    assert not solver_scored_positives()
    for q, hits in zip(queries, single, strict=True):
        ref = index.search(q, k=10, mode="svm", positives=positives, solver="liblinear")
        assert [h.id for h in hits] == [h.id for h in ref]
        np.testing.assert_allclose(
            [h.svm_score for h in hits], [h.svm_score for h in ref], atol=1e-4
        )

    calls.clear()
    batch = index.search_batch(queries, k=10, mode="svm", positives=positives)
    assert sorted(rows.shape[0] for who, rows in calls if who == "index") == [len(queries) + 2]
    assert not solver_scored_positives()
    assert [[h.id for h in hits] for hits in batch] == [[h.id for h in hits] for hits in single]

    calls.clear()  # by positives alone: their mean ranks, scored with them in one pass
    alone = index.search(None, k=10, mode="svm", positives=positives)
    assert [rows.shape[0] for who, rows in calls if who == "index"] == [3]
    assert not solver_scored_positives()
    ref = index.search(None, k=10, mode="svm", positives=positives, solver="liblinear")
    assert [h.id for h in alone] == [h.id for h in ref]


def test_filtered_search_builds_and_uses_the_corpus_cache(large):
    """A filtered first search computes the corpus's warm-start quantities once, for later
    searches (filtered or not), instead of starting every filtered solve from scratch."""
    _, vectors, queries = large
    fresh = SVMIndex.from_embeddings(
        vectors, metadatas=[{"part": i % 4} for i in range(vectors.shape[0])]
    )
    assert not fresh._snap.cache.get("newton.subspace")
    fresh.search(queries[0], k=10, where={"part": 2})
    assert fresh._snap.cache.get("newton.subspace") is not None
    batch = fresh.search_batch(queries, k=10, where=lambda m: m["part"] != 2)
    single = [fresh.search(q, k=10, where=lambda m: m["part"] != 2) for q in queries]
    assert [[h.id for h in hits] for hits in batch] == [[h.id for h in hits] for hits in single]
