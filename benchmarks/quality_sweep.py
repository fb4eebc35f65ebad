"""Closed-form alternatives to the exemplar SVM, judged on every collection and embedding.

No SVM solves, numpy only, so it runs in about a minute. For each collection under
``--data`` and each precomputed embedding, it reports the nDCG@10 delta vs kNN (and the
paired permutation p-value) of:

- ``centered``: ``(q - mu) . x`` with ``mu`` the corpus mean (the small-C limit of the
  balanced exemplar SVM);
- ``lda(c)``: exemplar LDA on the query, ``x . (Sigma + c * lambda_max I)^-1 q``, with
  ``Sigma`` the corpus covariance and ``lambda_max`` its top eigenvalue (corpus-only
  shrinkage; ``c -> inf`` is kNN); ``lda-centered(s)`` is the textbook
  ``(Sigma + s * tr(Sigma)/d I)^-1 (q - mu)``;
- ``rocchio(m, b)``: pseudo-relevance feedback, ``q + b * mean(top-m kNN documents)``.

    python benchmarks/quality_sweep.py   # writes benchmarks/results/quality_sweep.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from svm_retrievers.evaluation import (  # noqa: E402
    load_beir,
    paired_permutation_test,
    query_metrics,
)


def _ndcg(data, scores: np.ndarray) -> np.ndarray:
    out = []
    for i, qid in enumerate(data.query_ids):
        s = scores[i]
        top = np.argpartition(-s, 10)[:10]
        top = top[np.argsort(-s[top], kind="stable")]
        out.append(query_metrics([data.corpus_ids[j] for j in top], data.qrels[qid])["ndcg@10"])
    return np.array(out)


def variants(docs: np.ndarray, queries: np.ndarray) -> dict[str, np.ndarray]:
    """Score matrices (queries x docs) of every variant."""
    d = docs.shape[1]
    mu = docs.mean(axis=0)
    centered = docs - mu
    sigma = centered.T @ centered / len(docs)
    lam_max = float(np.linalg.eigvalsh(sigma)[-1])
    mean_eig = float(np.trace(sigma)) / d
    knn = queries @ docs.T
    out = {"knn": knn, "centered": (queries - mu) @ docs.T}
    for c in (0.3, 1.0, 3.0):
        w = np.linalg.solve(sigma + c * lam_max * np.eye(d), queries.T)
        out[f"lda(c={c:g})"] = (docs @ w).T
    for s in (1.0, 10.0):
        w = np.linalg.solve(sigma + s * mean_eig * np.eye(d), (queries - mu).T)
        out[f"lda-centered(s={s:g})"] = (docs @ w).T
    top = np.argsort(-knn, axis=1)[:, :3]
    for b in (0.3, 0.7):
        out[f"rocchio(m=3,b={b:g})"] = (queries + b * docs[top].mean(axis=1)) @ docs.T
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality_sweep.json"
    )
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, dict[str, float]]] = {}
    columns = []
    for coll in sorted(p for p in args.data.iterdir() if (p / "corpus.jsonl").is_file()):
        data = load_beir(coll)
        for emb in sorted((coll / "embeddings").iterdir()):
            docs = np.load(emb / "corpus.npy").astype(np.float64)
            queries = np.load(emb / "queries.npy").astype(np.float64)
            col = f"{coll.name}/{emb.name}"
            columns.append(col)
            scores = variants(docs, queries)
            base = _ndcg(data, scores.pop("knn"))
            rows.setdefault("knn", {})[col] = {"ndcg@10": float(base.mean())}
            for name, s in scores.items():
                n = _ndcg(data, s)
                rows.setdefault(name, {})[col] = {
                    "delta": float(n.mean() - base.mean()),
                    "p_value": paired_permutation_test(n, base),
                }
    print("| variant | " + " | ".join(columns) + " | mean Δ |")
    print("|---|" + "---:|" * (len(columns) + 1))
    print(
        "| knn (nDCG@10) | "
        + " | ".join(f"{rows['knn'][c]['ndcg@10'] * 100:.1f}" for c in columns)
        + " | |"
    )
    for name, per in rows.items():
        if name == "knn":
            continue
        cells = [
            f"{per[c]['delta'] * 100:+.1f}{'*' if per[c]['p_value'] < 0.05 else ''}"
            for c in columns
        ]
        mean = np.mean([per[c]["delta"] for c in columns]) * 100
        print(f"| {name} | " + " | ".join(cells) + f" | {mean:+.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
