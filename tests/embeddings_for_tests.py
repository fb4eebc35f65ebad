"""A deterministic, offline test embedding that reflects word overlap (framework-free).

Each lowercase word is hashed (blake2b, stable across processes) into one of ``dim``
buckets; the counts are L2-normalized, so the cosine of two texts grows with the words they
share. Adapters' tests wrap :func:`bag_of_words` in their framework's embedding type.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")


def bag_of_words(text: str, dim: int = 256) -> list[float]:
    """The hashed bag-of-words vector of ``text`` (all zeros when it has no words)."""
    vec = np.zeros(dim)
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vec[int.from_bytes(digest, "little") % dim] += 1.0
    norm = np.linalg.norm(vec)
    return [float(x) for x in (vec / norm if norm else vec)]
