"""Bridge: an svm-retrievers embedder as a LlamaIndex ``BaseEmbedding`` (``llama-index-core``)."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import PrivateAttr


class LlamaIndexEmbedding(BaseEmbedding):
    """A LlamaIndex embed model that delegates to an svm-retrievers embedder.

    Example:
        >>> from svm_retrievers.embeddings import OfflineEmbedder
        >>> from svm_retrievers.embeddings.llama_index import as_llama_index
        >>> emb = as_llama_index(OfflineEmbedder(dim=2).fit(["a cat", "a dog", "cats and dogs"]))
        >>> len(emb.get_query_embedding("cat"))
        2
    """

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Any, *, embed_batch_size: int = 64, **kwargs: Any) -> None:
        if not (hasattr(embedder, "embed_documents") and hasattr(embedder, "embed_query")):
            msg = (
                "embedder must have embed_documents and embed_query methods, "
                f"got {type(embedder).__name__}"
            )
            raise TypeError(msg)
        name = getattr(embedder, "model", None) or getattr(
            embedder, "kind", type(embedder).__name__
        )
        kwargs.setdefault("model_name", str(name))
        super().__init__(embed_batch_size=embed_batch_size, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "SVMRetrieversEmbedding"

    @property
    def embedder(self) -> Any:
        """The wrapped svm-retrievers embedder."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        return [float(x) for x in self._embedder.embed_query(query)]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [[float(x) for x in row] for row in self._embedder.embed_documents(list(texts))]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        native = getattr(self._embedder, "aembed_query", None)
        if native is not None:
            return [float(x) for x in await native(query)]
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        native = getattr(self._embedder, "aembed_documents", None)
        if native is not None:
            return [[float(x) for x in row] for row in await native(list(texts))]
        return await asyncio.to_thread(self._get_text_embeddings, texts)


def as_llama_index(embedder: Any) -> BaseEmbedding:
    """``embedder`` as a LlamaIndex ``BaseEmbedding``; a ``BaseEmbedding`` is returned as is."""
    if isinstance(embedder, BaseEmbedding):
        return embedder
    return LlamaIndexEmbedding(embedder)


__all__ = ["LlamaIndexEmbedding", "as_llama_index"]
