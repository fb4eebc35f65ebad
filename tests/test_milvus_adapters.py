"""The LangChain and LlamaIndex adapters over a real Milvus Lite database (no mocks).

One Milvus Lite database per module (start-up is slow); each test uses its own collection.
Skipped where milvus-lite is unavailable (e.g. Windows).
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_helpers import BagOfWordsEmbeddings, corpus
from langchain_tests.integration_tests import RetrieversIntegrationTests
from li_helpers import HashEmbedding, corpus_nodes
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeRelationship, QueryBundle, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.core.vector_stores.utils import node_to_metadata_dict
from pymilvus import DataType, MilvusClient

from svm_retrievers import langchain as lc
from svm_retrievers import llama_index as li
from svm_retrievers.sources.milvus import MilvusSVMSearcher
from tests.test_sources import IDS, METAS, QUERIES, TEXTS, VECTORS, D, N

SCORES = ("knn_score", "svm_score", "hybrid_score", "relevance")
NOT_HYBRID = ("knn_score", "svm_score", "relevance")
BOW = BagOfWordsEmbeddings()
LC_QUERIES = [
    "an svm with a maximum margin",
    "bake bread and cake in the oven",
    "documents ranked for a query by a retriever",
]


@cache
def _uri() -> str:
    """One Milvus Lite file for the module and the standard suite (removed at exit)."""
    folder = tempfile.mkdtemp(prefix="svm-milvus-adapters-")
    atexit.register(shutil.rmtree, folder, True)
    return str(Path(folder) / "adapters.db")


class LookupEmbeddings(Embeddings):
    """Precomputed vectors: query ``"q<i>"`` is ``QUERIES[i]``; documents are not embedded."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("documents come with their vectors")

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in QUERIES[int(text[1:])]]


def assert_same_scores(
    got: dict[str, Any], expected: dict[str, Any], atol: float = 1e-4, keys: tuple = SCORES
) -> None:
    """Same scores; over a large collection ``hybrid_score`` is fused over the working set
    of candidates (not the whole collection), so it is compared on small ones only."""
    for key in keys:
        assert type(got[key]) is float
        assert got[key] == pytest.approx(expected[key], abs=atol), key


def _payload(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k not in SCORES}


# --------------------------------------------------------------------------- LangChain
@pytest.fixture(scope="module")
def lc_pair() -> tuple[lc.SVMRetriever, lc.SVMRetriever]:
    """(in-memory, Milvus) retrievers over the same 12 documents."""
    memory = lc.SVMRetriever.from_documents(corpus(), BOW)
    milvus = lc.SVMRetriever.from_milvus(BOW, _uri(), "lc_docs", dim=BOW.dim, relevance=True)
    milvus.add_documents(corpus())
    return memory, milvus


@pytest.fixture(scope="module")
def lc_large() -> tuple[lc.SVMRetriever, lc.SVMRetriever]:
    """(in-memory, Milvus) retrievers over 2000 precomputed vectors; Milvus sees 200 at first."""
    pairs = list(zip(TEXTS, VECTORS.tolist(), strict=True))
    memory = lc.SVMRetriever.from_embeddings(pairs, LookupEmbeddings(), METAS, IDS)
    milvus = lc.SVMRetriever.from_milvus(
        LookupEmbeddings(), _uri(), "lc_large", dim=D, m=200, verify_m=200, relevance=True
    )
    milvus.add_embeddings(pairs, METAS, IDS)
    return memory, milvus


@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_langchain_milvus_top_k_equals_in_memory(lc_pair, mode):
    memory, milvus = lc_pair
    for query in LC_QUERIES:
        got = milvus.invoke(query, k=4, mode=mode)
        expected = memory.invoke(query, k=4, mode=mode)
        assert [d.id for d in got] == [d.id for d in expected]
        for a, b in zip(got, expected, strict=True):
            assert a.page_content == b.page_content
            assert _payload(a.metadata) == _payload(b.metadata)
            assert_same_scores(a.metadata, b.metadata)


def test_langchain_milvus_exact_svm_from_candidates(lc_large):
    memory, milvus = lc_large
    for i in range(len(QUERIES)):
        got = milvus.invoke(f"q{i}", k=10)
        expected = memory.invoke(f"q{i}", k=10)
        assert [d.id for d in got] == [d.id for d in expected]
        for a, b in zip(got, expected, strict=True):
            assert_same_scores(a.metadata, b.metadata, keys=NOT_HYBRID)
        assert milvus.index.last.exact and milvus.index.last.n_total == N


def test_langchain_milvus_in_an_lcel_chain(lc_pair):
    memory, milvus = lc_pair
    prompt = ChatPromptTemplate.from_template("Context:\n{context}")
    llm = FakeListChatModel(responses=["a hot oven"])
    seen: list[list[Document]] = []

    def context(docs: list[Document]) -> str:
        seen.append(docs)
        return "\n".join(f"[{d.id}] {d.page_content}" for d in docs)

    chain = milvus.with_config(run_name="milvus") | context | prompt | llm | StrOutputParser()
    assert chain.invoke("bake bread in the oven") == "a hot oven"
    assert [d.id for d in seen[0]] == [d.id for d in memory.invoke("bake bread in the oven")]
    answers = chain.batch(LC_QUERIES[:2])
    assert answers == ["a hot oven", "a hot oven"]


async def test_langchain_milvus_async_matches_sync(lc_pair):
    _, milvus = lc_pair
    got = await milvus.ainvoke(LC_QUERIES[0], k=3)
    assert [d.id for d in got] == [d.id for d in milvus.invoke(LC_QUERIES[0], k=3)]


def test_langchain_milvus_per_call_k_threshold_and_filters(lc_pair, lc_large):
    memory, milvus = lc_pair
    query = LC_QUERIES[2]
    assert len(milvus.invoke(query, k=1)) == 1
    assert len(milvus.invoke(query, k=50)) == 12
    strict = milvus.invoke(query, k=12, score_threshold=0.3)
    assert [d.id for d in strict] == [d.id for d in memory.invoke(query, k=12, score_threshold=0.3)]
    assert 0 < len(strict) < 12 and all(d.metadata["relevance"] >= 0.3 for d in strict)
    # The filter is pushed down: the SVM is the one over the 3 matching documents.
    space = milvus.invoke(query, k=5, filter={"topic": "space"})
    assert {d.metadata["topic"] for d in space} == {"space"} and len(space) == 3
    assert milvus.index.last.n_total == 3
    expected = memory.invoke(query, k=5, filter={"topic": "space"})
    assert [d.id for d in space] == [d.id for d in expected]
    assert_same_scores(space[0].metadata, expected[0].metadata)
    expr = milvus.invoke(query, k=12, filter='n >= 6 and topic != "retrieval"')
    assert sorted(d.metadata["n"] for d in expr) == [6, 7, 8]
    big_memory, big_milvus = lc_large
    got = big_milvus.invoke("q1", k=8, filter={"group": [1, 2], "lang": "en"})
    assert big_milvus.index.last.n_total == N // 4
    # A list means "in" for Milvus; the in-memory index takes a predicate for that.
    ref = big_memory.invoke(
        "q1", k=8, filter=lambda meta: meta["group"] in (1, 2) and meta["lang"] == "en"
    )
    assert [d.id for d in got] == [d.id for d in ref]


def test_langchain_milvus_add_and_delete_reach_the_database():
    embedding = BagOfWordsEmbeddings()
    retriever = lc.SVMRetriever.from_milvus(embedding, _uri(), "lc_writes", dim=embedding.dim)
    retriever.add_documents(corpus())
    client = MilvusClient(_uri())
    try:
        assert client.query("lc_writes", filter="", output_fields=["count(*)"])[0]["count(*)"] == 12
        new = Document(
            page_content="quantum computers use qubits", metadata={"topic": "q"}, id="new"
        )
        assert retriever.add_documents([new]) == ["new"]
        (row,) = client.get("lc_writes", ids=["new"])
        assert row["text"] == new.page_content and row["topic"] == "q"
        top = retriever.invoke("qubits in quantum computers", k=1)[0]
        assert top.id == "new" and top.metadata["topic"] == "q"
        assert retriever.get_by_ids(["new", "nope", "t0"])[0].page_content == new.page_content
        with pytest.raises(ValueError, match="already in the index"):
            retriever.add_texts(["again"], ids=["new"])
        retriever.delete(["new", "t0"])
        assert client.get("lc_writes", ids=["new", "t0"]) == []
        ids = [d.id for d in retriever.invoke("qubits in quantum computers", k=20)]
        assert "new" not in ids and "t0" not in ids and len(ids) == 11
    finally:
        client.close()


def test_langchain_milvus_reads_a_langchain_milvus_collection():
    """langchain-milvus's default schema: `pk` VARCHAR, `text`, `vector`, one field per key."""
    client = MilvusClient(_uri())
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("topic", DataType.VARCHAR, max_length=65_535)
    schema.add_field("n", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=65_535)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=65_535)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=BOW.dim)
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection("lc_native", schema=schema, index_params=index_params)
    docs = corpus()
    client.insert(
        "lc_native",
        [
            {
                "pk": d.id,
                "text": d.page_content,
                "vector": BOW.embed_query(d.page_content),
                "topic": d.metadata["topic"],
                "n": d.metadata["n"],
            }
            for d in docs
        ],
    )
    client.close()
    retriever = lc.SVMRetriever.from_milvus(BOW, _uri(), "lc_native", relevance=True)
    assert retriever.index.source.id_field == "pk" and retriever.index.source.metric == "L2"
    memory = lc.SVMRetriever.from_documents(
        [
            Document(d.page_content, metadata={k: d.metadata[k] for k in ("topic", "n")}, id=d.id)
            for d in docs
        ],
        BOW,
    )
    for query in LC_QUERIES:
        got, expected = retriever.invoke(query, mode="svm"), memory.invoke(query, mode="svm")
        assert [d.id for d in got] == [d.id for d in expected]
        assert _payload(got[0].metadata) == _payload(expected[0].metadata)
        assert_same_scores(got[0].metadata, expected[0].metadata)
    assert {d.metadata["topic"] for d in retriever.invoke("x", filter={"topic": "svm"})} == {"svm"}


def test_langchain_milvus_writes_to_an_auto_id_integer_key_collection():
    """langchain-milvus with ``auto_id=True``: `pk` INT64 made by Milvus; ids come back."""
    client = MilvusClient(_uri())
    schema = client.create_schema(auto_id=True, enable_dynamic_field=True)
    schema.add_field("pk", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("text", DataType.VARCHAR, max_length=65_535)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=BOW.dim)
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="HNSW", metric_type="L2")
    client.create_collection("lc_auto", schema=schema, index_params=index_params)
    client.close()
    retriever = lc.SVMRetriever.from_milvus(BOW, _uri(), "lc_auto")
    docs = corpus()
    ids = retriever.add_texts(
        [d.page_content for d in docs], [{"topic": d.metadata["topic"]} for d in docs]
    )
    assert len(set(ids)) == len(docs) and all(i.isdigit() for i in ids)
    got = retriever.invoke(docs[3].page_content, k=1, mode="knn")
    assert got[0].id == ids[3] and got[0].page_content == docs[3].page_content
    assert retriever.invoke("x", filter={"topic": "nothing"}) == []
    with pytest.raises(ValueError, match="auto_id"):
        retriever.add_texts(["one more"], ids=["987654321"])
    retriever.delete([ids[3]])
    assert retriever.get_by_ids([ids[3], ids[4]])[0].id == ids[4]


def test_langchain_milvus_clear_errors(lc_pair):
    _, milvus = lc_pair
    with pytest.raises(ValueError, match="does not exist"):
        lc.SVMRetriever.from_milvus(BOW, _uri(), "no_such_collection")
    with pytest.raises(ValueError, match="k must be"):
        milvus.invoke("svm", k=0)
    with pytest.raises(ValueError, match="k must be"):
        lc.SVMRetriever.from_milvus(BOW, _uri(), "lc_docs", k=0)
    wrong = lc.SVMRetriever.from_milvus(BagOfWordsEmbeddings(dim=32), _uri(), "lc_docs")
    with pytest.raises(ValueError, match="dimension"):
        wrong.invoke("svm")
    with pytest.raises(ValueError, match="dimension"):
        wrong.add_texts(["a text"])
    with pytest.raises(ValueError, match="in-memory SVMIndex only"):
        milvus.invoke("svm", positives=["t0"])
    with pytest.raises(TypeError, match="from_milvus"):
        milvus.save(Path(tempfile.gettempdir()) / "never-written")
    with pytest.raises(TypeError, match="where must be"):
        milvus.invoke("svm", filter=lambda meta: True)


class TestMilvusSVMRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own retriever suite on the Milvus-backed retriever."""

    @property
    def retriever_constructor(self) -> type[lc.SVMRetriever]:
        return lc.SVMRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": _standard_searcher(), "embedding": BOW}

    @property
    def retriever_query_example(self) -> str:
        return "which svm ranks documents for a query"


@cache
def _standard_searcher() -> MilvusSVMSearcher:
    searcher = MilvusSVMSearcher.open(_uri(), "lc_standard", dim=BOW.dim)
    if len(searcher) == 0:
        lc.SVMRetriever(index=searcher, embedding=BOW).add_documents(corpus())
    return searcher


# --------------------------------------------------------------------------- LlamaIndex
EMBED = HashEmbedding()
LI_QUERIES = ["sweet fruit from trees", "a programming language for memory safety", "dry rain"]


@pytest.fixture(scope="module")
def li_pair() -> tuple[li.SVMRetriever, li.SVMRetriever]:
    memory = li.SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=EMBED)
    milvus = li.SVMRetriever.from_milvus(_uri(), "li_docs", EMBED, dim=EMBED.dim, relevance=True)
    milvus.insert_nodes(corpus_nodes())
    return memory, milvus


def _node_ids(results) -> list[str]:
    return [r.node.node_id for r in results]


@pytest.mark.parametrize("mode", ["svm", "knn", "hybrid"])
def test_llama_index_milvus_top_k_equals_in_memory(li_pair, mode):
    memory, milvus = li_pair
    memory.mode = milvus.mode = mode
    try:
        for query in LI_QUERIES:
            got, expected = milvus.retrieve(query), memory.retrieve(query)
            assert _node_ids(got) == _node_ids(expected)
            for a, b in zip(got, expected, strict=True):
                assert a.score == pytest.approx(b.score, abs=1e-4)
                assert a.node.get_content() == b.node.get_content()
                assert a.node.metadata.keys() == b.node.metadata.keys()
                assert_same_scores(a.node.metadata, b.node.metadata)
                assert set(SCORES) <= set(a.node.excluded_llm_metadata_keys)
    finally:
        memory.mode = milvus.mode = "svm"


def test_llama_index_milvus_exact_svm_from_candidates():
    nodes = [
        TextNode(id_=i, text=t, metadata=m, embedding=v.tolist())
        for i, t, m, v in zip(IDS, TEXTS, METAS, VECTORS, strict=True)
    ]
    memory = li.SVMRetriever.from_defaults(nodes=nodes, embed_model=EMBED, similarity_top_k=10)
    milvus = li.SVMRetriever.from_milvus(
        _uri(),
        "li_large",
        EMBED,
        dim=D,
        similarity_top_k=10,
        m=200,
        verify_m=200,
        relevance=True,
    )
    milvus.insert_nodes(nodes)
    for q in QUERIES:
        bundle = QueryBundle(query_str="q", embedding=[float(x) for x in q])
        got, expected = milvus.retrieve(bundle), memory.retrieve(bundle)
        assert _node_ids(got) == _node_ids(expected)
        assert_same_scores(got[0].node.metadata, expected[0].node.metadata, keys=NOT_HYBRID)
        assert milvus.index.last.exact
    milvus.filters = memory.filters = MetadataFilters(
        filters=[
            MetadataFilter(key="group", value=[1, 2], operator=FilterOperator.IN),
            MetadataFilter(key="lang", value="en"),
        ]
    )
    bundle = QueryBundle(query_str="q", embedding=[float(x) for x in QUERIES[1]])
    assert _node_ids(milvus.retrieve(bundle)) == _node_ids(memory.retrieve(bundle))
    assert milvus.index.last.n_total == N // 4


def test_llama_index_milvus_in_a_query_engine(li_pair):
    memory, milvus = li_pair
    engine = RetrieverQueryEngine.from_args(milvus, llm=MockLLM())
    response = engine.query("sweet fruit from trees")
    assert _node_ids(response.source_nodes) == _node_ids(memory.retrieve("sweet fruit from trees"))
    prompt = str(response)  # MockLLM echoes the prompt
    assert "Apples are a crisp sweet fruit" in prompt
    assert "svm_score" not in prompt and "_node_content" not in prompt


async def test_llama_index_milvus_async_query_engine(li_pair):
    _, milvus = li_pair
    engine = RetrieverQueryEngine.from_args(milvus, llm=MockLLM())
    response = await engine.aquery("a programming language for memory safety")
    assert response.source_nodes[0].node.node_id == "rust"


@pytest.mark.parametrize(
    "filters",
    [
        MetadataFilters(filters=[MetadataFilter(key="topic", value="code")]),
        MetadataFilters(
            filters=[
                MetadataFilter(key="rank", value=2, operator=FilterOperator.GT),
                MetadataFilter(key="topic", value=["fruit", "music"], operator=FilterOperator.IN),
            ],
            condition=FilterCondition.OR,
        ),
        MetadataFilters(
            filters=[MetadataFilter(key="topic", value=["code"], operator=FilterOperator.NIN)],
            condition=FilterCondition.NOT,
        ),
    ],
)
def test_llama_index_milvus_filters_are_passed_down(li_pair, filters):
    memory, milvus = li_pair
    memory.filters = milvus.filters = filters
    memory.similarity_top_k = milvus.similarity_top_k = 10
    try:
        for query in LI_QUERIES:
            got, expected = milvus.retrieve(query), memory.retrieve(query)
            assert _node_ids(got) == _node_ids(expected)
            assert milvus.index.last.n_total == len(expected)
    finally:
        memory.filters = milvus.filters = None
        memory.similarity_top_k = milvus.similarity_top_k = 4


def test_llama_index_milvus_nested_filters(li_pair):
    """Nested filters (which LlamaIndex's in-memory store refuses) become one Milvus expression."""
    _, milvus = li_pair
    milvus.similarity_top_k = 10
    milvus.filters = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", value="nature", operator=FilterOperator.NE),
            MetadataFilters(
                filters=[
                    MetadataFilter(key="rank", value=1, operator=FilterOperator.LTE),
                    MetadataFilter(key="rank", value=8, operator=FilterOperator.GTE),
                ],
                condition=FilterCondition.OR,
            ),
        ]
    )
    try:
        got = milvus.retrieve("fruit and music")
    finally:
        milvus.filters = None
        milvus.similarity_top_k = 4
    assert sorted(_node_ids(got)) == ["apple", "banana", "violin"]
    assert milvus.index.last.n_total == 3


def test_llama_index_milvus_insert_and_delete_reach_the_database():
    retriever = li.SVMRetriever.from_milvus(
        _uri(), "li_writes", EMBED, dim=EMBED.dim, similarity_top_k=3
    )
    retriever.insert_nodes(corpus_nodes())
    node = TextNode(
        id_="cello",
        text="The cello is a large string instrument played with a bow.",
        metadata={"topic": "music", "rank": 10},
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-music")},
    )
    assert retriever.insert_nodes([node]) == ["cello"]
    client = MilvusClient(_uri())
    try:
        (row,) = client.get("li_writes", ids=["cello"])
        assert row["ref_doc_id"] == "doc-music" and row["topic"] == "music"
        assert "_node_content" in row and len(row["embedding"]) == EMBED.dim
        assert row["text"] == node.get_content()  # and in _node_content, for MilvusVectorStore
        top = retriever.retrieve("a string instrument played with a bow")
        assert {r.node.node_id for r in top[:2]} == {"cello", "violin"}
        cello = next(r.node for r in top if r.node.node_id == "cello")
        assert cello.ref_doc_id == "doc-music" and cello.get_content() == node.get_content()
        assert _payload(cello.metadata) == node.metadata
        retriever.delete_nodes(["cello", "violin"])
        assert client.get("li_writes", ids=["cello", "violin"]) == []
        ids = _node_ids(retriever.retrieve("a string instrument played with a bow"))
        assert "cello" not in ids and "violin" not in ids
    finally:
        client.close()


def test_llama_index_milvus_reads_a_milvus_vector_store_collection():
    """Rows as llama-index-vector-stores-milvus writes them: `id`, `embedding` (IP), dynamic
    fields from node_to_metadata_dict, the text inside `_node_content`."""
    client = MilvusClient(_uri())
    client.create_collection(
        "li_native",
        dimension=EMBED.dim,
        primary_field_name="id",
        vector_field_name="embedding",
        id_type="string",
        metric_type="IP",
        max_length=65_535,
    )
    rows = []
    for node in corpus_nodes():
        entry = node_to_metadata_dict(node)
        entry["id"] = node.node_id
        entry["embedding"] = EMBED.get_text_embedding(node.get_content(metadata_mode="embed"))
        rows.append(entry)
    client.insert("li_native", rows)
    client.close()
    milvus = li.SVMRetriever.from_milvus(_uri(), "li_native", EMBED, relevance=True)
    assert milvus.index.source.vector_field == "embedding" and milvus.index.source.metric == "IP"
    memory = li.SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=EMBED)
    for query in LI_QUERIES:
        got, expected = milvus.retrieve(query), memory.retrieve(query)
        assert _node_ids(got) == _node_ids(expected)
        assert got[0].node.get_content() == expected[0].node.get_content()
        assert_same_scores(got[0].node.metadata, expected[0].node.metadata)


def test_llama_index_milvus_clear_errors(li_pair):
    _, milvus = li_pair
    with pytest.raises(ValueError, match="does not exist"):
        li.SVMRetriever.from_milvus(_uri(), "no_such_collection", EMBED)
    with pytest.raises(ValueError, match="similarity_top_k"):
        li.SVMRetriever.from_milvus(_uri(), "li_docs", EMBED, similarity_top_k=0)
    wrong = li.SVMRetriever.from_milvus(_uri(), "li_docs", HashEmbedding(dim=32))
    with pytest.raises(ValueError, match="dimension"):
        wrong.retrieve("fruit")
    with pytest.raises(ValueError, match="dimension"):
        wrong.insert_nodes([TextNode(id_="x", text="some fruit")])
    with pytest.raises(TypeError, match="from_milvus"):
        milvus.persist(Path(tempfile.gettempdir()) / "never-written")
    with pytest.raises(TypeError, match="in-memory"):
        _ = milvus.nodes
    with pytest.raises(ValueError, match="nodes must be left out"):
        li.SVMRetriever(milvus.index, corpus_nodes(), embed_model=EMBED)
    milvus.filters = MetadataFilters(
        filters=[MetadataFilter(key="topic", value="f", operator=FilterOperator.TEXT_MATCH)]
    )
    try:
        with pytest.raises(ValueError, match="cannot be passed down to Milvus"):
            milvus.retrieve("fruit")
    finally:
        milvus.filters = None


# --------------------------------------------------------------------------- docs
@pytest.mark.parametrize("name", ["docs/milvus.md", "README.md"])
def test_docs_adapter_section_runs_as_written(name, tmp_path, monkeypatch, capsys):
    """The adapter examples (docs/milvus.md, README.md) run as written and print what they say."""
    doc = Path(__file__).parents[1] / name
    text = doc.read_text()
    start = text.index("### The LangChain and LlamaIndex adapters over Milvus")
    section = text[start : text.index("\n### ", start + 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "milvus_docs"}
    for block in blocks:
        exec(compile(block, str(doc), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    shown = re.findall(r"^print\(.*\)  # (.*)$", section, re.M)
    assert len(shown) == 6 and printed == shown
    assert (tmp_path / "svm_adapters.db").exists()


def test_milvus_relevance_is_opt_in(lc_pair):
    """Relevance over a database costs a pass over the collection: off unless asked for."""
    _, with_relevance = lc_pair
    plain = lc.SVMRetriever.from_milvus(BOW, _uri(), "lc_docs")
    assert plain.index.relevance is False and with_relevance.index.relevance is True
    query = LC_QUERIES[0]
    got, expected = plain.invoke(query, k=3), with_relevance.invoke(query, k=3)
    assert [d.id for d in got] == [d.id for d in expected]
    assert all(d.metadata["relevance"] == 0.0 for d in got)
    assert any(d.metadata["relevance"] > 0.0 for d in expected)
    with pytest.raises(ValueError, match="relevance=True"):
        plain.invoke(query, score_threshold=0.3)
