"""Synthetic corpora for the benchmarks and solver tests: random and sentence-embedding-like."""

from __future__ import annotations

import numpy as np


def random_unit(n: int, dim: int, *, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    """``n`` isotropic Gaussian vectors, L2-normalized (mean pairwise cosine ~ 0)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype, copy=False)


def clustered_unit(
    n: int,
    dim: int,
    *,
    n_clusters: int = 64,
    seed: int = 0,
    dtype: type = np.float32,
) -> np.ndarray:
    """Vectors shaped like sentence embeddings, L2-normalized.

    A shared mean direction, cluster centres spread around it, and anisotropic noise with a
    decaying spectrum, so that the mean pairwise cosine is about 0.3 and documents form
    topical clusters (as MiniLM/OpenAI embeddings do).
    """
    rng = np.random.default_rng(seed)
    spectrum = (1.0 / np.sqrt(1.0 + np.arange(dim) / 8.0)).astype(np.float32)
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    mean = rng.standard_normal(dim).astype(np.float32)
    mean /= np.linalg.norm(mean)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32) * spectrum
    centres = centres @ basis.T
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    centres = 0.55 * mean + 0.6 * centres
    labels = rng.integers(0, n_clusters, size=n)
    out = np.empty((n, dim), dtype=np.float32)
    step = 8192
    for start in range(0, n, step):
        stop = min(start + step, n)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * spectrum
        noise = noise @ basis.T
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        block = centres[labels[start:stop]] + 0.75 * noise
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out.astype(dtype, copy=False)


def tight_clusters(
    n: int,
    dim: int,
    *,
    n_clusters: int = 2,
    noise: float = 0.1,
    seed: int = 0,
    dtype: type = np.float32,
) -> np.ndarray:
    """``n`` vectors in ``n_clusters`` tight isotropic clusters, L2-normalized: a hard case for
    the exact solver, where a large share of the corpus lies inside the SVM's margin."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    x = centres[rng.integers(0, n_clusters, n)] + noise * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def low_rank(
    n: int, dim: int, *, rank: int = 8, noise: float = 0.0, seed: int = 0, dtype: type = np.float32
) -> np.ndarray:
    """``n`` vectors in a random ``rank``-dimensional subspace (plus isotropic ``noise``),
    L2-normalized: with ``noise=0`` the covariance is exactly singular."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, dim))
    if noise:
        x += noise * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def queries_like(corpus: np.ndarray, n: int, *, seed: int = 1, noise: float = 0.6) -> np.ndarray:
    """``n`` float64 query vectors near random corpus documents (perturbed, normalized)."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(corpus.shape[0], size=n, replace=False)
    base = corpus[picks].astype(np.float64)
    jitter = rng.standard_normal(base.shape) / np.sqrt(base.shape[1])
    q = base + noise * jitter
    return q / np.linalg.norm(q, axis=1, keepdims=True)
