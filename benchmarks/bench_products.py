"""One pass over the stored matrix for several vectors: one BLAS product against blocks of rows.

``search_batch``'s kNN and check passes, the warm start's product with the cached scores, and
a search with several positives each multiply the whole matrix by a few vectors. This times
``matrix @ vectors.T`` (one product) against ``row_products`` (the same by blocks of rows,
what the package uses), on random float32 matrices, with process CPU time, 1 BLAS thread and
the median of ``--repeats`` runs, alternating the two::

    python benchmarks/bench_products.py                       # 100k x 1536 and 100k x 384
    python benchmarks/bench_products.py --sizes 10000x1536 --out products.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from bench_speed import environment, parse_sizes

from svm_retrievers._products import row_products

CLOCK = time.process_time


def one_product(matrix: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """What the package computed before: a single BLAS call, then a contiguous row per vector."""
    vectors = vectors.astype(matrix.dtype)
    if vectors.shape[0] == 1:
        return (matrix @ vectors[0]).astype(np.float64)[None, :]
    return (matrix @ vectors.T).T.astype(np.float64, order="C")


def bench(n: int, dim: int, counts: list[int], repeats: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    rows = []
    for k in counts:
        vectors = rng.standard_normal((k, dim)).astype(np.float32)
        times: dict[str, list[float]] = {"one product": [], "by blocks": []}
        for _ in range(repeats):
            for name, fn in (("one product", one_product), ("by blocks", row_products)):
                start = CLOCK()
                fn(matrix, vectors)
                times[name].append((CLOCK() - start) * 1e3)
        diff = float(np.abs(one_product(matrix, vectors) - row_products(matrix, vectors)).max())
        one, blocks = (statistics.median(times[m]) for m in ("one product", "by blocks"))
        rows.append(
            {
                "n": n,
                "dim": dim,
                "vectors": k,
                "one_product_ms": one,
                "by_blocks_ms": blocks,
                "speedup": one / blocks,
                "max_abs_diff": diff,
            }
        )
        print(
            f"| {n} | {dim} | {k} | {one:.1f} | {blocks:.1f} | {one / blocks:.2f}x | {diff:.1e} |",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000x1536,100000x384", help="comma-separated NxD")
    parser.add_argument("--vectors", default="1,2,3,4,8,16,32", help="comma-separated counts")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    threadpool_limits(1)
    env = environment(1)
    env["clock"] = "process_time"
    print(json.dumps(env, indent=1))
    print("| N | D | vectors | one product ms | by blocks ms | speedup | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    counts = [int(c) for c in args.vectors.split(",")]
    rows = []
    for n, dim in parse_sizes(args.sizes):
        rows.extend(bench(n, dim, counts, args.repeats))
    if args.out is not None:
        args.out.write_text(json.dumps({"environment": env, "rows": rows}, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
