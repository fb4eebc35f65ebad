"""Embedders: an offline TF-IDF/SVD one, an OpenAI one, and bridges to LangChain and LlamaIndex.

Every embedder has ``embed_documents(texts) -> list[list[float]]``, ``embed_query(text) ->
list[float]`` (the two methods of LangChain's ``Embeddings``) and ``to_state() -> (config,
arrays)``: a JSON-ready dict with a ``"kind"`` and a dict of numpy arrays, from which
:func:`embedder_from_state` rebuilds it. An :class:`~svm_retrievers.SVMIndex` saves its
``embedder`` this way, without pickle.

The OpenAI embedder and the framework bridges import their libraries only when used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .errors import EmbeddingError
from .offline import OfflineEmbedder

if TYPE_CHECKING:
    from .openai import OpenAIEmbedder


@runtime_checkable
class Embedder(Protocol):
    """What the index, the command line and the bridges need from an embedder."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query."""
        ...

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(config, arrays)`` that :func:`embedder_from_state` turns back into the embedder."""
        ...


KINDS = ("offline-tfidf-svd", "openai")
"""The ``"kind"`` values :func:`embedder_from_state` knows."""


def embedder_from_state(config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Embedder:
    """Rebuild an embedder from the ``(config, arrays)`` of its ``to_state()``."""
    if not isinstance(config, Mapping):
        msg = f"config must be a dict, got {type(config).__name__}"
        raise TypeError(msg)
    kind = config.get("kind")
    if kind == "offline-tfidf-svd":
        return OfflineEmbedder.from_state(config, arrays)
    if kind == "openai":
        from .openai import OpenAIEmbedder

        return OpenAIEmbedder.from_state(config, arrays)
    msg = f"unknown embedder kind {kind!r} in config; known kinds: {', '.join(KINDS)}"
    raise ValueError(msg)


def __getattr__(name: str) -> Any:
    if name == "OpenAIEmbedder":  # lazy: the openai package is an optional extra
        from .openai import OpenAIEmbedder

        return OpenAIEmbedder
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "KINDS",
    "Embedder",
    "EmbeddingError",
    "OfflineEmbedder",
    "OpenAIEmbedder",
    "embedder_from_state",
]
