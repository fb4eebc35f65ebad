"""Pseudo-relevance feedback for the exemplar SVM (research; needs weighted positives).

For every judged query: positives are the query (weight 1) and its top ``--m`` kNN documents
(sample weight ``--beta``), negatives every other document; scikit-learn's ``LinearSVC`` with
the core's recipe (squared hinge, ``class_weight="balanced"``, ``C``). Every document, the
feedback ones included, is ranked by the decision value. Reports the nDCG@10 delta vs kNN and
the paired permutation p-value of the PRF-SVM and of its z-score hybrids with kNN. The core
cannot express this yet (stored positives leave the ranking; positives carry no weight).

    python benchmarks/quality_prf.py     # ~10 min on 2 idle cores; JSON to benchmarks/results/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from svm_retrievers.evaluation import load_beir, paired_permutation_test  # noqa: E402
from svm_retrievers.scoring import zscore  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from quality_sweep import _ndcg  # noqa: E402


def prf_svm_scores(docs: np.ndarray, queries: np.ndarray, m: int, beta: float, C: float):
    """Decision values (queries x docs) of the PRF exemplar SVM."""
    knn = queries @ docs.T
    out = np.empty_like(knn)
    for i, q in enumerate(queries):
        top = np.argsort(-knn[i], kind="stable")[:m]
        rest = np.ones(len(docs), dtype=bool)
        rest[top] = False
        x = np.vstack([q[None, :], docs[top], docs[rest]])
        y = np.r_[np.ones(1 + m), np.zeros(int(rest.sum()))]
        weight = np.r_[1.0, np.full(m, beta), np.ones(int(rest.sum()))]
        clf = LinearSVC(C=C, class_weight="balanced", tol=1e-6, max_iter=10000, random_state=0)
        clf.fit(x, y, sample_weight=weight)
        out[i] = clf.decision_function(docs)
    return knn, out


def _sources(coll: Path, data, only: list[str] | None):
    """(name, docs, queries) per precomputed embedding, then the offline embedder if present."""
    for emb in sorted((coll / "embeddings").iterdir()):
        if only is None or emb.name in only:
            docs = np.load(emb / "corpus.npy").astype(np.float64)
            yield emb.name, docs, np.load(emb / "queries.npy").astype(np.float64)
    if only is not None and "offline" not in only:
        return
    try:
        from svm_retrievers.embeddings import OfflineEmbedder
    except ImportError:
        return
    embedder = OfflineEmbedder().fit(data.corpus_texts)
    docs = np.asarray(embedder.embed_documents(data.corpus_texts), dtype=np.float64)
    queries = np.asarray(embedder.embed_documents(data.query_texts), dtype=np.float64)
    keep = np.linalg.norm(docs, axis=1) > 0  # documents with no known term cannot be ranked
    if not keep.all():
        data.corpus_ids[:] = [d for d, k in zip(data.corpus_ids, keep, strict=True) if k]
        docs = docs[keep]
    yield "offline", docs, queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument("--m", type=int, default=3)
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--C", type=float, default=0.1)
    parser.add_argument(
        "--sources", nargs="*", default=None, help="only these embeddings (e.g. minilm offline)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality_prf.json"
    )
    args = parser.parse_args(argv)
    results = {}
    for coll in sorted(p for p in args.data.iterdir() if (p / "corpus.jsonl").is_file()):
        data = load_beir(coll)
        for name, docs, queries in _sources(coll, data, args.sources):
            knn, svm = prf_svm_scores(docs, queries, args.m, args.beta, args.C)
            base = _ndcg(data, knn)
            zk = np.apply_along_axis(zscore, 1, knn)
            zs = np.apply_along_axis(zscore, 1, svm)
            row = {}
            for variant, s in (
                ("prf-svm", svm),
                ("prf-hybrid(alpha=0.5)", 0.5 * zk + 0.5 * zs),
                ("prf-hybrid(alpha=0.85)", 0.85 * zk + 0.15 * zs),
            ):
                n = _ndcg(data, s)
                row[variant] = {
                    "delta": float(n.mean() - base.mean()),
                    "p_value": paired_permutation_test(n, base),
                }
            results[f"{coll.name}/{name}"] = row
            cells = ", ".join(
                f"{k} {v['delta'] * 100:+.2f} (p={v['p_value']:.3f})" for k, v in row.items()
            )
            print(f"{coll.name}/{name}: {cells}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": vars(args) | {"data": str(args.data), "out": str(args.out)},
                "results": results,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
