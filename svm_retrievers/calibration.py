"""Calibrated relevance: a score in [0, 1] that means the same for every query.

Raw cosines depend on the embedding's geometry (MiniLM's corpus cosines average ~0.3, e5's
~0.8) and min-max or z-scores are per query, so an off-topic query still gets a "1.0".
The calibrated relevance places a document's cosine between two query-specific anchors::

    relevance = clip((cos(q, x) - cos(q, mean)) / (1 - cos(q, mean)), 0, 1)

where ``cos(q, mean) = q . mean_x`` is the query's mean cosine to the whole corpus (the
background) and ``1`` is the query's cosine to itself. 0 means "no closer than a typical
document", 1 "as close as the query itself". An off-topic query is about as close to every
document, so its best document stays near 0; see ``docs/quality.md`` for the measured
separation and the recommended :data:`RELEVANCE_THRESHOLD`.

An empirical p-value of the score against the query's own background scores cannot do this:
the best of ``n`` documents is always an outlier of its own background (p ~ 1/n), on-topic
or not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RELEVANCE_THRESHOLD = 0.4
"""Recommended ``score_threshold``: on the shared collections it drops >= 95% of off-topic
queries entirely (all random-vector queries) and keeps a relevant document for 36-77% of
on-topic queries (see ``docs/quality.md``)."""

_CACHE_KEY = "calibration.corpus_mean"


def corpus_mean(matrix: np.ndarray, cache: dict[str, Any] | None = None) -> np.ndarray:
    """The mean of the stored (normalized) vectors as float64, cached per index snapshot."""
    if cache is not None and _CACHE_KEY in cache:
        return cache[_CACHE_KEY]
    mean = matrix.mean(axis=0, dtype=np.float64)
    if cache is not None:
        cache[_CACHE_KEY] = mean
    return mean


def relevance(knn: np.ndarray, query: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Calibrated relevance of candidates with cosines ``knn`` to the unit vector ``query``."""
    background = float(np.dot(query, mean))
    span = max(1.0 - background, 1e-12)
    return np.clip((np.asarray(knn, dtype=np.float64) - background) / span, 0.0, 1.0)
