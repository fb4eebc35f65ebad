"""Retrieval-quality evaluation on BEIR-layout collections. Framework-free, numpy only.

A collection is a directory with ``corpus.jsonl`` (``_id``, ``title``, ``text``),
``queries.jsonl`` (``_id``, ``text``) and ``qrels/test.tsv`` (``query-id``, ``corpus-id``,
``score``; header line first). :func:`evaluate` ranks every judged query with an
:class:`~svm_retrievers.SVMIndex` in each mode and reports nDCG@10 (graded gains as given),
Recall@100 and MRR@10 (gain >= 1 is relevant), each with a paired sign-flip permutation
test against kNN over queries.

Example:
    >>> from svm_retrievers.evaluation import evaluate, format_table
    >>> data = "../shared/data/cranfield"
    >>> result = evaluate(data, embeddings=f"{data}/embeddings/minilm")  # doctest: +SKIP
    >>> print(format_table(result))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .index import SVMIndex
from .scoring import fuse, top_k

METRICS = ("ndcg@10", "recall@100", "mrr@10")
"""The metrics :func:`evaluate` reports, in table order."""

_DEPTH = 100  # the deepest cut-off any metric needs


@dataclass(frozen=True)
class BeirData:
    """A loaded BEIR collection: ids and texts in file order, and graded judgments."""

    corpus_ids: list[str]
    corpus_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    """``qrels[query_id][doc_id] = gain`` (only the judged pairs; gain 0 = judged not relevant)."""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{path}:{n}: not a JSON object ({exc.msg})"
                raise ValueError(msg) from None
            if not isinstance(row, dict) or "_id" not in row:
                msg = f"{path}:{n}: each line must be a JSON object with an '_id'"
                raise ValueError(msg)
            rows.append(row)
    return rows


def load_beir(dataset_dir: str | Path) -> BeirData:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv`` from ``dataset_dir``.

    Document text is ``title + " " + text`` (just ``text`` when the title is empty). Queries
    without any relevant document (gain >= 1) are dropped, so every metric is defined.
    """
    root = Path(dataset_dir)
    paths = {name: root / name for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        msg = f"dataset_dir {str(root)!r} is not a BEIR collection: missing {missing}"
        raise FileNotFoundError(msg)
    corpus = _read_jsonl(paths["corpus.jsonl"])
    corpus_ids = [str(d["_id"]) for d in corpus]
    if len(set(corpus_ids)) != len(corpus_ids):
        msg = f"{paths['corpus.jsonl']}: duplicate document ids"
        raise ValueError(msg)
    corpus_texts = [
        " ".join(t for t in (str(d.get("title") or ""), str(d.get("text") or "")) if t)
        for d in corpus
    ]
    qrels: dict[str, dict[str, int]] = {}
    with paths["qrels/test.tsv"].open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if n == 1 and not parts[-1].lstrip("-").isdigit():
                continue  # the header line
            if len(parts) < 3:
                if line.strip():
                    msg = f"{paths['qrels/test.tsv']}:{n}: expected query-id, corpus-id, score"
                    raise ValueError(msg)
                continue
            qid, did, gain = parts[0], parts[1], parts[2]
            try:
                qrels.setdefault(qid, {})[did] = int(float(gain))
            except ValueError:
                msg = f"{paths['qrels/test.tsv']}:{n}: score {gain!r} is not a number"
                raise ValueError(msg) from None
    queries = _read_jsonl(paths["queries.jsonl"])
    query_ids = [str(q["_id"]) for q in queries]
    repeated = sorted(q for q, n in Counter(query_ids).items() if n > 1)
    if repeated:
        msg = f"{paths['queries.jsonl']}: duplicate query ids {repeated[:5]!r}"
        raise ValueError(msg)
    query_texts = [str(q.get("text") or "") for q in queries]
    return BeirData(
        corpus_ids=corpus_ids,
        corpus_texts=corpus_texts,
        query_ids=query_ids,
        query_texts=query_texts,
        qrels=qrels,
    )


# ---------------------------------------------------------------------- metrics
def ndcg_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k with linear gains as given: ``sum gain_i / log2(i + 1)`` over the ideal's."""
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = sum(float(gains.get(doc, 0)) * discounts[i] for i, doc in enumerate(ranked[:k]))
    idcg = float(np.dot(ideal, discounts[: len(ideal)]))
    return max(dcg, 0.0) / idcg


def recall_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int = 100) -> float:
    """The share of relevant documents (gain >= 1) within the top ``k``."""
    relevant = {d for d, g in gains.items() if g >= 1}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document (gain >= 1) within the top ``k``, else 0."""
    for i, doc in enumerate(ranked[:k], start=1):
        if gains.get(doc, 0) >= 1:
            return 1.0 / i
    return 0.0


def query_metrics(ranked: Sequence[str], gains: Mapping[str, float]) -> dict[str, float]:
    """Every metric in :data:`METRICS` for one ranked list."""
    return {
        "ndcg@10": ndcg_at_k(ranked, gains, 10),
        "recall@100": recall_at_k(ranked, gains, 100),
        "mrr@10": mrr_at_k(ranked, gains, 10),
    }


def paired_permutation_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of a paired sign-flip permutation test of ``mean(a - b) == 0``.

    Each resample flips the sign of every per-query difference at random; the p-value is
    ``(1 + #{|mean(flipped)| >= |mean(observed)|}) / (1 + n_resamples)``. Identical inputs
    give 1.0.
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.ndim != 1 or diff.size == 0:
        msg = f"a and b must be equal-length non-empty 1-D sequences, got shapes {diff.shape}"
        raise ValueError(msg)
    observed = abs(diff.mean())
    if observed == 0.0:
        return 1.0
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, min(n_resamples, 4_000_000 // diff.size))
    done = 0
    while done < n_resamples:
        m = min(chunk, n_resamples - done)
        signs = rng.integers(0, 2, size=(m, diff.size), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ diff) / diff.size
        hits += int(np.count_nonzero(means >= observed * (1 - 1e-12)))
        done += m
    return (1 + hits) / (1 + n_resamples)


# ---------------------------------------------------------------------- embeddings
def _load_embeddings(
    directory: str | Path, n_docs: int, n_queries: int
) -> tuple[np.ndarray, np.ndarray]:
    root = Path(directory)
    out = []
    for name, rows in (("corpus.npy", n_docs), ("queries.npy", n_queries)):
        path = root / name
        if not path.is_file():
            msg = f"embeddings dir {str(root)!r} has no {name}"
            raise FileNotFoundError(msg)
        arr = np.load(path, allow_pickle=False)
        if arr.ndim != 2 or arr.shape[0] != rows:
            msg = f"{path} has shape {arr.shape}, expected ({rows}, dim) rows in jsonl order"
            raise ValueError(msg)
        if arr.dtype.kind not in "fiu":
            msg = f"{path} holds {arr.dtype} values, expected numbers"
            raise ValueError(msg)
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if len(bad):
            msg = f"{path} holds NaN or inf in {len(bad)} row(s), the first at row {bad[0]}"
            raise ValueError(msg)
        out.append(arr)
    if out[0].shape[1] != out[1].shape[1]:
        msg = f"corpus.npy dim {out[0].shape[1]} != queries.npy dim {out[1].shape[1]}"
        raise ValueError(msg)
    return out[0], out[1]


def _embed(embedder: Any, docs: list[str], queries: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Embed with a duck-typed embedder: ``fit`` (optional), ``embed_documents/query``."""
    if not (hasattr(embedder, "embed_documents") and hasattr(embedder, "embed_query")):
        msg = (
            "embedder must have embed_documents(texts) and embed_query(text) "
            f"(and optionally fit(texts)), got {type(embedder).__name__}"
        )
        raise TypeError(msg)
    if hasattr(embedder, "fit") and not getattr(embedder, "is_fitted", False):
        fitted = embedder.fit(docs)
        embedder = fitted if fitted is not None else embedder
    doc_vecs = np.asarray(embedder.embed_documents(docs), dtype=np.float64)
    if hasattr(embedder, "embed_queries"):
        query_vecs = np.asarray(embedder.embed_queries(queries), dtype=np.float64)
    else:
        query_vecs = np.asarray([embedder.embed_query(q) for q in queries], dtype=np.float64)
    return doc_vecs, query_vecs


# ---------------------------------------------------------------------- evaluate
def evaluate(
    dataset_dir: str | Path,
    *,
    embeddings: str | Path | None = None,
    modes: Iterable[str] = ("knn", "svm", "hybrid"),
    params: Mapping[str, Any] | None = None,
    embedder: Any = None,
    hybrid_alphas: Sequence[float] = (),
    n_jobs: int = 1,
    n_resamples: int = 10_000,
    seed: int = 0,
    per_query: bool = False,
) -> dict[str, Any]:
    """Rank every judged query of a BEIR collection in each mode and score the rankings.

    Args:
        dataset_dir: the collection (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``).
        embeddings: a directory with ``corpus.npy`` and ``queries.npy`` (rows in jsonl
            order). If ``None``, ``embedder`` embeds the texts.
        modes: the modes to report (``"knn"`` is always computed: it is the baseline).
        params: :class:`~svm_retrievers.ScoringParams` overrides (``C``, ``alpha``, ...).
        embedder: an object with ``embed_documents``/``embed_query`` (``fit`` is called
            first when present and the embedder is not fitted).
        hybrid_alphas: extra hybrids reported as modes ``"hybrid(alpha=A)"``, fused from
            the same kNN and SVM scores (no extra SVM solves).
        n_jobs: threads scoring queries in parallel.
        n_resamples, seed: the paired permutation test against kNN.
        per_query: also return each query's metrics per mode.

    Returns:
        A JSON-ready dict: ``dataset``, ``n_docs``, ``n_queries``, ``params``, and ``modes``
        mapping each mode to its mean metrics, ``delta`` (mode minus kNN) and ``p_value``
        (vs kNN) per metric.
    """
    modes = list(dict.fromkeys(modes))
    if not modes:
        msg = "modes must name at least one mode"
        raise ValueError(msg)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        msg = f"n_jobs must be a positive integer, got {n_jobs!r}"
        raise ValueError(msg)
    data = load_beir(dataset_dir)
    keep = [
        i
        for i, q in enumerate(data.query_ids)
        if any(g >= 1 for g in data.qrels.get(q, {}).values())
    ]
    if embeddings is not None:
        doc_vecs, query_vecs = _load_embeddings(
            embeddings, len(data.corpus_ids), len(data.query_ids)
        )
        source = str(embeddings)
    elif embedder is not None:
        doc_vecs, query_vecs = _embed(embedder, data.corpus_texts, data.query_texts)
        source = type(embedder).__name__
    else:
        msg = "give embeddings (a dir with corpus.npy and queries.npy) or an embedder"
        raise ValueError(msg)
    if not keep:
        msg = f"no query in {str(dataset_dir)!r} has a relevant document (gain >= 1)"
        raise ValueError(msg)

    # An embedder may map a text to the zero vector (e.g. no known term): such a document
    # cannot be ranked by any mode, and such a query scores 0 on every metric.
    embedded = np.linalg.norm(doc_vecs, axis=1) > 0
    if not embedded.any():
        msg = "every document embeds to the zero vector"
        raise ValueError(msg)
    doc_ids = [d for d, ok in zip(data.corpus_ids, embedded, strict=True) if ok]
    index = SVMIndex.from_embeddings(doc_vecs[embedded], ids=doc_ids, **dict(params or {}))
    all_modes = list(dict.fromkeys(["knn", *modes]))
    for mode in all_modes:
        _check_mode_available(mode)
    alphas = {f"hybrid(alpha={float(a):g})": float(a) for a in hybrid_alphas}
    for a in alphas.values():
        if not 0.0 <= a <= 1.0:
            msg = f"hybrid_alphas must be in [0, 1], got {a}"
            raise ValueError(msg)
    modes = [*modes, *alphas]

    def run(i: int) -> dict[str, dict[str, float]]:
        if not np.any(query_vecs[i]):
            zero = dict.fromkeys(METRICS, 0.0)
            return {mode: zero for mode in [*all_modes, *alphas]}
        scores = index.get_scores(query_vecs[i])
        gains = data.qrels[data.query_ids[i]]
        out = {}
        for mode in all_modes:
            order = top_k(scores.by_mode(mode), _DEPTH)
            out[mode] = query_metrics([scores.ids[j] for j in order], gains)
        for name, a in alphas.items():
            fused = fuse(scores.knn, scores.svm, alpha=a, fusion=index.params.fusion)
            order = top_k(fused, _DEPTH)
            out[name] = query_metrics([scores.ids[j] for j in order], gains)
        return out

    if n_jobs == 1:
        rows = [run(i) for i in keep]
    else:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            rows = list(pool.map(run, keep))

    table: dict[str, dict[str, np.ndarray]] = {
        mode: {m: np.array([r[mode][m] for r in rows]) for m in METRICS}
        for mode in [*all_modes, *alphas]
    }
    report: dict[str, Any] = {}
    for mode in modes:
        entry: dict[str, Any] = {m: float(table[mode][m].mean()) for m in METRICS}
        entry["delta"] = {m: float(table[mode][m].mean() - table["knn"][m].mean()) for m in METRICS}
        entry["p_value"] = {
            m: paired_permutation_test(
                table[mode][m], table["knn"][m], n_resamples=n_resamples, seed=seed
            )
            for m in METRICS
        }
        if per_query:
            entry["per_query"] = {m: table[mode][m].tolist() for m in METRICS}
        report[mode] = entry
    return {
        "dataset": Path(dataset_dir).name,
        "embeddings": source,
        "n_docs": len(data.corpus_ids),
        "n_docs_zero_vector": int((~embedded).sum()),
        "n_queries_zero_vector": int(sum(not np.any(query_vecs[i]) for i in keep)),
        "n_queries": len(keep),
        "dim": int(doc_vecs.shape[1]),
        "params": index.params.to_dict(),
        "n_resamples": n_resamples,
        "seed": seed,
        "modes": report,
    }


def _check_mode_available(mode: str) -> None:
    from .index import Scores

    empty = np.zeros(0)
    probe = Scores(ids=[], knn=empty, svm=empty, hybrid=empty, positive_svm=empty)
    try:
        probe.by_mode(mode)
    except (KeyError, ValueError):
        msg = f"unknown mode {mode!r}"
        raise ValueError(msg) from None


# ---------------------------------------------------------------------- table
def format_table(result: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of one :func:`evaluate` result or a list of them.

    Columns: dataset, embedding, mode, nDCG@10, R@100, MRR@10, the nDCG@10 delta vs kNN and
    its p-value (``*`` marks p < 0.05).
    """
    results = [result] if isinstance(result, Mapping) else list(result)
    lines = [
        "| dataset | embedding | mode | nDCG@10 | R@100 | MRR@10 | ΔnDCG@10 vs kNN | p |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        emb = Path(str(res.get("embeddings", ""))).name or "-"
        for mode, entry in res["modes"].items():
            if mode == "knn":
                delta, p = "—", "—"
            else:
                d = entry["delta"]["ndcg@10"]
                pv = entry["p_value"]["ndcg@10"]
                delta = f"{d * 100:+.1f}"
                p = f"{pv:.3f}{'*' if pv < 0.05 else ''}"
            lines.append(
                f"| {res['dataset']} | {emb} | {mode} | {entry['ndcg@10'] * 100:.1f} | "
                f"{entry['recall@100'] * 100:.1f} | {entry['mrr@10'] * 100:.1f} | {delta} | {p} |"
            )
    return "\n".join(lines)
