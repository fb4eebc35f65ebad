"""The exception embedders raise when a provider fails or returns something unusable."""

from __future__ import annotations


class EmbeddingError(RuntimeError):
    """An embedding request failed or returned unusable vectors.

    ``status_code`` is the HTTP status when the server answered with an error (401, 429,
    500, ...), else ``None``. The provider's own exception is kept as ``__cause__``.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
