"""The exact solver on corpora harder than the speed benchmark's: exactness and speed.

The speed benchmark's clustered data is shaped like sentence embeddings; these corpora are
built to stress the solver: exact duplicate rows, an exactly low-rank corpus (singular
covariance), a noisy low-rank one, and tight clusters where a large share of the corpus lies
inside the margin. For each, in process CPU time with one BLAS thread, it prints the kNN pass,
our SVM search (``solver="newton"``, the default) and the same search refitting scikit-learn's
LinearSVC (``solver="liblinear"``), whether the top-10 agree and the largest difference of
their top-10 SVM scores, and the share of the corpus inside the margin at the optimum::

    python benchmarks/hard_corpora.py                       # 20k-30k documents, 3 queries
    python benchmarks/hard_corpora.py --scale 0.2 --out hard.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from bench_speed import environment
from synthetic import clustered_unit, low_rank, queries_like, tight_clusters

from svm_retrievers import SVMIndex

CLOCK = time.process_time

CORPORA: dict[str, Callable[[float], np.ndarray]] = {
    "duplicates (2k x 10)": lambda s: np.repeat(
        clustered_unit(int(2000 * s), 768, n_clusters=50, seed=1), 10, axis=0
    ),
    "rank 8, exact": lambda s: low_rank(int(30000 * s), 512, rank=8, seed=2),
    "rank 16 + noise": lambda s: low_rank(int(30000 * s), 512, rank=16, noise=0.01, seed=3),
    "2 tight clusters": lambda s: tight_clusters(int(20000 * s), 768, noise=0.1 / 28, seed=4),
    "4 tight clusters": lambda s: tight_clusters(
        int(20000 * s), 768, n_clusters=4, noise=0.3 / 28, seed=5
    ),
    "8 clusters, embedding-like": lambda s: clustered_unit(int(30000 * s), 1024, n_clusters=8),
}


def _median_ms(fn: Callable[[np.ndarray], Any], queries: np.ndarray) -> tuple[float, list[Any]]:
    times, outs = [], []
    for q in queries:
        start = CLOCK()
        outs.append(fn(q))
        times.append((CLOCK() - start) * 1e3)
    return statistics.median(times), outs


def bench(name: str, matrix: np.ndarray, n_queries: int) -> dict[str, Any]:
    index = SVMIndex.from_embeddings(matrix)
    queries = queries_like(matrix, n_queries + 1, seed=3)
    index.search(queries[0], k=10, mode="svm")  # builds the per-corpus cache, untimed
    queries = queries[1:]
    knn_ms, _ = _median_ms(lambda q: matrix @ q.astype(matrix.dtype), queries)
    ours_ms, ours = _median_ms(lambda q: index.search(q, k=10, mode="svm"), queries)
    ref_ms, refs = _median_ms(
        lambda q: index.search(q, k=10, mode="svm", solver="liblinear"), queries
    )
    same = sum([h.id for h in a] == [h.id for h in b] for a, b in zip(ours, refs, strict=True))
    diff = max(
        abs(x.svm_score - y.svm_score)
        for a, b in zip(ours, refs, strict=True)
        for x, y in zip(a, b, strict=True)
    )
    # The share of the corpus inside the margin at the optimum (untimed).
    inside = [float(np.mean(index.get_scores(q).svm > -1.0)) for q in queries]
    return {
        "corpus": name,
        "N": matrix.shape[0],
        "D": matrix.shape[1],
        "queries": len(queries),
        "knn_ms": knn_ms,
        "ours_ms": ours_ms,
        "liblinear_ms": ref_ms,
        "top10_same": same,
        "max_abs_diff_top10": diff,
        "inside_margin": statistics.median(inside),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every corpus size")
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    threadpool_limits(1)
    rows = []
    print(
        "| corpus | N x D | kNN ms | ours ms (x kNN) | LinearSVC ms (ours faster by) "
        "| top-10 = ref | max abs diff | inside margin |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, make in CORPORA.items():
        row = bench(name, make(args.scale), args.queries)
        rows.append(row)
        print(
            f"| {name} | {row['N'] // 1000}k x {row['D']} | {row['knn_ms']:.1f} "
            f"| {row['ours_ms']:.1f} ({row['ours_ms'] / row['knn_ms']:.1f}x) "
            f"| {row['liblinear_ms']:.0f} ({row['liblinear_ms'] / row['ours_ms']:.0f}x) "
            f"| {row['top10_same']}/{row['queries']} | {row['max_abs_diff_top10']:.1e} "
            f"| {row['inside_margin']:.0%} |",
            flush=True,
        )
    if args.out is not None:
        args.out.write_text(json.dumps({"environment": environment(1), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
