"""SVMRetriever inside LlamaIndex: query engine, fusion, async, and a differential test
against LlamaIndex's own exemplar SVM (``vector_store_query_mode="svm"``)."""

from __future__ import annotations

import asyncio
import itertools
import time

import numpy as np
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from svm_retrievers import SVMIndex
from svm_retrievers.llama_index import SCORE_KEYS, SVMReranker, SVMRetriever
from tests.li_helpers import HashEmbedding, corpus_nodes


@pytest.fixture
def model() -> HashEmbedding:
    return HashEmbedding()


def ids(results) -> list[str]:
    return [r.node.node_id for r in results]


# ------------------------------------------------------------------------- end to end
def test_query_engine_with_mock_llm(model):
    retriever = SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=model, similarity_top_k=2
    )
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query("Which language is focused on memory safety?")
    assert ids(response.source_nodes)[0] == "rust"
    assert len(response.source_nodes) == 2
    prompt = str(response)  # MockLLM echoes the prompt it was given
    assert "Rust is a systems programming language" in prompt
    assert "topic: code" in prompt  # ordinary metadata reaches the LLM ...
    for key in SCORE_KEYS:  # ... the scores do not
        assert key not in prompt
        assert all(type(n.node.metadata[key]) is float for n in response.source_nodes)


async def test_query_engine_async(model):
    retriever = SVMRetriever.from_defaults(
        nodes=corpus_nodes(), embed_model=model, similarity_top_k=1
    )
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = await engine.aquery("string instrument played with a bow")
    assert ids(response.source_nodes) == ["violin"]


def test_query_engine_with_reranker_postprocessor(model):
    vindex = VectorStoreIndex(corpus_nodes(), embed_model=model)
    engine = vindex.as_query_engine(
        llm=MockLLM(),
        similarity_top_k=8,
        node_postprocessors=[SVMReranker(embed_model=model, top_n=2, mode="hybrid")],
    )
    response = engine.query("dry desert with little rain")
    assert len(response.source_nodes) == 2
    assert response.source_nodes[0].node.node_id == "desert"
    assert "hybrid_score" not in str(response)
    assert response.source_nodes[0].score == response.source_nodes[0].node.metadata["hybrid_score"]


@pytest.mark.parametrize("use_async", [False, True])
def test_inside_query_fusion_retriever(model, use_async):
    nodes = corpus_nodes()
    svm = SVMRetriever.from_defaults(nodes=nodes, embed_model=model, similarity_top_k=3)
    knn = VectorStoreIndex(nodes, embed_model=model).as_retriever(similarity_top_k=3)
    fusion = QueryFusionRetriever(
        [svm, knn],
        llm=MockLLM(),
        num_queries=1,  # no generated queries: the LLM is never called
        mode="reciprocal_rerank",
        similarity_top_k=3,
        use_async=use_async,
    )
    query = "python programming language code"
    assert ids(svm.retrieve(query))[0] == ids(knn.retrieve(query))[0] == "python"
    results = fusion.retrieve(query)
    assert len(results) == 3
    # The same node from both retrievers is fused into one (LlamaIndex keys fusion by
    # node.hash, which our score keys must not change): rank 1 twice gives 2 / (60 + 0).
    assert ids(results)[0] == "python"
    assert results[0].score == pytest.approx(2 / 60)


# ------------------------------------------------------------------------- async
async def test_aretrieve_matches_retrieve_and_embeds_async(model):
    retriever = SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=model)
    sync = retriever.retrieve("red fruit for pies")
    asynced = await retriever.aretrieve("red fruit for pies")
    assert ids(sync) == ids(asynced)
    assert [r.score for r in sync] == pytest.approx([r.score for r in asynced])
    assert model.queries == ["red fruit for pies"] * 2
    assert model.async_queries == ["red fruit for pies"]  # aretrieve used the async API


async def test_event_loop_stays_responsive_during_a_large_search():
    n, dim = 12_000, 128
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim))
    node_ids = [f"n{i}" for i in range(n)]
    core = SVMIndex.from_embeddings(vectors, node_ids, solver="liblinear")
    nodes = [TextNode(id_=i, text="") for i in node_ids]
    retriever = SVMRetriever(core, nodes, embed_model=HashEmbedding(dim=dim))
    query = [float(x) for x in rng.normal(size=dim)]

    from llama_index.core.schema import QueryBundle

    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    results = await retriever.aretrieve(QueryBundle("q", embedding=query))
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    assert ids(results) == [h.id for h in core.search(query, k=4)]
    # A blocked loop would tick at most once; the search ran in a worker thread.
    assert elapsed > 0.05, "the search was too fast to show anything"
    assert ticks >= 5, f"the loop ticked {ticks} times in {elapsed:.2f}s"


# ------------------------------------------------------------------------- differential
VOCAB = (
    "apple river stone cloud engine garden violin paper silver window orbit candle forest "
    "harbor lemon marble needle ocean pepper quartz rocket saddle tiger umbrella valley "
    "wagon yellow zebra anchor bridge castle desert eagle falcon glacier hammer island "
    "jungle kettle ladder meadow nectar oyster palace quiver ribbon summit tunnel velvet"
).split()


def differential_corpus(n_docs: int = 80, seed: int = 7) -> tuple[list[TextNode], list[str]]:
    rng = np.random.default_rng(seed)
    nodes = []
    for i in range(n_docs):
        words = rng.choice(VOCAB, size=int(rng.integers(4, 12)), replace=True)
        nodes.append(TextNode(id_=f"d{i}", text=" ".join(words), metadata={"part": int(i % 3)}))
    queries = [" ".join(rng.choice(VOCAB, size=3, replace=False)) for _ in range(12)]
    return nodes, queries


def _fair(scores: list[float], gap: float = 1e-4) -> bool:
    """No near-ties among the compared ranks (float32 storage may reorder exact ties)."""
    return all(a - b > gap for a, b in itertools.pairwise(scores))


@pytest.mark.parametrize("solver", ["liblinear", "auto"])
@pytest.mark.parametrize("with_filter", [False, True])
def test_same_top_k_as_llama_index_svm(solver, with_filter):
    # LlamaIndex's SVM (get_top_k_embeddings_learner) trains LinearSVC(class_weight="balanced",
    # C=0.1, tol=1e-6, max_iter=10000) on [query; docs] and ranks decision_function(docs): the
    # query is never among the ranked rows, so there is no query-swap quirk to design around.
    # It does not normalize: HashEmbedding returns unit vectors, so both see the same data.
    model = HashEmbedding(dim=64)
    nodes, queries = differential_corpus()
    k = 5
    filters = (
        MetadataFilters(filters=[MetadataFilter(key="part", value=1)]) if with_filter else None
    )
    theirs = VectorStoreIndex(nodes, embed_model=model).as_retriever(
        vector_store_query_mode="svm", similarity_top_k=k + 1, filters=filters
    )
    ours = SVMRetriever.from_defaults(
        nodes=nodes,
        embed_model=model,
        mode="svm",
        similarity_top_k=k,
        solver=solver,
        filters=filters,
    )
    compared = 0
    for q in queries:
        expected = theirs.retrieve(q)
        if not _fair([r.score for r in expected]):
            continue
        compared += 1
        got = ours.retrieve(q)
        assert ids(got) == ids(expected)[:k], q
        assert [r.score for r in got] == pytest.approx([r.score for r in expected[:k]], abs=1e-4)
        if with_filter:
            assert all(r.node.metadata["part"] == 1 for r in got)
    assert compared >= len(queries) - 2, f"only {compared} queries had no near-ties"
