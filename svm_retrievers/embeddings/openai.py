"""``OpenAIEmbedder``: embeddings from OpenAI or an OpenAI-compatible server (``openai`` client).

Works with vLLM, llama.cpp's server, Ollama, LM Studio and the like: give ``base_url`` (or set
``OPENAI_BASE_URL``) and ``api_key`` (or ``OPENAI_API_KEY``; local servers accept any value).
Every response is checked (vector count, dimension, finite values) and every failure surfaces
as :class:`~svm_retrievers.embeddings.EmbeddingError` with the HTTP status when there is one.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import openai

from ._texts import check_text, check_texts
from .errors import EmbeddingError

KIND = "openai"
_STATE_VERSION = 1


class OpenAIEmbedder:
    """Embed texts with an OpenAI (or OpenAI-compatible) embeddings endpoint.

    Args:
        model: the embedding model name.
        dimensions: ask for vectors of this size (``text-embedding-3-*`` and later); ``None``
            takes the model's native size.
        batch_size: texts per request (OpenAI accepts up to 2048).
        base_url: the API root, e.g. ``"http://localhost:8000/v1"``; default ``OPENAI_BASE_URL``
            or OpenAI's.
        api_key: default ``OPENAI_API_KEY``. Never saved by :meth:`to_state`.
        timeout: seconds per request.
        max_retries: the client's retries on 429/5xx/connection errors.
        encoding_format: ``None`` lets the client ask for base64 and decode it (its default);
            ``"float"`` or ``"base64"`` ask for that format explicitly.

    Example:
        >>> emb = OpenAIEmbedder(model="text-embedding-3-small", dimensions=256)  # doctest: +SKIP
        >>> vectors = emb.embed_documents(["first text", "second text"])  # doctest: +SKIP
    """

    kind = KIND

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        dimensions: int | None = None,
        batch_size: int = 256,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        encoding_format: Literal["float", "base64"] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            msg = f"model must be a non-empty str, got {model!r}"
            raise ValueError(msg)
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            msg = f"dimensions must be a positive integer or None, got {dimensions!r}"
            raise ValueError(msg)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a positive integer, got {batch_size!r}"
            raise ValueError(msg)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            msg = f"max_retries must be an integer >= 0, got {max_retries!r}"
            raise ValueError(msg)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            msg = f"timeout must be a number of seconds, got {timeout!r}"
            raise TypeError(msg)
        if not timeout > 0:
            msg = f"timeout must be > 0 seconds, got {timeout!r}"
            raise ValueError(msg)
        if base_url is not None and not isinstance(base_url, str):
            msg = f"base_url must be a str or None, got {type(base_url).__name__}"
            raise TypeError(msg)
        if encoding_format not in (None, "float", "base64"):
            msg = f"encoding_format must be None, 'float' or 'base64', got {encoding_format!r}"
            raise ValueError(msg)
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.base_url = base_url
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.encoding_format = encoding_format
        self._api_key = api_key
        self._dim: int | None = dimensions
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, openai.AsyncOpenAI
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"OpenAIEmbedder(model={self.model!r}, dimensions={self.dimensions}{where})"

    def __getstate__(self) -> dict[str, Any]:
        """What copies and pickles keep: the settings and the known dimension, not the
        clients (a copy, e.g. in a worker process, opens its own on first use)."""
        state = self.__dict__.copy()
        for name in ("_lock", "_client", "_async_clients"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._client = None
        self._async_clients = weakref.WeakKeyDictionary()

    @property
    def dim(self) -> int | None:
        """The vector dimension: ``dimensions`` if given, else known after the first response."""
        return self._dim

    # ------------------------------------------------------------------ clients
    def _client_kwargs(self) -> dict[str, Any]:
        api_key = self._api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            msg = (
                "no API key for the OpenAI embedder: set OPENAI_API_KEY or pass api_key=... "
                "(a local OpenAI-compatible server that needs no key accepts any value)"
            )
            raise EmbeddingError(msg)
        return {
            "api_key": api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
        }

    @property
    def client(self) -> openai.OpenAI:
        """The synchronous ``openai.OpenAI`` client (made on first use)."""
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(**self._client_kwargs())
            return self._client

    @property
    def async_client(self) -> openai.AsyncOpenAI:
        """The ``openai.AsyncOpenAI`` client of the running event loop (one per loop).

        An async client's connections belong to the loop that opened them, so each loop
        (e.g. each ``asyncio.run``) gets its own client; call this inside a running loop.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async_clients.get(loop)
            if client is None:
                client = openai.AsyncOpenAI(**self._client_kwargs())
                self._async_clients[loop] = client
            return client

    def _request_kwargs(self, batch: list[str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "input": batch}
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        if self.encoding_format is not None:
            kwargs["encoding_format"] = self.encoding_format
        return kwargs

    # ------------------------------------------------------------------ embedding
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The ``(n, dim)`` float32 array of the texts' vectors, in input order."""
        docs = check_texts(texts, allow_empty=False)
        parts = []
        for start in range(0, len(docs), self.batch_size):
            batch = docs[start : start + self.batch_size]
            try:
                response = self.client.embeddings.create(**self._request_kwargs(batch))
            except openai.OpenAIError as exc:
                raise self._wrap(exc) from exc
            except (ValueError, AttributeError, TypeError) as exc:
                # The client's own "No embedding data received", or its parser failing on a
                # body that is not JSON (a web page at the base URL).
                raise self._unusable(exc) from exc
            parts.append(self._decode(response, len(batch)))
        return self._stack(parts)

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """Async :meth:`embed`, through ``openai.AsyncOpenAI``."""
        docs = check_texts(texts, allow_empty=False)
        parts = []
        for start in range(0, len(docs), self.batch_size):
            batch = docs[start : start + self.batch_size]
            try:
                response = await self.async_client.embeddings.create(**self._request_kwargs(batch))
            except openai.OpenAIError as exc:
                raise self._wrap(exc) from exc
            except (ValueError, AttributeError, TypeError) as exc:
                # The client's own "No embedding data received", or its parser failing on a
                # body that is not JSON (a web page at the base URL).
                raise self._unusable(exc) from exc
            parts.append(self._decode(response, len(batch)))
        return self._stack(parts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector (a list of Python floats) per text."""
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query (a list of Python floats)."""
        return self.embed([check_text(text, allow_empty=False)])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        return (await self.aembed(texts)).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return (await self.aembed([check_text(text, allow_empty=False)]))[0].tolist()

    # ------------------------------------------------------------------ checks
    def _where(self) -> str:
        base = self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return f"the embeddings endpoint at {base} (model {self.model!r})"

    def _unusable(self, what: object) -> EmbeddingError:
        msg = (
            f"{self._where()} returned a response that is not an embeddings list:"
            f" {str(what)[:80]!r} (is the base URL an OpenAI-compatible API root, ending in /v1?)"
        )
        return EmbeddingError(msg)

    def _wrap(self, exc: openai.OpenAIError) -> EmbeddingError:
        if isinstance(exc, EmbeddingError):
            return exc
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            hint = {
                401: "the API key was rejected; check OPENAI_API_KEY or api_key",
                403: "access denied for this key or model",
                404: "not found; check base_url and the model name",
                429: "rate limited or out of quota; retry later or lower batch_size",
            }.get(status, "server error" if status >= 500 else "request rejected")
            msg = f"{self._where()} answered HTTP {status} ({hint}): {_server_message(exc)}"
            return EmbeddingError(msg, status_code=status)
        if isinstance(exc, openai.APITimeoutError):
            msg = f"{self._where()} did not answer within {self.timeout:g} s"
            return EmbeddingError(msg)
        if isinstance(exc, openai.APIConnectionError):
            msg = f"could not connect to {self._where()}: {exc}"
            return EmbeddingError(msg)
        msg = f"embedding request to {self._where()} failed: {exc}"
        return EmbeddingError(msg)

    def _decode(self, response: Any, expected: int) -> np.ndarray:
        if isinstance(response, (str, bytes)) or not hasattr(response, "data"):
            raise self._unusable(response)
        data = list(response.data or [])
        if len(data) != expected:
            msg = f"{self._where()} returned {len(data)} vectors for {expected} input texts"
            raise EmbeddingError(msg)
        # Servers that leave out "index" answer in input order.
        order = [
            i if getattr(item, "index", None) is None else item.index for i, item in enumerate(data)
        ]
        if not all(isinstance(i, int) for i in order):
            msg = f"{self._where()} returned non-integer vector indices {order[:10]}"
            raise EmbeddingError(msg)
        if sorted(order) != list(range(expected)):
            msg = (
                f"{self._where()} returned vector indices {sorted(order)[:10]}, "
                f"expected 0..{expected - 1}"
            )
            raise EmbeddingError(msg)
        rows: list[np.ndarray | None] = [None] * expected
        for position, item in zip(order, data, strict=True):
            rows[position] = _as_vector(item.embedding)
        lengths = {row.shape[0] for row in rows if row is not None}
        if len(lengths) != 1:
            msg = f"{self._where()} returned vectors of different lengths {sorted(lengths)}"
            raise EmbeddingError(msg)
        (dim,) = lengths
        if dim == 0:
            msg = f"{self._where()} returned empty vectors"
            raise EmbeddingError(msg)
        if self.dimensions is not None and dim != self.dimensions:
            msg = (
                f"{self._where()} returned vectors of dimension {dim}, "
                f"but dimensions={self.dimensions} was asked"
            )
            raise EmbeddingError(msg)
        if self._dim is not None and dim != self._dim:
            msg = (
                f"{self._where()} returned vectors of dimension {dim}, earlier ones had {self._dim}"
            )
            raise EmbeddingError(msg)
        matrix = np.vstack(rows)  # type: ignore[arg-type]
        if not np.isfinite(matrix).all():
            bad = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
            msg = f"{self._where()} returned NaN or inf in the vector of input {bad}"
            raise EmbeddingError(msg)
        self._dim = dim
        return matrix

    def _stack(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        return np.vstack(parts).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ state
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(config, {})``: model, dimensions and base_url; never the API key."""
        config = {
            "kind": KIND,
            "version": _STATE_VERSION,
            "model": self.model,
            "dimensions": self.dimensions,
            "base_url": self.base_url,
            "dim": self._dim,
        }
        return config, {}

    @classmethod
    def from_state(
        cls, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None
    ) -> OpenAIEmbedder:
        """Rebuild from :meth:`to_state`; the API key comes from ``OPENAI_API_KEY``."""
        if config.get("kind") != KIND:
            msg = f"config kind must be {KIND!r}, got {config.get('kind')!r}"
            raise ValueError(msg)
        if config.get("version") != _STATE_VERSION:
            msg = f"OpenAI embedder state version {config.get('version')!r} is not supported"
            raise ValueError(msg)
        embedder = cls(
            model=config["model"],
            dimensions=config.get("dimensions"),
            base_url=config.get("base_url"),
        )
        dim = config.get("dim")
        if dim is not None:
            embedder._dim = int(dim)
        return embedder


def _as_vector(embedding: Any) -> np.ndarray:
    """A float64 vector from a list of floats or a base64 string of little-endian float32."""
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except ValueError as exc:
            msg = f"an embedding is a str that is not valid base64: {exc}"
            raise EmbeddingError(msg) from exc
        if len(raw) % 4:
            msg = f"a base64 embedding decodes to {len(raw)} bytes, not a whole number of float32"
            raise EmbeddingError(msg)
        return np.frombuffer(raw, dtype="<f4").astype(np.float64)
    try:
        vector = np.asarray(embedding, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"an embedding is not a list of numbers: {exc}"
        raise EmbeddingError(msg) from exc
    if vector.ndim != 1:
        msg = f"an embedding has shape {vector.shape}, expected a flat list of numbers"
        raise EmbeddingError(msg)
    return vector


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
    return str(exc.message)
