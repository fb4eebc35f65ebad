"""Filtered and "more like these" searches: what restricting the candidates costs.

A search restricted by ``ids=``/``where=`` trains the SVM on the subset only, and stored
``positives=`` are left out of the candidates; this times such searches against the plain one
on one synthetic corpus (process CPU time, 1 BLAS thread, median over the queries, after one
untimed search has built the per-corpus cache), and the same through LlamaIndex's retriever
with and without ``MetadataFilters`` ("first ms" is the first query of each case)::

    python benchmarks/bench_filters.py                        # 100k x 1536 clustered
    python benchmarks/bench_filters.py --n 20000 --out filters.json
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
from synthetic import clustered_unit, queries_like

from svm_retrievers import SVMIndex

CLOCK = time.process_time


def cases(ids: list[str]) -> dict[str, dict[str, Any]]:
    """Search options by name: filters keeping various shares, stored examples."""
    n = len(ids)
    return {
        "none": {},
        "where dict, 1/2": {"where": {"half": 0}},
        "where callable, 1/10": {"where": lambda m: m["tenth"] == 3},
        "ids, 1%": {"ids": ids[: n // 100]},
        "ids, 30%": {"ids": ids[: 3 * n // 10]},
        "ids, 75%": {"ids": ids[: 3 * n // 4]},
        "2 stored positives": {"positives": [ids[5], ids[7]]},
        "2 stored negatives": {"negatives": [ids[5], ids[7]]},
    }


def llama_index_cases(
    index: SVMIndex, ids: list[str], metadatas: list[dict[str, Any]]
) -> dict[str, Callable[[np.ndarray], Any]]:
    """LlamaIndex's ``SVMRetriever`` over the same index (nodes without embeddings: the
    vectors stay in the index), unfiltered and with a ``MetadataFilters`` keeping half."""
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import QueryBundle, TextNode
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

    from svm_retrievers.llama_index import SVMRetriever

    nodes = [TextNode(id_=i, text="", metadata=m) for i, m in zip(ids, metadatas, strict=True)]
    half = MetadataFilters(filters=[MetadataFilter(key="half", value=0)])
    out: dict[str, Callable[[np.ndarray], Any]] = {}
    for name, filters in (("llama-index, none", None), ("llama-index, filters 1/2", half)):
        retriever = SVMRetriever(
            index,
            nodes,
            embed_model=MockEmbedding(embed_dim=index.dim),
            similarity_top_k=10,
            mode="svm",
            filters=filters,
        )
        out[name] = lambda q, r=retriever: r.retrieve(
            QueryBundle(query_str="", embedding=q.tolist())
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--queries", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    threadpool_limits(1)
    matrix = clustered_unit(args.n, args.dim)
    ids = [f"d{i}" for i in range(args.n)]
    metadatas = [{"half": i % 2, "tenth": i % 10} for i in range(args.n)]
    index = SVMIndex.from_embeddings(matrix, ids=ids, metadatas=metadatas)
    queries = queries_like(matrix, args.queries + 1, seed=3)
    index.search(queries[0], k=10, mode="svm")  # builds the per-corpus cache, untimed
    rows = []
    print(f"{args.n // 1000}k x {args.dim} clustered, {args.queries} queries, mode='svm', k=10")
    print("| candidates | median ms | x unfiltered | first ms |")
    print("|---|---|---|---|")
    runs: dict[str, Callable[[np.ndarray], Any]] = {
        name: lambda q, o=options: index.search(q, k=10, mode="svm", **o)
        for name, options in cases(ids).items()
    }
    runs.update(llama_index_cases(index, ids, metadatas))
    plain = None
    for name, run in runs.items():
        times = []
        for q in queries[1:]:
            start = CLOCK()
            run(q)
            times.append((CLOCK() - start) * 1e3)
        ms = statistics.median(times)
        plain = ms if plain is None else plain
        row = {"case": name, "median_ms": ms, "x_unfiltered": ms / plain, "first_ms": times[0]}
        rows.append(row)
        print(f"| {name} | {ms:.0f} | {ms / plain:.2f} | {times[0]:.0f} |", flush=True)
    if args.out is not None:
        out = {"environment": environment(1), "N": args.n, "D": args.dim, "rows": rows}
        args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
