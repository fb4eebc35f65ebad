"""Fuzzing the adapters' saved settings: LangChain ``SVMRetriever.load`` and LlamaIndex
``SVMRetriever.from_persist_dir`` read their own section of the index's ``extra`` JSON. Whatever
it holds, loading gives a working retriever or a clear ``ValueError``/``TypeError``
(``IndexFormatError`` and pydantic's ``ValidationError`` are ``ValueError``\\s).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svm_retrievers.persistence import MANIFEST, _dumps, _sha256

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALLOWED = (ValueError, TypeError, FileNotFoundError)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, 1, -1, 2, 4, "svm", "knn", "hybrid", "bm25", "", "TextNode"])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(1, 3), label="n_mutations")):
        path = data.draw(st.sampled_from(_paths(doc)), label="path")
        op = data.draw(st.sampled_from(["set", "delete"]), label="op")
        if not path:
            doc = data.draw(json_values, label="root")
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if op == "set":
            parent[path[-1]] = data.draw(json_values, label="value")
        else:
            del parent[path[-1]]
    return doc


def _rewrite_extra(src: Path, key: str, data: st.DataObject) -> Path:
    """A copy of the index at ``src`` whose ``extra[key]`` is mutated, checksum re-sealed."""
    target = Path(tempfile.mkdtemp()) / "idx"
    shutil.copytree(src, target)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest.pop("manifest_sha256")
    manifest["extra"][key] = _mutate(copy.deepcopy(manifest["extra"][key]), data)
    manifest["manifest_sha256"] = _sha256(_dumps(manifest))
    (target / MANIFEST).write_bytes(_dumps(manifest))
    return target


TEXTS = [f"alpha beta {w} document {i}" for i, w in enumerate("gamma delta eps zeta eta".split())]


@pytest.fixture(scope="module")
def langchain_saved(tmp_path_factory) -> Path:
    pytest.importorskip("langchain_core")
    lc = pytest.importorskip("svm_retrievers.langchain")
    from langchain_core.embeddings import DeterministicFakeEmbedding

    retriever = lc.SVMRetriever.from_texts(TEXTS, DeterministicFakeEmbedding(size=16), k=2)
    path = tmp_path_factory.mktemp("lc") / "idx"
    retriever.save(path)
    return path


@FUZZ
@given(data=st.data())
def test_langchain_load_of_edited_settings(langchain_saved, data):
    lc = pytest.importorskip("svm_retrievers.langchain")
    from langchain_core.embeddings import DeterministicFakeEmbedding

    target = _rewrite_extra(langchain_saved, "langchain", data)
    try:
        retriever = lc.SVMRetriever.load(target, DeterministicFakeEmbedding(size=16))
    except ALLOWED as exc:
        assert str(exc)
    else:
        docs = retriever.invoke("alpha gamma")
        # a saved threshold (any value in [0, 1] is valid) may keep nothing
        least = 1 if retriever.score_threshold is None else 0
        assert least <= len(docs) <= len(TEXTS)
    finally:
        shutil.rmtree(target.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def llama_saved(tmp_path_factory) -> Path:
    pytest.importorskip("llama_index.core")
    li = pytest.importorskip("svm_retrievers.llama_index")
    from llama_index.core.schema import TextNode

    nodes = [TextNode(text=t, id_=f"n{i}", metadata={"i": i}) for i, t in enumerate(TEXTS)]
    embeddings = np.random.default_rng(0).normal(size=(len(TEXTS), 8))
    for node, vec in zip(nodes, embeddings, strict=True):
        node.embedding = [float(x) for x in vec]
    retriever = li.SVMRetriever.from_defaults(
        nodes=nodes, embed_model=_embed_model(), similarity_top_k=2
    )
    path = tmp_path_factory.mktemp("li") / "idx"
    retriever.persist(path)
    return path


def _embed_model():
    from llama_index.core.embeddings import BaseEmbedding

    class Constant(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return [1.0] * 8

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return [1.0] * 8

        def _get_text_embedding(self, text: str) -> list[float]:
            return [1.0] * 8

    return Constant()


@settings(FUZZ, report_multiple_bugs=False)
@given(data=st.data())
def test_llama_index_from_persist_dir_of_edited_settings(llama_saved, data):
    li = pytest.importorskip("svm_retrievers.llama_index")
    target = _rewrite_extra(llama_saved, "llama_index", data)
    try:
        retriever = li.SVMRetriever.from_persist_dir(target, embed_model=_embed_model())
    except ALLOWED as exc:
        assert str(exc)
    else:
        nodes = retriever.retrieve("alpha")
        assert 0 <= len(nodes) <= len(TEXTS)
    finally:
        shutil.rmtree(target.parent, ignore_errors=True)
