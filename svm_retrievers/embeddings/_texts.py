"""Input checks shared by the embedders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_texts(
    texts: Iterable[Any], name: str = "texts", *, allow_empty: bool = True
) -> list[str]:
    """``texts`` as a list of str; a single str, a non-str item or (optionally) "" is an error."""
    if isinstance(texts, (str, bytes)):
        msg = (
            f"{name} must be a list of str, got a single {type(texts).__name__}; wrap it as [text]"
        )
        raise TypeError(msg)
    docs = list(texts)
    for i, text in enumerate(docs):
        check_text(text, f"{name}[{i}]", allow_empty=allow_empty)
    return docs


def check_text(text: Any, name: str = "text", *, allow_empty: bool = True) -> str:
    """``text`` if it is a str (non-empty unless ``allow_empty``)."""
    if not isinstance(text, str):
        msg = f"{name} must be a str, got {type(text).__name__}"
        raise TypeError(msg)
    if not allow_empty and not text:
        msg = f"{name} is empty: the OpenAI embeddings API rejects empty strings"
        raise ValueError(msg)
    return text
