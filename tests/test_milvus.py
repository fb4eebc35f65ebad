"""The exact exemplar SVM over a real Milvus Lite database (skipped without milvus-lite)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from svm_retrievers import SVMIndex
from svm_retrievers.sources.milvus import MilvusSource, MilvusSVMSearcher
from tests.test_sources import IDS, METAS, QUERIES, TEXTS, VECTORS, D, N, assert_same_top


@pytest.fixture(scope="module")
def reference() -> SVMIndex:
    return SVMIndex.from_embeddings(
        VECTORS, IDS, texts=TEXTS, metadatas=METAS, solver="liblinear", tol=1e-8
    )


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


def test_milvus_objects_refuse_copies_clearly(searcher):
    import copy
    import pickle

    for clone in (copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="client connection"):
            clone(searcher)
    assert searcher.search(QUERIES[0], k=3)  # the original still works


def test_milvus_integer_keys_take_writes(milvus_uri, reference):
    """INT64 primary keys (pymilvus 3 reports field types as ints): writes send integers."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(milvus_uri)
    for name, auto in (("intpk", False), ("autopk", True)):
        schema = client.create_schema(auto_id=auto, enable_dynamic_field=True)
        schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=auto)
        schema.add_field("emb", DataType.FLOAT_VECTOR, dim=D)
        index_params = client.prepare_index_params()
        index_params.add_index("emb", index_type="FLAT", metric_type="COSINE")
        client.create_collection(name, schema=schema, index_params=index_params)
    s = MilvusSVMSearcher(client=client, collection_name="intpk", vector_field="emb")
    assert s.add(VECTORS[:2], ["100000", "100001"]) == ["100000", "100001"]
    generated = s.add(VECTORS[2:4])
    assert len(generated) == 2 and all(int(i) > 0 for i in generated)
    assert len(s) == 4 and s.search(VECTORS[2], k=1, mode="knn")[0].id == generated[0]
    with pytest.raises(ValueError, match="integer primary key .*'abc' is not an integer"):
        s.add(VECTORS[4:5], ["abc"])
    assert "abc" not in s and s.fetch(["abc", "100000"]).ids == ["100000"]
    s.delete(["abc", "100001"])
    assert len(s) == 3
    auto = MilvusSVMSearcher(client=client, collection_name="autopk", vector_field="emb")
    ids = auto.add(VECTORS[:3], metadatas=[{"g": i} for i in range(3)])
    assert len(set(ids)) == 3 and auto.fetch(ids).ids == ids
    assert auto.search(VECTORS[1], k=1, mode="knn")[0].id == ids[1]
    with pytest.raises(ValueError, match="auto_id"):
        auto.add(VECTORS[:1], ["5"])


def test_milvus_a_filter_matching_nothing_returns_no_hits(searcher, milvus_uri):
    q = QUERIES[0]
    for where in ({"group": 99}, {"group": []}, {"no_such_key": 1}, "group == 99"):
        assert searcher.search(q, k=5, where=where) == []
        assert searcher.search_batch(QUERIES[:2], k=5, where=where) == [[], []]
    with pytest.raises(ValueError, match="dimension"):
        searcher.search(np.ones(D + 1), k=3, where={"group": 99})
    with pytest.raises(TypeError, match="got None"):
        searcher.search(q, k=3, where={"group": None})
    with pytest.raises(ValueError, match="collection 'never_made' holds no documents"):
        MilvusSVMSearcher(milvus_uri, "never_made").search(q, k=3)
