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


def top_positions(values: np.ndarray, size: int) -> np.ndarray:
    """Positions of the ``size`` largest ``values`` in increasing order (all if fewer); of
    the values tied with the smallest one kept, the lowest positions.

    One ``np.partition`` for the threshold, then a comparison: ties are resolved by position
    without sorting the selection.
    """
    n = values.shape[0]
    if size >= n:
        return np.arange(n)
    if size <= 0:
        return np.zeros(0, dtype=np.intp)
    kth = np.partition(values, n - size)[n - size]
    keep = values > kth
    tied = np.flatnonzero(values == kth)
    keep[tied[: size - int(np.count_nonzero(keep))]] = True
    return np.flatnonzero(keep)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first; ties keep the lower position first."""
    scores = np.asarray(scores, dtype=np.float64)
    part = top_positions(scores, k)
    order = np.lexsort((part, -scores[part]))
    return part[order]
