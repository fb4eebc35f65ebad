"""Bridge: any svm-retrievers embedder as a LangChain ``Embeddings`` (needs ``langchain-core``)."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.embeddings import Embeddings


class LangChainEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` that delegates to an svm-retrievers embedder.

    Args:
        embedder: an :class:`~svm_retrievers.embeddings.OfflineEmbedder` (fitted),
            :class:`~svm_retrievers.embeddings.OpenAIEmbedder`, or anything with
            ``embed_documents`` and ``embed_query``.

    Example:
        >>> from svm_retrievers.embeddings import OfflineEmbedder
        >>> from svm_retrievers.embeddings.langchain import as_langchain
        >>> emb = as_langchain(OfflineEmbedder(dim=2).fit(["a cat", "a dog", "cats and dogs"]))
        >>> len(emb.embed_query("cat"))
        2
    """

    def __init__(self, embedder: Any) -> None:
        if not (hasattr(embedder, "embed_documents") and hasattr(embedder, "embed_query")):
            msg = (
                "embedder must have embed_documents and embed_query methods, "
                f"got {type(embedder).__name__}"
            )
            raise TypeError(msg)
        self.embedder = embedder

    def __repr__(self) -> str:
        return f"LangChainEmbeddings({self.embedder!r})"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector (a list of Python floats) per text."""
        return [[float(x) for x in row] for row in self.embedder.embed_documents(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query."""
        return [float(x) for x in self.embedder.embed_query(text)]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` (the embedder's own async path when it has one)."""
        native = getattr(self.embedder, "aembed_documents", None)
        if native is not None:
            return [[float(x) for x in row] for row in await native(list(texts))]
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        native = getattr(self.embedder, "aembed_query", None)
        if native is not None:
            return [float(x) for x in await native(text)]
        return await asyncio.to_thread(self.embed_query, text)


def as_langchain(embedder: Any) -> Embeddings:
    """``embedder`` as a LangChain ``Embeddings``; a LangChain ``Embeddings`` is returned as is."""
    if isinstance(embedder, Embeddings):
        return embedder
    return LangChainEmbeddings(embedder)


__all__ = ["LangChainEmbeddings", "as_langchain"]
