"""SVMRetriever for LlamaIndex: construction, scores in metadata, filters, persistence, bad input."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.schema import (
    MetadataMode,
    NodeRelationship,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from svm_retrievers import SVMIndex
from svm_retrievers.llama_index import SCORE_KEYS, SVMRetriever
from tests.li_helpers import BadEmbedding, HashEmbedding, corpus_nodes


@pytest.fixture
def model() -> HashEmbedding:
    return HashEmbedding()


@pytest.fixture
def retriever(model: HashEmbedding) -> SVMRetriever:
    return SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=model, similarity_top_k=3, mode="svm"
    )


def ids(results) -> list[str]:
    return [r.node.node_id for r in results]


def test_import_svm_retrievers_does_not_import_llama_index():
    code = (
        "import sys, svm_retrievers; print(any(m.startswith('llama_index') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_retrieve_returns_topic_matches_with_three_float_scores(retriever):
    results = retriever.retrieve("a programming language for code")
    assert len(results) == 3
    assert set(ids(results)) == {"python", "rust", "sql"}
    for r in results:
        meta = r.node.metadata
        for key in SCORE_KEYS:
            assert type(meta[key]) is float
        assert type(r.score) is float
        assert r.score == meta["svm_score"]
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)


def test_scores_are_the_cores_scores(model):
    nodes = corpus_nodes()
    retriever = SVMRetriever.from_defaults(nodes=nodes, embed_model=model, similarity_top_k=10)
    query = "sweet fruit on trees"
    core = SVMIndex.from_embeddings(
        [model.vector(n.get_content(metadata_mode=MetadataMode.EMBED)) for n in nodes],
        [n.node_id for n in nodes],
    )
    hits = core.search(model.vector(query), k=10)
    got = retriever.retrieve(query)
    assert ids(got) == [h.id for h in hits]
    for r, h in zip(got, hits, strict=True):
        assert r.node.metadata["knn_score"] == pytest.approx(h.knn_score, abs=1e-9)
        assert r.node.metadata["svm_score"] == pytest.approx(h.svm_score, abs=1e-9)
        assert r.node.metadata["hybrid_score"] == pytest.approx(h.hybrid_score, abs=1e-9)


@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_score_is_the_modes_score(model, mode):
    retriever = SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=model, mode=mode, similarity_top_k=10
    )
    results = retriever.retrieve("red stone fruit pies")
    assert ids(results)[0] == "cherry"
    for r in results:
        assert r.score == r.node.metadata[f"{mode}_score"]
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_score_keys_are_excluded_from_llm_and_embed_text_and_stored_nodes_unchanged(retriever):
    before = [n.model_dump() for n in retriever.nodes]
    result = retriever.retrieve("salty ocean water")[0]
    node = result.node
    for key in SCORE_KEYS:
        assert key in node.excluded_llm_metadata_keys
        assert key in node.excluded_embed_metadata_keys
        assert key not in node.get_content(metadata_mode=MetadataMode.LLM)
        assert key not in node.get_content(metadata_mode=MetadataMode.EMBED)
    assert "topic: nature" in node.get_content(metadata_mode=MetadataMode.LLM)
    stored = {n.node_id: n for n in retriever.nodes}[node.node_id]
    assert node.hash == stored.hash  # same node for LlamaIndex (fusion, dedupe)
    assert isinstance(node, TextNode)
    assert node.to_dict()["class_name"] == "TextNode"
    node.metadata["topic"] = "changed by the caller"
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id="x")
    assert [n.model_dump() for n in retriever.nodes] == before
    again = retriever.retrieve("salty ocean water")[0].node
    assert again.metadata["topic"] == "nature"
    assert set(again.excluded_llm_metadata_keys) == set(SCORE_KEYS)


def test_callers_nodes_are_not_mutated(model):
    nodes = corpus_nodes()
    dumped = [n.model_dump() for n in nodes]
    retriever = SVMRetriever.from_defaults(nodes=nodes, embed_model=model)
    retriever.retrieve("fruit")
    assert [n.model_dump() for n in nodes] == dumped
    assert all(n.embedding is None for n in nodes)


def test_precomputed_query_embedding_is_used_as_is(retriever, model):
    vector = model.vector("programming language memory safety")
    n_queries = len(model.queries)
    bundle = QueryBundle("completely unrelated words about fruit", embedding=vector)
    results = retriever.retrieve(bundle)
    assert len(model.queries) == n_queries  # the model was not asked
    assert ids(results)[0] == "rust"


def test_nodes_are_embedded_in_one_batch_with_embed_metadata(model):
    nodes = corpus_nodes()
    SVMRetriever.from_defaults(nodes=nodes, embed_model=model)
    assert model.batches == 1
    assert model.embedded == [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]


def test_nodes_carrying_embeddings_are_not_embedded_again(model):
    nodes = corpus_nodes()
    for n in nodes[:4]:
        n.embedding = model.vector(n.text)
    SVMRetriever.from_defaults(nodes=nodes, embed_model=model)
    assert len(model.embedded) == len(nodes) - 4


def test_show_progress_is_passed_to_the_batch_api(model, capsys):
    SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, show_progress=True)
    assert "Generating embeddings" in capsys.readouterr().err


def test_from_documents_splits_then_embeds(model):
    long_text = " ".join(f"sentence number {i} talks about bananas and fruit." for i in range(200))
    docs = [
        Document(text=long_text, metadata={"source": "long"}, id_="long"),
        Document(text="Rust is a programming language.", metadata={"source": "short"}, id_="short"),
    ]
    retriever = SVMRetriever.from_defaults(documents=docs, embed_model=model, similarity_top_k=2)
    nodes = retriever.nodes
    assert len(nodes) > 2  # the long document was split
    assert {n.ref_doc_id for n in nodes} == {"long", "short"}
    assert all("source" in n.metadata for n in nodes)
    best = retriever.retrieve("rust programming language")[0]
    assert best.node.ref_doc_id == "short"


def test_from_vector_store_index_reuses_stored_embeddings(model):
    nodes = corpus_nodes()
    vindex = VectorStoreIndex(nodes, embed_model=model)
    embedded = len(model.embedded)
    retriever = SVMRetriever.from_defaults(index=vindex, similarity_top_k=3)
    assert len(model.embedded) == embedded  # nothing embedded again
    assert retriever.embed_model is model  # the index's model embeds queries
    stored = vindex.vector_store.data.embedding_dict
    np.testing.assert_allclose(
        retriever.index.vectors[retriever.index.ids.index("rust")], stored["rust"], atol=1e-6
    )
    assert {"rust", "python"} <= set(ids(retriever.retrieve("programming language")))
    assert retriever.retrieve("orchard apple trees")[0].node.text == nodes[0].text


def test_k_larger_than_corpus_returns_all(model):
    retriever = SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=model, similarity_top_k=100
    )
    assert len(retriever.retrieve("fruit")) == 10


def test_similarity_top_k_is_settable(retriever):
    retriever.similarity_top_k = 1
    assert len(retriever.retrieve("fruit")) == 1
    retriever.similarity_top_k = 0
    with pytest.raises(ValueError, match="similarity_top_k must be >= 1"):
        retriever.retrieve("fruit")


# ------------------------------------------------------------------------------ filters
def _filters(*filters, condition=FilterCondition.AND) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


@pytest.mark.parametrize(
    ("filters", "allowed"),
    [
        (_filters(MetadataFilter(key="topic", value="fruit")), {"apple", "banana", "cherry"}),
        (
            _filters(
                MetadataFilter(key="topic", value="code"),
                MetadataFilter(key="rank", value=4, operator=FilterOperator.LT),
            ),
            {"python"},
        ),
        (
            _filters(
                MetadataFilter(key="topic", value="music"),
                MetadataFilter(key="rank", value=0, operator=FilterOperator.EQ),
                condition=FilterCondition.OR,
            ),
            {"violin", "apple"},
        ),
        (
            _filters(MetadataFilter(key="topic", value=["nature", "music"], operator="in")),
            {"ocean", "forest", "desert", "violin"},
        ),
    ],
)
def test_filters_match_simple_vector_store(model, filters, allowed):
    nodes = corpus_nodes()
    ours = SVMRetriever.from_defaults(
        nodes=nodes, embed_model=model, similarity_top_k=10, filters=filters
    )
    theirs = VectorStoreIndex(nodes, embed_model=model).as_retriever(
        similarity_top_k=10, filters=filters
    )
    got = ids(ours.retrieve("trees fruit programming water"))
    assert set(got) == allowed
    assert set(got) == set(ids(theirs.retrieve("trees fruit programming water")))


def test_filters_apply_before_training(model):
    nodes = corpus_nodes()
    fruit = _filters(MetadataFilter(key="topic", value="fruit"))
    filtered = SVMRetriever.from_defaults(
        nodes=nodes, embed_model=model, similarity_top_k=3, filters=fruit
    )
    only_fruit = SVMRetriever.from_defaults(
        nodes=[n for n in nodes if n.metadata["topic"] == "fruit"],
        embed_model=model,
        similarity_top_k=3,
    )
    a = filtered.retrieve("sweet fruit")
    b = only_fruit.retrieve("sweet fruit")
    assert ids(a) == ids(b)
    for x, y in zip(a, b, strict=True):
        assert x.node.metadata["svm_score"] == pytest.approx(y.node.metadata["svm_score"], abs=1e-9)
        assert x.node.metadata["hybrid_score"] == pytest.approx(
            y.node.metadata["hybrid_score"], abs=1e-9
        )


def test_filters_on_ref_doc_id_and_no_match(model):
    docs = [
        Document(text=t, id_=name)
        for name, t, _ in [("a", "apple fruit", 0), ("b", "rust code", 0)]
    ]
    retriever = SVMRetriever.from_defaults(documents=docs, embed_model=model, similarity_top_k=5)
    retriever.filters = _filters(MetadataFilter(key="ref_doc_id", value="b"))
    assert [r.node.ref_doc_id for r in retriever.retrieve("fruit")] == ["b"]
    retriever.filters = _filters(MetadataFilter(key="topic", value="nothing"))
    assert retriever.retrieve("fruit") == []


def test_filters_follow_inserts_deletes_and_in_place_edits_of_the_filters(model):
    """Which nodes pass a filter is remembered between queries; inserting or deleting nodes,
    or editing the ``MetadataFilters`` object in place, must still take effect."""
    nodes = corpus_nodes()
    fruit = _filters(MetadataFilter(key="topic", value="fruit"))
    retriever = SVMRetriever.from_defaults(
        nodes=nodes, embed_model=model, similarity_top_k=10, filters=fruit
    )
    query = "trees fruit programming water"
    assert set(ids(retriever.retrieve(query))) == {"apple", "banana", "cherry"}
    retriever.insert_nodes([TextNode(text="ripe mango", id_="mango", metadata={"topic": "fruit"})])
    assert set(ids(retriever.retrieve(query))) == {"apple", "banana", "cherry", "mango"}
    retriever.delete_nodes(["banana"])
    assert set(ids(retriever.retrieve(query))) == {"apple", "cherry", "mango"}
    fruit.filters[0].value = "music"  # the same object, edited
    assert set(ids(retriever.retrieve(query))) == {"violin"}
    fruit.filters.append(MetadataFilter(key="rank", value=100, operator=FilterOperator.GT))
    assert retriever.retrieve(query) == []


def test_filters_read_each_node_once_for_repeated_queries(model, monkeypatch):
    """At 100k nodes, evaluating the filter on every node took ~0.4 s per query, about ten
    times the search; repeated queries with the same filters evaluate it once per node."""
    import svm_retrievers.llama_index as adapter

    calls = []
    build = adapter.build_metadata_filter_fn

    def counting(lookup, filters):
        passes = build(lookup, filters)

        def wrapped(node_id):
            calls.append(node_id)
            return passes(node_id)

        return wrapped

    monkeypatch.setattr(adapter, "build_metadata_filter_fn", counting)
    nodes = corpus_nodes()
    retriever = SVMRetriever.from_defaults(
        nodes=nodes,
        embed_model=model,
        similarity_top_k=2,
        filters=_filters(MetadataFilter(key="topic", value="fruit")),
    )
    first = ids(retriever.retrieve("sweet fruit"))
    for _ in range(3):
        assert ids(retriever.retrieve("sweet fruit")) == first
    assert sorted(calls) == sorted(n.node_id for n in nodes)


# ------------------------------------------------------------------------------ persistence
def test_persist_and_load_round_trip(tmp_path, model):
    nodes = corpus_nodes()
    nodes[1].relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(
        node_id="doc-1", metadata={"page": 3}
    )
    nodes[1].excluded_llm_metadata_keys = ["rank"]
    nodes[2].metadata["tags"] = ["red", "small"]
    filters = _filters(MetadataFilter(key="topic", value="fruit"))
    retriever = SVMRetriever.from_defaults(
        nodes=nodes, embed_model=model, similarity_top_k=2, mode="hybrid", filters=filters, C=0.5
    )
    retriever.persist(tmp_path / "svm")

    files = sorted(p.name for p in (tmp_path / "svm").iterdir())
    assert all(f.endswith((".json", ".npy")) for f in files)
    for f in (tmp_path / "svm").glob("*.npy"):
        np.load(f, allow_pickle=False)
    manifest = json.loads((tmp_path / "svm" / "manifest.json").read_text())
    assert manifest["extra"]["llama_index"]["similarity_top_k"] == 2

    loaded = SVMRetriever.from_persist_dir(tmp_path / "svm", embed_model=model)
    assert loaded.similarity_top_k == 2
    assert loaded.mode == "hybrid"
    assert loaded.filters == filters
    assert loaded.index.params.C == 0.5
    for a, b in zip(loaded.nodes, retriever.nodes, strict=True):
        assert a.model_dump() == b.model_dump()
        assert type(a) is type(b)
    assert loaded.nodes[1].relationships[NodeRelationship.SOURCE].metadata == {"page": 3}
    q = "sweet small red fruit"
    before, after = retriever.retrieve(q), loaded.retrieve(q)
    assert ids(before) == ids(after)
    assert [r.score for r in before] == pytest.approx([r.score for r in after], abs=1e-9)
    override = SVMRetriever.from_persist_dir(
        tmp_path / "svm", embed_model=model, similarity_top_k=5, filters=None
    )
    assert len(override.retrieve(q)) == 5


def test_persist_keeps_the_score_threshold(tmp_path, model):
    retriever = SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=model, similarity_top_k=8, score_threshold=1.0
    )
    retriever.persist(tmp_path / "svm")
    loaded = SVMRetriever.from_persist_dir(tmp_path / "svm", embed_model=model)
    assert loaded.score_threshold == 1.0 and loaded.retrieve("sweet red fruit") == []
    off = SVMRetriever.from_persist_dir(tmp_path / "svm", embed_model=model, score_threshold=None)
    assert off.score_threshold is None and len(off.retrieve("sweet red fruit")) == 8


def test_persist_documents_round_trip(tmp_path, model):
    docs = [Document(text="apples and pears", id_="d1", metadata={"k": 1})]
    retriever = SVMRetriever.from_defaults(nodes=docs, embed_model=model)
    retriever.persist(tmp_path / "d")
    loaded = SVMRetriever.from_persist_dir(tmp_path / "d", embed_model=model)
    (node,) = loaded.nodes
    assert isinstance(node, Document)
    assert node.text == "apples and pears"
    assert node.metadata == {"k": 1}


def test_load_a_plain_index_is_refused(tmp_path, model):
    SVMIndex.from_embeddings(np.eye(3)).save(tmp_path / "plain")
    with pytest.raises(ValueError, match="without LlamaIndex retriever data"):
        SVMRetriever.from_persist_dir(tmp_path / "plain", embed_model=model)


def test_load_without_embed_model_names_the_model_it_was_built_with(tmp_path, model):
    from llama_index.core import Settings

    if Settings._embed_model is not None:  # set by another test: this case cannot arise
        pytest.skip("Settings.embed_model is set")
    try:
        import llama_index.embeddings.openai  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("LlamaIndex's default embed model is installed")
    SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model).persist(tmp_path / "i")
    with pytest.raises(ValueError, match=r"Pass embed_model=.*built with HashEmbedding"):
        SVMRetriever.from_persist_dir(tmp_path / "i")


# ------------------------------------------------------------------------------ bad input
def test_exactly_one_source(model):
    nodes = corpus_nodes()
    with pytest.raises(ValueError, match="exactly one of nodes, documents or index; got none"):
        SVMRetriever.from_defaults(embed_model=model)
    with pytest.raises(ValueError, match="got nodes, documents"):
        SVMRetriever.from_defaults(nodes=nodes, documents=[Document(text="x")], embed_model=model)
    vindex = VectorStoreIndex(nodes, embed_model=model)
    with pytest.raises(ValueError, match="got nodes, index"):
        SVMRetriever.from_defaults(nodes=nodes, index=vindex, embed_model=model)


@pytest.mark.parametrize("source", ["nodes", "documents"])
def test_empty_input(model, source):
    with pytest.raises(ValueError, match=f"{source} is empty"):
        SVMRetriever.from_defaults(**{source: []}, embed_model=model)


def test_empty_vector_store_index(model):
    with pytest.raises(ValueError, match="no embedded nodes"):
        SVMRetriever.from_defaults(index=VectorStoreIndex([], embed_model=model))


def test_duplicate_node_ids(model):
    nodes = [*corpus_nodes(), TextNode(id_="apple", text="another apple")]
    with pytest.raises(ValueError, match=r"node ids must be unique; duplicated: \['apple'\]"):
        SVMRetriever.from_defaults(nodes=nodes, embed_model=model)


@pytest.mark.parametrize(("k", "exc"), [(0, ValueError), (-1, ValueError), (2.5, TypeError)])
def test_bad_similarity_top_k(model, k, exc):
    with pytest.raises(exc, match="similarity_top_k"):
        SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, similarity_top_k=k)


def test_unknown_mode_and_param(model):
    with pytest.raises(ValueError, match="mode must be one of 'svm', 'knn', 'hybrid', got 'mmr'"):
        SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, mode="mmr")
    with pytest.raises(ValueError, match=r"unknown scoring parameter\(s\) \['bogus'\]"):
        SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, bogus=1)
    with pytest.raises(ValueError, match="C must be a finite number > 0"):
        SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, C=0)


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        ("nan", r"BadEmbedding\.a?get_text_embedding_batch returned NaN"),
        (
            "ragged",
            r"BadEmbedding\.a?get_text_embedding_batch returned vectors that are not numeric and of one length \(lengths \[63, 64\]\)",
        ),
        ("count", r"returned 9 vector\(s\) for 10 text\(s\)"),
    ],
)
def test_bad_document_embeddings(fault, match):
    with pytest.raises(ValueError, match=match):
        SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=BadEmbedding(fault=fault))


def test_query_embedding_of_wrong_dimension():
    retriever = SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=BadEmbedding(fault="dim")
    )
    with pytest.raises(
        ValueError,
        match="query embedding returned by BadEmbedding has dimension 63, but the index has dimension 64",
    ):
        retriever.retrieve("fruit")
    with pytest.raises(ValueError, match=r"QueryBundle\.embedding has dimension 3"):
        retriever.retrieve(QueryBundle("fruit", embedding=[1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"QueryBundle\.embedding contains NaN"):
        retriever.retrieve(QueryBundle("fruit", embedding=[float("nan")] * 64))


def test_node_embeddings_of_mixed_dimensions(model):
    nodes = corpus_nodes()
    nodes[0].embedding = [1.0, 0.0]
    with pytest.raises(ValueError, match=r"dimension 64, but the index has dimension 2"):
        SVMRetriever.from_defaults(nodes=nodes, embed_model=model)


def test_init_checks_alignment_and_types(model):
    core = SVMIndex.from_embeddings(np.eye(3), ["a", "b", "c"])
    nodes = [TextNode(id_=i, text=i) for i in ["a", "c", "b"]]
    with pytest.raises(ValueError, match=r"nodes must align with index\.ids"):
        SVMRetriever(core, nodes, embed_model=model)
    with pytest.raises(TypeError, match=r"index must be an svm_retrievers\.SVMIndex"):
        SVMRetriever(np.eye(3), nodes, embed_model=model)
    with pytest.raises(TypeError, match="embed_model must be a llama_index BaseEmbedding"):
        SVMRetriever(core, sorted(nodes, key=lambda n: n.node_id), embed_model="openai")
    with pytest.raises(TypeError, match="index must be a VectorStoreIndex"):
        SVMRetriever.from_defaults(index=core, embed_model=model)
    with pytest.raises(TypeError, match=r"nodes\[0\] must be a llama_index BaseNode"):
        SVMRetriever.from_defaults(nodes=["text"], embed_model=model)
    with pytest.raises(TypeError, match="filters must be a MetadataFilters"):
        SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, filters={"a": 1})


def test_offline_embedder_is_persisted_with_the_index(tmp_path):
    from svm_retrievers.embeddings import OfflineEmbedder
    from svm_retrievers.embeddings.llama_index import as_llama_index

    nodes = corpus_nodes()
    embedder = OfflineEmbedder(dim=8).fit([n.get_content() for n in nodes])
    retriever = SVMRetriever.from_defaults(
        nodes=nodes, embed_model=as_llama_index(embedder), similarity_top_k=3
    )
    retriever.persist(tmp_path / "svm")
    loaded = SVMRetriever.from_persist_dir(tmp_path / "svm")  # the saved embedder is used
    got = [(n.node.node_id, n.score) for n in loaded.retrieve("red fruit")]
    assert got == [(n.node.node_id, n.score) for n in retriever.retrieve("red fruit")]


def test_score_threshold_on_calibrated_relevance(model):
    loose = SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, similarity_top_k=3)
    results = loose.retrieve("a programming language for code")
    assert all(0.0 <= r.node.metadata["relevance"] <= 1.0 for r in results)
    strict = SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=model, similarity_top_k=3, score_threshold=1.0
    )
    assert strict.retrieve("a programming language for code") == []
    for bad, exc in ((2.0, ValueError), (float("nan"), ValueError), (True, TypeError)):
        with pytest.raises(exc, match="score_threshold"):
            SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model, score_threshold=bad)


def test_returned_nodes_pickle_as_they_are(retriever):
    """Scored nodes are of a class made at run time; they pickle by their base class."""
    docs = SVMRetriever.from_defaults(
        documents=[Document(text="apples and pears", id_="d1")], embed_model=HashEmbedding()
    ).retrieve("apples")
    for result in [*retriever.retrieve("a programming language"), *docs]:
        again = pickle.loads(pickle.dumps(result))
        assert type(again.node) is type(result.node)
        assert again.node.model_dump() == result.node.model_dump()
        assert again.node.hash == result.node.hash and again.score == result.score
        assert "node" in result.__dict__  # pickling left the original whole


def test_empty_query_is_refused_with_a_clear_error(retriever):
    for query in ("", QueryBundle("")):
        with pytest.raises(ValueError, match="query is empty"):
            retriever.retrieve(query)
