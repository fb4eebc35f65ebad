"""The adapters over any CandidateSearcher (here the in-memory source: no database needed)."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_helpers import BagOfWordsEmbeddings, corpus
from li_helpers import HashEmbedding, corpus_nodes
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from svm_retrievers import SVMIndex
from svm_retrievers import langchain as lc
from svm_retrievers import llama_index as li
from svm_retrievers.sources import CandidateSearcher, InMemorySource

QUERIES = ["an svm with a maximum margin", "bake bread and cake in the oven"]


def test_langchain_over_a_candidate_searcher_matches_the_index():
    embedding = BagOfWordsEmbeddings()
    memory = lc.SVMRetriever.from_documents(corpus(), embedding, mode="svm")
    searcher = CandidateSearcher(InMemorySource(SVMIndex()), mode="svm")
    retriever = lc.SVMRetriever(index=searcher, embedding=embedding, mode="svm")
    retriever.add_documents(corpus())
    assert len(searcher) == 12 and "t3" in searcher and "nope" not in searcher
    for query in QUERIES:
        got, expected = retriever.invoke(query, k=3), memory.invoke(query, k=3)
        assert [d.id for d in got] == [d.id for d in expected]
        for key in ("knn_score", "svm_score", "hybrid_score", "relevance"):
            assert got[0].metadata[key] == pytest.approx(expected[0].metadata[key], abs=1e-5)
        kept = retriever.invoke(query, k=12, score_threshold=0.3)
        assert [d.id for d in kept] == [
            d.id for d in memory.invoke(query, k=12, score_threshold=0.3)
        ]
    assert [d.id for d in retriever.get_by_ids(["t5", "nope", "t1"])] == ["t5", "t1"]
    with pytest.raises(ValueError, match="already in the index"):
        retriever.add_texts(["again"], ids=["t1"])
    retriever.delete(["t0"])
    assert "t0" not in searcher and len(retriever.invoke(QUERIES[0], k=20)) == 11
    with pytest.raises(ValueError, match="in-memory SVMIndex only"):
        retriever.invoke(QUERIES[0], negatives=np.ones((1, embedding.dim)))
    with pytest.raises(ValueError, match="score_threshold must be in"):
        retriever.invoke(QUERIES[0], score_threshold=1.5)


def test_llama_index_over_a_candidate_searcher_matches_the_index():
    embed = HashEmbedding()
    memory = li.SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=embed)
    searcher = CandidateSearcher(InMemorySource(SVMIndex()))
    retriever = li.SVMRetriever(searcher, embed_model=embed, mode="svm")
    assert retriever.insert_nodes(corpus_nodes())[:2] == ["apple", "banana"]
    got, expected = retriever.retrieve("sweet fruit"), memory.retrieve("sweet fruit")
    assert [n.node.node_id for n in got] == [n.node.node_id for n in expected]
    assert got[0].node.get_content() == expected[0].node.get_content()
    retriever.filters = memory.filters = MetadataFilters(
        filters=[MetadataFilter(key="topic", value="code")]
    )
    got, expected = retriever.retrieve("a language"), memory.retrieve("a language")
    assert [n.node.node_id for n in got] == [n.node.node_id for n in expected]
    assert {n.node.metadata["topic"] for n in got} == {"code"}
    retriever.delete_nodes(["python"])
    assert "python" not in [n.node.node_id for n in retriever.retrieve("a language")]


def test_llama_index_in_memory_insert_and_delete_nodes():
    embed = HashEmbedding()
    retriever = li.SVMRetriever.from_defaults(nodes=corpus_nodes(), embed_model=embed)
    cello = TextNode(id_="cello", text="The cello is a string instrument played with a bow.")
    assert retriever.insert_nodes([cello]) == ["cello"]
    top = retriever.retrieve("a string instrument played with a bow")
    assert "cello" in [n.node.node_id for n in top[:2]]
    assert len(retriever.nodes) == 11 and len(retriever.index) == 11
    with pytest.raises(ValueError, match="already in the index"):
        retriever.insert_nodes([cello])
    with pytest.raises(TypeError, match="wrap it"):
        retriever.insert_nodes(cello)  # type: ignore[arg-type]
    retriever.delete_nodes(["cello"])
    assert "cello" not in [n.node_id for n in retriever.nodes]
    assert retriever.insert_nodes([]) == []
