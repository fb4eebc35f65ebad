"""SVMReranker: reranks any retriever's nodes with the core, embedding each node at most once."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from svm_retrievers import SVMIndex
from svm_retrievers.llama_index import SCORE_KEYS, SVMReranker
from tests.li_helpers import BadEmbedding, HashEmbedding, corpus_nodes


@pytest.fixture
def model() -> HashEmbedding:
    return HashEmbedding()


def candidates() -> list[NodeWithScore]:
    return [NodeWithScore(node=n, score=0.0) for n in corpus_nodes()]


def ids(results) -> list[str]:
    return [r.node.node_id for r in results]


def core_hits(model, nodes, query, k, **kw):
    core = SVMIndex.from_embeddings(
        [model.vector(n.get_content(metadata_mode=MetadataMode.EMBED)) for n in nodes],
        [n.node_id for n in nodes],
    )
    return core.search(model.vector(query), k=k, **kw)


@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_rerank_matches_the_core(model, mode):
    reranker = SVMReranker(embed_model=model, top_n=4, mode=mode)
    query = "yellow tropical fruit"
    got = reranker.postprocess_nodes(candidates(), query_str=query)
    hits = core_hits(model, corpus_nodes(), query, 4, mode=mode)
    assert ids(got) == [h.id for h in hits]
    assert got[0].node.node_id == "banana"
    for r, h in zip(got, hits, strict=True):
        assert type(r.score) is float
        assert r.score == pytest.approx(h.score, abs=1e-9)
        for key in SCORE_KEYS:
            assert type(r.node.metadata[key]) is float
            assert key in r.node.excluded_llm_metadata_keys
            assert key in r.node.excluded_embed_metadata_keys


def test_each_node_is_embedded_once_and_inputs_untouched(model):
    nodes = candidates()
    twice = [*nodes, NodeWithScore(node=nodes[0].node, score=1.0), *nodes[3:5]]
    dumped = [n.model_dump() for n in twice]
    reranker = SVMReranker(embed_model=model, top_n=20)
    got = reranker.postprocess_nodes(twice, query_str="fruit")
    assert len(got) == 10  # duplicates collapsed
    assert model.batches == 1
    assert sorted(model.embedded) == sorted(
        n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes
    )
    assert [n.model_dump() for n in twice] == dumped


def test_stored_embeddings_are_used(model):
    nodes = candidates()
    for n in nodes:
        n.node.embedding = model.vector(n.node.get_content(metadata_mode=MetadataMode.EMBED))
    nodes[-1].node.embedding = None
    got = SVMReranker(embed_model=model, top_n=3).postprocess_nodes(nodes, query_str="fruit")
    assert len(model.embedded) == 1
    assert set(ids(got)) == {"apple", "banana", "cherry"}


def test_precomputed_query_embedding(model):
    bundle = QueryBundle("", embedding=model.vector("string instrument bow"))
    got = SVMReranker(embed_model=model, top_n=1).postprocess_nodes(
        candidates(), query_bundle=bundle
    )
    assert ids(got) == ["violin"]
    assert model.queries == []
    # Nodes that carry their embeddings are compared with the bundle's embedding as is.
    carried = [
        NodeWithScore(node=n.node.model_copy(update={"embedding": model.vector(n.node.text)}))
        for n in candidates()
    ]
    bundle = QueryBundle("ignored words", embedding=model.vector("string instrument bow"))
    got = SVMReranker(embed_model=model, top_n=1).postprocess_nodes(carried, query_bundle=bundle)
    assert ids(got) == ["violin"]
    assert model.queries == []


async def test_nodes_it_embeds_are_compared_with_the_query_embedded_by_the_same_model(model):
    """In a query engine the bundle's embedding comes from the upstream retriever's model."""
    other_model = [0.0] * 63 + [1.0]  # what another model made of the query: ignored
    bundle = QueryBundle("string instrument bow", embedding=other_model)
    reranker = SVMReranker(embed_model=model, top_n=1)
    assert ids(reranker.postprocess_nodes(candidates(), query_bundle=bundle)) == ["violin"]
    got = await reranker.apostprocess_nodes(candidates(), query_bundle=bundle)
    assert ids(got) == ["violin"]
    assert model.async_queries == ["string instrument bow"]  # the async API, once
    assert model.queries == ["string instrument bow"] * 2  # (the async one calls the sync)


def test_background_negatives_change_the_svm_and_are_never_returned(model):
    query = "trees"
    background = [model.vector(t) for t in ["apple trees orchards", "forest trees wildlife"]]
    plain = SVMReranker(embed_model=model, top_n=10, mode="svm").postprocess_nodes(
        candidates(), query_str=query
    )
    with_bg = SVMReranker(
        embed_model=model, top_n=10, mode="svm", negatives=background
    ).postprocess_nodes(candidates(), query_str=query)
    hits = core_hits(model, corpus_nodes(), query, 10, mode="svm", negatives=np.array(background))
    assert ids(with_bg) == [h.id for h in hits]
    assert [r.score for r in with_bg] == pytest.approx([h.score for h in hits], abs=1e-9)
    assert [r.score for r in with_bg] != pytest.approx([r.score for r in plain])
    assert len(with_bg) == 10


async def test_async_rerank_matches_sync(model):
    reranker = SVMReranker(embed_model=model, top_n=3, mode="hybrid")
    sync = reranker.postprocess_nodes(candidates(), query_str="programming code")
    asynced = await reranker.apostprocess_nodes(candidates(), query_str="programming code")
    assert ids(sync) == ids(asynced)
    assert [r.score for r in sync] == pytest.approx([r.score for r in asynced])


def test_reranks_a_vector_index_retriever(model):
    vindex = VectorStoreIndex(corpus_nodes(), embed_model=model)
    retrieved = vindex.as_retriever(similarity_top_k=6).retrieve("sweet fruit trees")
    assert all(r.node.embedding is None for r in retrieved)
    n_before = len(model.embedded)
    got = SVMReranker(embed_model=model, top_n=2).postprocess_nodes(
        retrieved, query_str="sweet fruit trees"
    )
    assert len(got) == 2
    assert len(model.embedded) - n_before == 6
    assert set(ids(got)) <= set(ids(retrieved))


def test_empty_and_bad_input(model):
    reranker = SVMReranker(embed_model=model)
    assert reranker.postprocess_nodes([], query_str="x") == []
    with pytest.raises(ValueError, match="needs a query"):
        reranker.postprocess_nodes(candidates())
    with pytest.raises(ValueError, match="top_n must be >= 1"):
        SVMReranker(embed_model=model, top_n=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        SVMReranker(embed_model=model, mode="bm25")
    with pytest.raises(ValueError, match=r"unknown scoring parameter\(s\) \[.gamma.\]"):
        SVMReranker(embed_model=model, params={"gamma": 1})
    with pytest.raises(ValueError, match="negatives contains NaN"):
        SVMReranker(embed_model=model, negatives=[[float("nan")] * 64])
    with pytest.raises(
        ValueError, match=r"negatives has dimension 3 .*but the index has dimension 64"
    ):
        SVMReranker(embed_model=model, negatives=np.eye(3)).postprocess_nodes(
            candidates(), query_str="fruit"
        )
    with pytest.raises(ValueError, match=r"BadEmbedding\.a?get_text_embedding_batch returned NaN"):
        SVMReranker(embed_model=BadEmbedding(fault="nan")).postprocess_nodes(
            candidates(), query_str="fruit"
        )
    mixed = candidates()
    mixed[0].node.embedding = [1.0, 0.0]
    with pytest.raises(ValueError, match="dimension 64, but the index has dimension 2"):
        reranker.postprocess_nodes(mixed, query_str="fruit")
    with pytest.raises(TypeError, match=r"nodes\[0\] must be a NodeWithScore"):
        reranker.postprocess_nodes([TextNode(text="x")], query_str="fruit")


def test_reranker_serializes_without_arrays(model):
    reranker = SVMReranker(embed_model=model, top_n=2, negatives=np.eye(64)[:2])
    data = reranker.to_dict()
    assert data["top_n"] == 2
    assert data["class_name"] == "SVMReranker"
    assert "_negatives" not in data
    assert "array" not in repr(reranker)


def test_settings_checked_when_set_and_mixed_dimensions_named(model):
    for bad, exc in ((True, TypeError), (float("nan"), ValueError), (1.5, ValueError)):
        with pytest.raises(exc, match="score_threshold"):
            SVMReranker(embed_model=model, score_threshold=bad)
    reranker = SVMReranker(embed_model=model)
    reranker.top_n = 0
    with pytest.raises(ValueError, match="top_n must be >= 1"):
        reranker.postprocess_nodes(candidates(), query_str="fruit")
    mixed = candidates()[:2]
    mixed[0] = NodeWithScore(node=mixed[0].node.model_copy(update={"embedding": [1.0, 0.0]}))
    mixed[1] = NodeWithScore(node=mixed[1].node.model_copy(update={"embedding": [1.0, 0, 0]}))
    with pytest.raises(ValueError, match=r"different dimensions \[2, 3\]"):
        SVMReranker(embed_model=model).postprocess_nodes(
            mixed, query_bundle=QueryBundle("", embedding=[1.0, 0.0])
        )
    with pytest.raises(ValueError, match="query is empty"):
        SVMReranker(embed_model=model).postprocess_nodes(candidates(), query_str="  ")
