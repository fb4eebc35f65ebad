"""Concurrent use: searches racing adds/deletes see whole snapshots; many threads == one thread.

The oracle: a fixed base corpus never changes, and writers add and delete documents in whole
batches (one ``add`` or ``delete`` call per batch, ids ``"b<batch>-<j>"``). A search whose ``k``
covers the whole index must then return every base document and, for each batch, all of its
documents or none; each score must belong to the document it is reported with; and the SVM scores
must equal those of a fresh index built from exactly the documents that search saw.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest

from svm_retrievers import SVMIndex
from svm_retrievers.scoring import fuse

DIM = 24
BASE = 40
BATCH = 5
MODES = ("svm", "knn", "hybrid")


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _run_threads(
    targets: list[Callable[[], None]],
    seconds: float,
    until: Callable[[], bool] | None = None,
    max_seconds: float = 60.0,
) -> list[BaseException]:
    """Run ``targets`` in threads until ``seconds`` pass and ``until()`` holds (at most
    ``max_seconds``, so that a loaded machine still completes the work asked); return what
    they raised."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                while not stop.is_set():
                    fn()
            except BaseException as exc:  # report any failure from a worker thread
                errors.append(exc)
                stop.set()

        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    stop.wait(seconds)
    deadline = time.monotonic() + max_seconds - seconds
    while until is not None and not until() and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return errors


class _Corpus:
    """The base corpus plus a pool of batches, with every document's normalized vector."""

    def __init__(self, seed: int = 0, n_batches: int = 12) -> None:
        rng = np.random.default_rng(seed)
        self.base_ids = [f"base-{i}" for i in range(BASE)]
        self.base = rng.normal(size=(BASE, DIM))
        self.batches = {
            b: ([f"b{b}-{j}" for j in range(BATCH)], rng.normal(size=(BATCH, DIM)))
            for b in range(n_batches)
        }
        self.unit: dict[str, np.ndarray] = dict(zip(self.base_ids, _unit(self.base), strict=True))
        for ids, vecs in self.batches.values():
            self.unit.update(zip(ids, _unit(vecs), strict=True))
        self.queries = rng.normal(size=(6, DIM))

    def index(self, **params) -> SVMIndex:
        return SVMIndex.from_embeddings(
            self.base,
            ids=self.base_ids,
            metadatas=[{"batch": -1} for _ in range(BASE)],
            **params,
        )

    def writer(self, index: SVMIndex, seed: int) -> Callable[[], None]:
        """One step: toggle a random batch (add it whole if absent, delete it whole if present)."""
        rng = np.random.default_rng(seed)
        lock = threading.Lock()  # two writers may pick the same batch; this keeps toggles paired

        def step() -> None:
            b = int(rng.integers(len(self.batches)))
            ids, vecs = self.batches[b]
            with lock:
                if ids[0] in index:
                    index.delete(ids)
                else:
                    index.add(vecs, ids, metadatas=[{"batch": b}] * BATCH)

        return step

    def check_whole(self, ids: list[str]) -> None:
        seen = set(ids)
        assert len(seen) == len(ids), "an id appears twice in one result"
        assert set(self.base_ids) <= seen, "a base document vanished during a write"
        by_batch: dict[str, int] = defaultdict(int)
        for doc_id in seen - set(self.base_ids):
            by_batch[doc_id.split("-")[0]] += 1
        partial = {b: n for b, n in by_batch.items() if n != BATCH}
        assert not partial, f"half-applied batches visible: {partial}"

    def check_knn(self, ids: list[str], knn: np.ndarray, query: np.ndarray) -> None:
        q = query / np.linalg.norm(query)
        expected = np.array([self.unit[i] @ q for i in ids])
        np.testing.assert_allclose(knn, expected, atol=1e-5, err_msg="scores misaligned with ids")


def test_searches_during_adds_and_deletes_see_whole_snapshots():
    corpus = _Corpus(seed=1)
    index = corpus.index()
    seen_states: dict[tuple[str, ...], np.ndarray] = {}
    counts = defaultdict(int)
    q_of_state = corpus.queries[0]

    def reader(mode: str) -> Callable[[], None]:
        def step() -> None:
            hits = index.search(q_of_state, k=10_000, mode=mode)
            ids = [h.id for h in hits]
            corpus.check_whole(ids)
            corpus.check_knn(ids, np.array([h.knn_score for h in hits]), q_of_state)
            scores = np.array([h.score for h in hits])
            assert np.all(np.diff(scores) <= 0), f"{mode} results not sorted"
            assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
            counts[mode] += 1

        return step

    def scorer() -> None:
        s = index.get_scores(q_of_state)
        corpus.check_whole(s.ids)
        corpus.check_knn(s.ids, s.knn, q_of_state)
        np.testing.assert_allclose(s.hybrid, fuse(s.knn, s.svm), atol=1e-9)
        seen_states.setdefault(tuple(s.ids), s.svm)
        counts["get_scores"] += 1

    def batch_reader() -> None:
        results = index.search_batch(corpus.queries[:3], k=10_000, mode="hybrid")
        for q, hits in zip(corpus.queries[:3], results, strict=True):
            ids = [h.id for h in hits]
            corpus.check_whole(ids)
            corpus.check_knn(ids, np.array([h.knn_score for h in hits]), q)
        # one call, one snapshot: every query of the batch saw the same documents
        assert len({frozenset(h.id for h in hits) for hits in results}) == 1
        counts["search_batch"] += 1

    writer = corpus.writer(index, seed=7)
    errors = _run_threads(
        [reader("svm"), reader("knn"), reader("hybrid"), scorer, batch_reader, writer, writer],
        seconds=3.0,
        until=lambda: len(counts) == 5 and min(counts.values()) >= 2 and len(seen_states) >= 2,
    )
    assert not errors, errors[0]
    assert min(counts.values()) >= 2 and len(counts) == 5, dict(counts)
    assert len(seen_states) >= 2, "the writers never changed what readers saw"
    # The SVM scores of each snapshot a reader saw are those of an index holding exactly it.
    for ids, svm in list(seen_states.items())[:4]:
        fresh = SVMIndex.from_embeddings(np.array([corpus.unit[i] for i in ids]), ids=list(ids))
        np.testing.assert_allclose(fresh.get_scores(q_of_state).svm, svm, rtol=0, atol=1e-9)


def test_filtered_and_subset_searches_during_writes():
    corpus = _Corpus(seed=2)
    index = corpus.index()
    subset = corpus.base_ids[::2]

    def subset_reader() -> None:
        hits = index.search(corpus.queries[1], k=10_000, mode="svm", ids=subset)
        assert sorted(h.id for h in hits) == sorted(subset)

    def where_reader() -> None:
        hits = index.search(
            corpus.queries[2], k=10_000, mode="hybrid", where=lambda m: m["batch"] != -1
        )
        ids = [h.id for h in hits]
        assert not any(i.startswith("base") for i in ids)
        by_batch = defaultdict(int)
        for i in ids:
            by_batch[i.split("-")[0]] += 1
        assert all(n == BATCH for n in by_batch.values()), dict(by_batch)

    errors = _run_threads([subset_reader, where_reader, corpus.writer(index, seed=3)], seconds=2.0)
    assert not errors, errors[0]


def test_many_threads_on_a_fixed_index_answer_like_one_thread():
    # More dimensions than documents: scikit-learn then uses liblinear's dual solver, whose
    # random shuffling comes from one process-wide generator; concurrent fits used to interleave
    # their draws and give scores that differ from a single thread's.
    rng = np.random.default_rng(3)
    index = SVMIndex.from_embeddings(
        rng.normal(size=(30, 96)), metadatas=[{"i": i} for i in range(30)], tol=1e-3
    )
    queries = rng.normal(size=(4, 96))
    expected = {
        (qi, mode): index.search(q, k=10, mode=mode)
        for qi, q in enumerate(queries)
        for mode in MODES
    }
    expected_scores = [index.get_scores(q) for q in queries]
    done = defaultdict(int)

    def worker(offset: int) -> Callable[[], None]:
        state = {"i": offset}

        def step() -> None:
            i = state["i"]
            state["i"] += 1
            qi, mode = i % len(queries), MODES[(i // len(queries)) % 3]
            assert index.search(queries[qi], k=10, mode=mode) == expected[qi, mode]
            s = index.get_scores(queries[qi])
            np.testing.assert_array_equal(s.svm, expected_scores[qi].svm)
            done[offset] += 1

        return step

    errors = _run_threads(
        [worker(o) for o in range(4)], seconds=3.0, until=lambda: sum(done.values()) >= 8
    )
    assert not errors, errors[0]
    assert sum(done.values()) >= 8


def test_concurrent_saves_and_loads_of_a_changing_index(tmp_path):
    """Savers racing each other and a loader: every load is a whole snapshot of the index."""
    corpus = _Corpus(seed=4, n_batches=6)
    index = corpus.index()
    target = tmp_path / "idx"
    index.save(target)
    loads = []

    def saver() -> None:
        index.save(target)

    def loader() -> None:
        loaded = SVMIndex.load(target)
        corpus.check_whole(loaded.ids)
        for doc_id, vec in zip(loaded.ids, loaded.vectors, strict=True):
            np.testing.assert_allclose(vec, corpus.unit[doc_id], atol=1e-6)
        loads.append(len(loaded))

    errors = _run_threads(
        [saver, saver, loader, corpus.writer(index, seed=5)],
        seconds=3.0,
        until=lambda: len(loads) >= 3,
    )
    assert not errors, repr(errors[0])
    assert len(loads) >= 3
    SVMIndex.load(target)  # the last save left a whole index


# ------------------------------------------------------------------------------- adapters
def _texts(n: int) -> list[str]:
    words = "svm knn hybrid vector index query score margin kernel ranking".split()
    rng = np.random.default_rng(9)
    return [" ".join(rng.choice(words, size=6)) + f" doc {i}" for i in range(n)]


async def test_langchain_abatch_under_gather_matches_sequential_invoke():
    pytest.importorskip("langchain_core")
    lc = pytest.importorskip("svm_retrievers.langchain")
    from langchain_core.embeddings import DeterministicFakeEmbedding

    texts = _texts(60)
    retrievers = {
        mode: lc.SVMRetriever.from_texts(texts, DeterministicFakeEmbedding(size=32), k=5, mode=mode)
        for mode in MODES
    }
    queries = [f"query about {w}" for w in ("svm", "knn", "margin", "ranking", "kernel", "x")]
    expected = {
        mode: [[d.page_content for d in r.invoke(q)] for q in queries]
        for mode, r in retrievers.items()
    }
    results = await asyncio.gather(
        *(r.abatch(queries) for r in retrievers.values() for _ in range(3))
    )
    for i, docs_per_query in enumerate(results):
        mode = list(retrievers)[i // 3]
        assert [[d.page_content for d in docs] for docs in docs_per_query] == expected[mode]
        for docs in docs_per_query:
            assert all(
                isinstance(d.metadata[k], float)
                for d in docs
                for k in ("knn_score", "svm_score", "hybrid_score")
            )


async def test_llama_index_aretrieve_under_gather_matches_sequential_retrieve():
    pytest.importorskip("llama_index.core")
    li = pytest.importorskip("svm_retrievers.llama_index")
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.schema import TextNode

    class HashEmbedding(BaseEmbedding):
        """Deterministic bag-of-words hashing embedding (no network, no weights)."""

        def _vec(self, text: str) -> list[float]:
            out = np.zeros(32)
            for word in text.split():
                out[sum(map(ord, word)) % 32] += 1.0
            out[0] += 0.5
            return [float(x) for x in out]

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._vec(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._vec(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._vec(text)

    nodes = [TextNode(text=t, id_=f"n{i}") for i, t in enumerate(_texts(60))]
    retrievers = {
        mode: li.SVMRetriever.from_defaults(
            nodes=nodes, embed_model=HashEmbedding(), similarity_top_k=5, mode=mode
        )
        for mode in MODES
    }
    queries = ["svm margin", "knn vector", "hybrid ranking score", "kernel", "index query"]
    expected = {
        mode: [[(n.node.node_id, n.score) for n in r.retrieve(q)] for q in queries]
        for mode, r in retrievers.items()
    }
    jobs = [(mode, qi) for mode in MODES for qi in range(len(queries)) for _ in range(2)]
    results = await asyncio.gather(*(retrievers[m].aretrieve(queries[qi]) for m, qi in jobs))
    for (mode, qi), nodes_out in zip(jobs, results, strict=True):
        assert [(n.node.node_id, n.score) for n in nodes_out] == expected[mode][qi]


def test_writes_are_serialized_under_contention():
    """Many threads adding distinct batches at once: nothing lost, no id duplicated."""
    rng = np.random.default_rng(6)
    index = SVMIndex(dim=8)
    barrier = threading.Barrier(6)

    def add(t: int) -> None:
        barrier.wait()
        for b in range(10):
            index.add(rng.normal(size=(3, 8)), [f"t{t}-{b}-{j}" for j in range(3)])

    threads = [threading.Thread(target=add, args=(t,)) for t in range(6)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert time.monotonic() - start < 30
    assert len(index) == 6 * 10 * 3 == len(set(index.ids))
    assert index.vectors.shape == (180, 8)
    for doc_id, vec in zip(index.ids, index.vectors, strict=True):
        assert index.get(doc_id) == (None, {})
        assert abs(float(np.linalg.norm(vec)) - 1) < 1e-5


def test_racing_first_adds_of_different_dimensions_fail_clearly():
    """Two first adds to an index without a dimension, validated at the same moment."""
    barrier = threading.Barrier(2, timeout=10)

    class Slow:
        """An array-like whose conversion waits until both adds are converting it."""

        def __init__(self, dim: int) -> None:
            self.dim = dim

        def __array__(self, dtype=None, copy=None):
            barrier.wait()
            return np.ones((2, self.dim))

    index = SVMIndex()
    errors: list[Exception] = []

    def add(dim: int) -> None:
        try:
            index.add(Slow(dim), [f"{dim}-a", f"{dim}-b"])
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(d,)) for d in (3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == 1
    assert "index has dimension" in str(errors[0]), errors[0]
    assert index.vectors.shape == (2, index.dim) and len(index) == 2


@pytest.mark.parametrize("filtered", [False, True], ids=["unfiltered", "filtered"])
def test_llama_index_retrieve_during_insert_and_delete_nodes(filtered, tmp_path):
    """The LlamaIndex adapter keeps nodes beside the core: its retrieves must stay whole and
    correct while other threads insert and delete nodes (and persist and deep-copy the
    retriever)."""
    pytest.importorskip("llama_index.core")
    li = pytest.importorskip("svm_retrievers.llama_index")
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

    corpus = _Corpus(seed=5)

    def node(doc_id: str, batch: int) -> TextNode:
        vec = [float(x) for x in corpus.unit[doc_id]]
        meta = {"batch": batch, "kind": "doc"}
        return TextNode(id_=doc_id, text=f"text of {doc_id}", embedding=vec, metadata=meta)

    base = [node(i, -1) for i in corpus.base_ids]
    filters = MetadataFilters(filters=[MetadataFilter(key="kind", value="doc")])
    retriever = li.SVMRetriever.from_defaults(
        nodes=base,
        embed_model=MockEmbedding(embed_dim=DIM),
        similarity_top_k=BASE + BATCH * len(corpus.batches),
        filters=filters if filtered else None,
    )
    writer_lock = threading.Lock()
    rng = np.random.default_rng(1)
    checked = [0]

    def write() -> None:
        b = int(rng.integers(len(corpus.batches)))
        ids, _ = corpus.batches[b]
        with writer_lock:
            if ids[0] in retriever.index:
                retriever.delete_nodes(ids)
            else:
                retriever.insert_nodes([node(i, b) for i in ids])
        time.sleep(0.002)  # a writer in a tight loop would hold the GIL and starve readers

    def read() -> None:
        found = retriever.retrieve("anything")
        ids = [n.node.node_id for n in found]
        corpus.check_whole(ids)
        for n in found:
            assert n.node.get_content() == f"text of {n.node.node_id}"
            assert n.node.metadata["batch"] == (
                -1 if n.node.node_id.startswith("base") else int(n.node.node_id[1:].split("-")[0])
            )
        checked[0] += 1

    def listing() -> None:
        nodes = retriever.nodes
        corpus.check_whole([n.node_id for n in nodes])

    saves = [0]

    def persist() -> None:
        path = tmp_path / f"save-{saves[0] % 3}"
        saves[0] += 1
        retriever.persist(path)
        loaded = li.SVMRetriever.from_persist_dir(path, embed_model=MockEmbedding(embed_dim=DIM))
        ids = [n.node_id for n in loaded.nodes]
        corpus.check_whole(ids)
        assert ids == loaded.index.ids, "saved nodes and saved index disagree"

    copies = [0]

    def clone() -> None:
        twin = copy.deepcopy(retriever)
        copies[0] += 1
        ids = [n.node_id for n in twin.nodes]
        corpus.check_whole(ids)
        assert ids == list(twin.index.ids), "copied nodes and copied index disagree"

    errors = _run_threads(
        [write, read, read, listing, persist, clone],
        seconds=2.0,
        until=lambda: checked[0] >= 50 and saves[0] >= 3 and copies[0] >= 20,
    )
    assert not errors, errors[0]
