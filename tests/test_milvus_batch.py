"""Batched search over a real Milvus Lite database: one request per round for many queries."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from pymilvus import MilvusClient

from svm_retrievers import SVMIndex
from svm_retrievers.sources import CandidateSearcher, InMemorySource
from svm_retrievers.sources.milvus import MilvusSVMSearcher
from tests.test_sources import IDS, METAS, TEXTS, VECTORS, D, assert_same_top

BATCH = np.stack(
    [VECTORS[i] + 0.3 * np.random.default_rng(i).normal(size=D) for i in range(5, 2000, 250)]
)


class CountingClient(MilvusClient):
    """A real MilvusClient that counts the search and get requests it sends."""

    searches = 0
    gets = 0

    def search(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.searches += 1
        return super().search(*args, **kwargs)

    def get(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.gets += 1
        return super().get(*args, **kwargs)


@pytest.fixture(scope="module")
def searcher(tmp_path_factory) -> MilvusSVMSearcher:
    client = CountingClient(uri=str(tmp_path_factory.mktemp("milvus-batch") / "svm.db"))
    s = MilvusSVMSearcher(client=client, collection_name="docs", m=200, verify_m=200)
    s.add(VECTORS, IDS, texts=TEXTS, metadatas=METAS)
    return s


@pytest.mark.parametrize("where", [None, {"lang": "en"}, "group in [1, 2]"])
@pytest.mark.parametrize("mode", ["svm", "hybrid", "knn"])
def test_batched_search_equals_one_query_at_a_time(searcher, where, mode):
    client = searcher.source.client
    before, gets = client.searches, client.gets
    batched = searcher.search_batch(BATCH, k=10, mode=mode, where=where)
    batch_searches, batch_gets = client.searches - before, client.gets - gets
    assert len(searcher.last_batch) == len(BATCH)
    assert all(r.exact for r in searcher.last_batch)

    before, gets = client.searches, client.gets
    singles = [searcher.search(q, k=10, mode=mode, where=where) for q in BATCH]
    single_searches, single_gets = client.searches - before, client.gets - gets

    for got, want in zip(batched, singles, strict=True):
        assert_same_top(got, want, atol=1e-9)
        for g, w in zip(got, want, strict=True):
            assert g.knn_score == pytest.approx(w.knn_score, abs=1e-9)
            assert g.hybrid_score == pytest.approx(w.hybrid_score, abs=1e-9)
            assert (g.text, g.metadata) == (w.text, w.metadata)
    # Each round's searches of all queries go out as one request, and so do the fetches of
    # the documents their checks find (one get per round instead of one per query).
    assert batch_searches * 3 <= single_searches, (batch_searches, single_searches)
    assert single_gets >= len(BATCH) and batch_gets * 3 <= single_gets, (batch_gets, single_gets)


def test_batched_search_matches_the_in_memory_exact_svm(searcher):
    reference = SVMIndex.from_embeddings(VECTORS, IDS, texts=TEXTS, metadatas=METAS, tol=1e-8)
    for hits, q in zip(searcher.search_batch(BATCH, k=10, mode="svm"), BATCH, strict=True):
        assert_same_top(hits, reference.search(q, k=10, mode="svm"))


def test_batch_over_a_source_without_batched_searches_equals_single_queries():
    index = SVMIndex.from_embeddings(VECTORS, IDS, texts=TEXTS, metadatas=METAS)
    searcher = CandidateSearcher(InMemorySource(index), m=200)
    batched = searcher.search_batch(BATCH[:3], k=5, mode="svm", where={"group": 1})
    for got, q in zip(batched, BATCH[:3], strict=True):
        assert_same_top(got, searcher.search(q, k=5, mode="svm", where={"group": 1}), atol=1e-9)


def test_batched_search_rejects_bad_input_by_name(searcher):
    with pytest.raises(ValueError, match="2-D"):
        searcher.search_batch(np.zeros((0, D)), k=3)
    with pytest.raises(ValueError, match="2-D"):
        searcher.search_batch(BATCH[0], k=3)
    with pytest.raises(ValueError, match="dimension"):
        searcher.search_batch(np.ones((2, D + 1)), k=3)
    with pytest.raises(ValueError, match="NaN|finite"):
        searcher.search_batch(np.full((2, D), np.nan), k=3)
    with pytest.raises(ValueError, match="k"):
        searcher.search_batch(BATCH, k=0)
    with pytest.raises(ValueError, match="positives"):
        searcher.search_batch(BATCH, k=3, positives=[IDS[0]])


@pytest.mark.parametrize("name", ["docs/milvus.md", "README.md"])
def test_docs_searcher_example_runs_as_written(name, tmp_path, monkeypatch, capsys):
    """The core searcher example of the Milvus section (docs/milvus.md, README.md) runs."""
    text = (Path(__file__).parents[1] / name).read_text()
    start = text.index("## Past one machine")
    section = text[start : text.index("### The LangChain and LlamaIndex adapters", start)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], name, "exec"), {"__name__": "milvus_docs"})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 7
    assert printed[5].startswith("True [")  # certified, and how the working set grew
    assert printed[6] == "['doc7', 'doc9', 'doc11'] True"  # each en document finds itself
    assert (tmp_path / "svm_milvus.db").exists()
