"""Score fusion and ranking over a vector of candidate scores. Framework-free, numpy only."""

from __future__ import annotations

import numpy as np

RRF_K = 60


def zscore(scores: np.ndarray) -> np.ndarray:
    """Standardize ``scores`` (population std); a constant vector maps to zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    std = scores.std()
    if scores.size == 0 or not np.isfinite(std) or std == 0.0:
        return np.zeros_like(scores)
    return (scores - scores.mean()) / std


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks by decreasing score; ties broken by position (stable)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    out = np.empty(order.size, dtype=np.int64)
    out[order] = np.arange(1, order.size + 1)
    return out


def fuse(
    knn: np.ndarray,
    svm: np.ndarray,
    *,
    alpha: float = 0.5,
    fusion: str = "zscore",
    rrf_k: int = RRF_K,
) -> np.ndarray:
    """The hybrid score: ``alpha`` weighs the kNN side, ``1 - alpha`` the SVM side.

    ``"zscore"``: ``alpha * z(knn) + (1 - alpha) * z(svm)`` (at 0.5, the mean of the
    z-scores, the seed notebook's hybrid). ``"rrf"``: reciprocal rank fusion,
    ``2 * (alpha / (rrf_k + rank_knn) + (1 - alpha) / (rrf_k + rank_svm))`` (at 0.5, the
    plain RRF sum).
    """
    if fusion == "zscore":
        return alpha * zscore(knn) + (1.0 - alpha) * zscore(svm)
    if fusion == "rrf":
        return 2.0 * (alpha / (rrf_k + ranks(knn)) + (1.0 - alpha) / (rrf_k + ranks(svm)))
    msg = f"fusion must be 'zscore' or 'rrf', got {fusion!r}"
    raise ValueError(msg)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first; ties keep the lower position first."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1)[:k]
        # Gather every position tied with the k-th score so that ties resolve by position.
        kth = scores[part].min()
        part = np.flatnonzero(scores >= kth)
    else:
        part = np.arange(n)
    order = np.lexsort((part, -scores[part]))
    return part[order][:k]
