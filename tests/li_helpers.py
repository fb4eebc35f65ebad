"""Test helpers for the LlamaIndex adapters: deterministic embedding models and a corpus."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import TextNode

_WORD = re.compile(r"[a-z0-9]+")


def _bucket(word: str, dim: int) -> int:
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % dim


class HashEmbedding(BaseEmbedding):
    """Hashed bag of words, L2-normalized: texts sharing words get a high cosine.

    Deterministic across processes (blake2b, not Python's salted ``hash``). Counts every text
    it embeds in ``embedded`` (queries in ``queries``, async ones also in ``async_queries``) so tests can check nothing is embedded
    twice. Batch calls are counted in ``batches``.
    """

    dim: int = 64
    _embedded: list[str] = PrivateAttr(default_factory=list)
    _queries: list[str] = PrivateAttr(default_factory=list)
    _async_queries: list[str] = PrivateAttr(default_factory=list)
    _batches: int = PrivateAttr(default=0)

    @classmethod
    def class_name(cls) -> str:
        return "HashEmbedding"

    @property
    def embedded(self) -> list[str]:
        return self._embedded

    @property
    def queries(self) -> list[str]:
        return self._queries

    @property
    def async_queries(self) -> list[str]:
        return self._async_queries

    @property
    def batches(self) -> int:
        return self._batches

    def vector(self, text: str) -> list[float]:
        counts = Counter(_bucket(w, self.dim) for w in _WORD.findall(text.lower()))
        vec = [0.0] * self.dim
        for i, c in counts.items():
            vec[i] = float(c)
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0:
            vec[0] = 1.0
            return vec
        return [v / norm for v in vec]

    def _get_query_embedding(self, query: str) -> list[float]:
        self._queries.append(query)
        return self.vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        self._async_queries.append(query)
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        self._embedded.append(text)
        return self.vector(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._batches += 1
        return [self._get_text_embedding(t) for t in texts]


class BadEmbedding(HashEmbedding):
    """Returns broken document embeddings: ``fault`` is "nan", "dim", "ragged" or "count"."""

    fault: str = "nan"

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        good = [self.vector(t) for t in texts]
        if self.fault == "nan":
            good[-1][0] = float("nan")
        elif self.fault == "ragged":
            good[-1] = good[-1][:-1]
        elif self.fault == "count":
            good = good[:-1]
        return good

    def _get_query_embedding(self, query: str) -> list[float]:
        vec = self.vector(query)
        return vec[:-1] if self.fault == "dim" else vec


CORPUS = [
    ("apple", "Apples are a crisp sweet fruit that grows on apple trees in orchards.", "fruit"),
    ("banana", "Bananas are a long yellow tropical fruit rich in potassium.", "fruit"),
    ("cherry", "Cherries are small red stone fruit often used in pies.", "fruit"),
    ("python", "Python is a programming language loved for readable code.", "code"),
    ("rust", "Rust is a systems programming language focused on memory safety.", "code"),
    ("sql", "SQL is a query language for relational databases and tables.", "code"),
    ("ocean", "The ocean covers most of the planet and holds salty water.", "nature"),
    ("forest", "A forest is a large area covered with trees and wildlife.", "nature"),
    ("desert", "A desert is a dry region with little rain and sparse plants.", "nature"),
    ("violin", "The violin is a string instrument played with a bow.", "music"),
]


def corpus_nodes() -> list[TextNode]:
    """Ten small nodes in four topics, ids = names, metadata ``topic`` and ``rank``."""
    return [
        TextNode(id_=name, text=text, metadata={"topic": topic, "rank": i})
        for i, (name, text, topic) in enumerate(CORPUS)
    ]
