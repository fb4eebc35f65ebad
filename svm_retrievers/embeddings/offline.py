"""``OfflineEmbedder``: TF-IDF then truncated SVD, fitted on the corpus; no weights, no network.

This is latent semantic analysis: sublinear TF-IDF over word unigrams (and optionally bigrams),
projected onto the top singular vectors of the corpus, then L2-normalized. It needs only
scikit-learn, is deterministic (``random_state``), and saves as plain arrays plus a JSON
config (see :meth:`OfflineEmbedder.to_state`), so an index can carry it to disk without pickle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from ._texts import check_text, check_texts

KIND = "offline-tfidf-svd"
_STATE_VERSION = 1


class OfflineEmbedder:
    """Dense vectors from TF-IDF + truncated SVD (latent semantic analysis), fitted on a corpus.

    Args:
        dim: the requested dimension; the fitted dimension is capped by the number of
            documents and of vocabulary terms (see :attr:`dim`).
        max_features: keep at most this many terms (the most frequent).
        ngram_range: word n-gram range, ``(1, 1)`` for unigrams, ``(1, 2)`` adds bigrams.
        stop_words: ``"english"`` (scikit-learn's list) or ``None``.
        min_df: ignore terms in fewer documents than this.
        random_state: seed of the randomized SVD; fitting is deterministic.

    Example:
        >>> from svm_retrievers.embeddings import OfflineEmbedder
        >>> emb = OfflineEmbedder(dim=2).fit(["cats purr", "dogs bark", "cats and dogs play"])
        >>> len(emb.embed_query("cats"))
        2
    """

    kind = KIND

    def __init__(
        self,
        dim: int = 256,
        *,
        max_features: int | None = 20000,
        ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | None = "english",
        min_df: int = 1,
        random_state: int = 0,
    ) -> None:
        _check_int(dim, "dim", 1)
        if max_features is not None:
            _check_int(max_features, "max_features", 1)
        _check_int(min_df, "min_df", 1)
        _check_int(random_state, "random_state", 0)
        lo, hi = _check_ngram_range(ngram_range)
        if stop_words not in ("english", None):
            msg = f"stop_words must be 'english' or None, got {stop_words!r}"
            raise ValueError(msg)
        self.requested_dim = dim
        self.max_features = max_features
        self.ngram_range = (lo, hi)
        self.stop_words = stop_words
        self.min_df = min_df
        self.random_state = random_state
        self._vectorizer: TfidfVectorizer | None = None
        self._components: np.ndarray | None = None  # (dim, n_terms) float32
        self._idf: np.ndarray | None = None  # (n_terms,) float32

    def __repr__(self) -> str:
        state = f"dim={self.dim}" if self.is_fitted else f"dim={self.requested_dim}, unfitted"
        return f"OfflineEmbedder({state})"

    # ------------------------------------------------------------------ fitting
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_state`) has run."""
        return self._components is not None

    @property
    def dim(self) -> int | None:
        """The dimension of the vectors (``None`` before fitting)."""
        return None if self._components is None else int(self._components.shape[0])

    def fit(self, texts: Iterable[str]) -> OfflineEmbedder:
        """Learn the vocabulary, the idf weights and the SVD projection from ``texts``."""
        docs = check_texts(texts)
        if not docs:
            msg = "texts is empty: fit needs at least one document"
            raise ValueError(msg)
        vectorizer = self._make_vectorizer(vocabulary=None)
        try:
            tfidf = vectorizer.fit_transform(docs)
        except ValueError as exc:  # e.g. "empty vocabulary" (only stop words)
            msg = f"cannot fit the offline embedder on these {len(docs)} text(s): {exc}"
            raise ValueError(msg) from exc
        n_docs, n_terms = tfidf.shape
        k = min(self.requested_dim, n_docs, n_terms - 1) if n_terms > 1 else 1
        if n_terms == 1:  # a one-word vocabulary: the projection is that word's weight
            components = np.ones((1, 1))
        else:
            svd = TruncatedSVD(
                n_components=k, algorithm="randomized", random_state=self.random_state
            )
            # One BLAS thread: the matrices are small, and several threads on a busy machine
            # can be more than ten times slower than one.
            with (
                threadpool_limits(limits=1, user_api="blas"),
                np.errstate(
                    divide="ignore",
                    invalid="ignore",  # variance ratios of tiny corpora
                ),
            ):
                svd.fit(tfidf)
            components = svd.components_
        vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        self._set_state(
            vocabulary,
            np.asarray(vectorizer.idf_, dtype=np.float32),
            np.asarray(components, dtype=np.float32),
        )
        return self

    def _make_vectorizer(self, vocabulary: Sequence[str] | None) -> TfidfVectorizer:
        return TfidfVectorizer(
            lowercase=True,
            strip_accents="unicode",
            stop_words=self.stop_words,
            ngram_range=self.ngram_range,
            min_df=self.min_df if vocabulary is None else 1,
            max_features=self.max_features if vocabulary is None else None,
            sublinear_tf=True,
            dtype=np.float64,
            vocabulary=vocabulary,
        )

    def _set_state(
        self, vocabulary: Sequence[str], idf: np.ndarray, components: np.ndarray
    ) -> None:
        """Install a fitted state; fitting and loading both end here, so both embed alike."""
        vectorizer = self._make_vectorizer(vocabulary=list(vocabulary))
        vectorizer.idf_ = idf.astype(np.float64)
        self._vectorizer = vectorizer
        self._idf = idf
        self._components = components
        self._projection = components.astype(np.float64).T  # (n_terms, dim)

    # ------------------------------------------------------------------ embedding
    def embed(self, texts: Iterable[str]) -> np.ndarray:
        """The ``(n, dim)`` float32 array of L2-normalized vectors of ``texts``.

        A text that shares no term with the vocabulary embeds to the zero vector.
        """
        if self._vectorizer is None:
            msg = "OfflineEmbedder is not fitted: call fit(texts) on the corpus first"
            raise NotFittedError(msg)
        docs = check_texts(texts)
        if not docs:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        dense = np.asarray(self._vectorizer.transform(docs) @ self._projection, dtype=np.float64)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        np.divide(dense, norms, out=dense, where=norms > 0)
        return dense.astype(np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector (a list of Python floats) per text."""
        return self.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query (a list of Python floats)."""
        return self.embed([check_text(text)])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` (local CPU work, run inline)."""
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return self.embed_query(text)

    # ------------------------------------------------------------------ state
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(config, arrays)``: JSON-ready settings and vocabulary, and float32 idf and components.

        :func:`svm_retrievers.embeddings.embedder_from_state` rebuilds an embedder that
        gives identical vectors.
        """
        if self._vectorizer is None or self._idf is None or self._components is None:
            msg = "OfflineEmbedder is not fitted: there is no state to save; call fit(texts) first"
            raise NotFittedError(msg)
        vocabulary = sorted(
            self._vectorizer.vocabulary_, key=self._vectorizer.vocabulary_.__getitem__
        )
        config = {
            "kind": KIND,
            "version": _STATE_VERSION,
            "dim": self.dim,
            "requested_dim": self.requested_dim,
            "max_features": self.max_features,
            "ngram_range": list(self.ngram_range),
            "stop_words": self.stop_words,
            "min_df": self.min_df,
            "random_state": self.random_state,
            "vocabulary": vocabulary,
        }
        arrays = {"idf": self._idf.copy(), "components": self._components.copy()}
        return config, arrays

    @classmethod
    def from_state(
        cls, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> OfflineEmbedder:
        """Rebuild a fitted embedder from :meth:`to_state`'s output, checking it first."""
        if config.get("kind") != KIND:
            msg = f"config kind must be {KIND!r}, got {config.get('kind')!r}"
            raise ValueError(msg)
        if config.get("version") != _STATE_VERSION:
            msg = (
                f"offline embedder state version {config.get('version')!r} is not supported "
                f"(this version reads {_STATE_VERSION})"
            )
            raise ValueError(msg)
        missing = [name for name in ("idf", "components") if name not in arrays]
        if missing:
            msg = f"offline embedder state lacks array(s) {missing}"
            raise ValueError(msg)
        vocabulary = config.get("vocabulary")
        if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
            msg = "offline embedder config 'vocabulary' must be a list of str"
            raise ValueError(msg)
        if len(set(vocabulary)) != len(vocabulary):
            msg = "offline embedder config 'vocabulary' holds duplicate terms"
            raise ValueError(msg)
        idf = np.asarray(arrays["idf"], dtype=np.float32)
        components = np.asarray(arrays["components"], dtype=np.float32)
        n_terms = len(vocabulary)
        if idf.shape != (n_terms,):
            msg = f"offline embedder 'idf' has shape {idf.shape}, expected ({n_terms},)"
            raise ValueError(msg)
        if components.ndim != 2 or components.shape[1] != n_terms or components.shape[0] < 1:
            msg = (
                f"offline embedder 'components' has shape {components.shape}, "
                f"expected (dim, {n_terms})"
            )
            raise ValueError(msg)
        if config.get("dim") != components.shape[0]:
            msg = (
                f"offline embedder config says dim={config.get('dim')!r} but 'components' has "
                f"{components.shape[0]} rows"
            )
            raise ValueError(msg)
        if not (np.isfinite(idf).all() and np.isfinite(components).all()):
            msg = "offline embedder state holds NaN or inf"
            raise ValueError(msg)
        embedder = cls(
            dim=int(config.get("requested_dim", components.shape[0])),
            max_features=config.get("max_features"),
            ngram_range=tuple(config.get("ngram_range", (1, 1))),  # type: ignore[arg-type]
            stop_words=config.get("stop_words"),
            min_df=int(config.get("min_df", 1)),
            random_state=int(config.get("random_state", 0)),
        )
        embedder._set_state(vocabulary, idf, components)
        return embedder


def _check_int(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ValueError(msg)


def _check_ngram_range(value: Any) -> tuple[int, int]:
    try:
        lo, hi = value
    except (TypeError, ValueError):
        msg = f"ngram_range must be a pair (min_n, max_n), got {value!r}"
        raise ValueError(msg) from None
    _check_int(lo, "ngram_range[0]", 1)
    _check_int(hi, "ngram_range[1]", 1)
    if hi < lo:
        msg = f"ngram_range must have min_n <= max_n, got {value!r}"
        raise ValueError(msg)
    return int(lo), int(hi)
