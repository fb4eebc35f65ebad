"""Exact exemplar SVM over a Milvus Lite collection vs the in-memory exact SVM.

Loads N clustered synthetic float32 vectors (seeded) into an embedded Milvus Lite database,
then for each query times Milvus's own kNN search (top-10) and the exact SVM search through
:class:`~svm_retrievers.sources.milvus.MilvusSVMSearcher`, and compares the SVM top-10 with
the in-memory exact SVM over the same vectors (the full problem solved on all N rows in
memory by the finite Newton solver, and, for ``--liblinear`` queries, scikit-learn's
LinearSVC through ``SVMIndex(solver="liblinear")``). Prints a table and writes JSON to
``benchmarks/results/``.

    python benchmarks/bench_milvus.py --n 1000000 --queries 20
    python benchmarks/bench_milvus.py --n 100000 --queries 50 --uri http://host:19530
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from svm_retrievers import SVMIndex
from svm_retrievers.solvers.weighted import solve_weighted
from svm_retrievers.sources import class_weights
from svm_retrievers.sources.milvus import MilvusSVMSearcher


def clustered(n: int, d: int, seed: int, n_clusters: int = 1000) -> np.ndarray:
    """Unit vectors around ``n_clusters`` centres, cosine ~0.5-0.8 within a cluster."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_clusters, d)).astype(np.float32)
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        labels = rng.integers(0, n_clusters, stop - start)
        block = centers[labels] + 0.8 * rng.normal(size=(stop - start, d)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--m", type=int, default=1000, help="first candidate count")
    ap.add_argument("--liblinear", type=int, default=3, help="queries also checked with LinearSVC")
    ap.add_argument("--uri", default=None, help="Milvus URI (default: a Lite file in /tmp)")
    ap.add_argument("--token", default="")
    ap.add_argument("--reuse", action="store_true", help="reuse a loaded collection")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--query-seed", type=int, default=None, help="default: seed + 1")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--batch-size", type=int, default=0, help="also time search_batch in chunks of this size"
    )
    ap.add_argument("--skip-single", action="store_true", help="time search_batch only")
    args = ap.parse_args()
    threadpool_limits(1)
    name = f"bench_{args.n}_{args.dim}_{args.seed}"
    uri = args.uri or f"/tmp/svm_bench_milvus_{args.n}_{args.dim}.db"

    t0 = time.perf_counter()
    vectors = clustered(args.n, args.dim, args.seed)
    ids = [str(i) for i in range(args.n)]
    print(f"generated {args.n} x {args.dim} in {time.perf_counter() - t0:.1f}s", flush=True)

    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, token=args.token)
    if not args.reuse and client.has_collection(name):
        client.drop_collection(name)
    searcher = MilvusSVMSearcher(client=client, collection_name=name, dim=args.dim, m=args.m)
    source = searcher.source
    load_s = None
    if not (args.reuse and source.size() == args.n):
        t0 = time.perf_counter()
        step = 50_000
        for start in range(0, args.n, step):
            stop = min(args.n, start + step)
            source.add(vectors[start:stop], ids[start:stop], metadatas=None)
            print(f"  loaded {stop}", flush=True)
        source.client.flush(name)
        load_s = time.perf_counter() - t0
        print(f"loaded into Milvus in {load_s:.0f}s", flush=True)
    assert source.size() == args.n

    rng = np.random.default_rng(args.seed + 1 if args.query_seed is None else args.query_seed)
    picks = rng.integers(0, args.n, args.queries)
    queries = vectors[picks] + 0.05 * rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    c_pos, c_neg = class_weights(args.n)
    searcher.search(queries[0], k=args.k)  # warm-up (loads the collection)

    references: dict[int, tuple[list[str], np.ndarray, float]] = {}

    def reference(qi: int) -> tuple[list[str], np.ndarray, float]:
        """The in-memory exact SVM's top ids, all its scores, and its time (cached)."""
        if qi not in references:
            t0 = time.perf_counter()
            full = solve_weighted(
                queries[qi][None], vectors, c_pos=c_pos, c_neg=c_neg, C=0.1, tol=1e-8
            )
            ref_s = time.perf_counter() - t0
            top = [ids[j] for j in np.argsort(-full.neg_scores, kind="stable")[: args.k]]
            references[qi] = (top, full.neg_scores, ref_s)
        return references[qi]

    rows = []
    for qi, q in enumerate([] if args.skip_single else queries):
        t0 = time.perf_counter()
        knn_raw = source.client.search(name, data=[q], limit=args.k)[0]
        knn_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        hits = searcher.search(q, k=args.k, mode="svm")
        svm_s = time.perf_counter() - t0
        last = searcher.last
        ref_top, ref_scores, ref_s = reference(qi)
        got = [h.id for h in hits]
        row = {
            "query": qi,
            "identical_top10": got == ref_top,
            "overlap": len(set(got) & set(ref_top)) / args.k,
            "max_abs_svm_diff": max(abs(h.svm_score - ref_scores[int(h.id)]) for h in hits),
            "milvus_knn_top1": str(knn_raw[0]["id"]),
            "milvus_knn_s": knn_s,
            "svm_s": svm_s,
            "in_memory_newton_s": ref_s,
            "m_history": last.m_history,
            "rounds": last.rounds,
            "certified": last.exact,
            "n_active": int((ref_scores > -1).sum()),
        }
        if qi < args.liblinear and args.n <= 200_000:
            index = SVMIndex.from_embeddings(vectors, ids, solver="liblinear", tol=1e-6)
            t0 = time.perf_counter()
            lib = index.search(q, k=args.k, mode="svm")
            row["liblinear_s"] = time.perf_counter() - t0
            row["identical_to_liblinear"] = [h.id for h in lib] == got
            del index
        rows.append(row)
        print(
            f"q{qi:3d} same={row['identical_top10']!s:5} knn={knn_s * 1e3:7.0f}ms "
            f"svm={svm_s * 1e3:7.0f}ms ratio={svm_s / knn_s:5.1f} M={last.m_history} "
            f"rounds={last.rounds} certified={last.exact} active={row['n_active']}",
            flush=True,
        )

    batch_rows: list[dict[str, Any]] = []
    knn_times: list[float] = []
    for start in range(0, len(queries) if args.batch_size else 0, max(1, args.batch_size)):
        chunk = queries[start : start + args.batch_size]
        t0 = time.perf_counter()
        source.client.search(name, data=list(chunk), limit=args.k)
        knn_times.append((time.perf_counter() - t0) / len(chunk))
        t0 = time.perf_counter()
        results = searcher.search_batch(chunk, k=args.k, mode="svm")
        per_query = (time.perf_counter() - t0) / len(chunk)
        for j, (hits, solved) in enumerate(zip(results, searcher.last_batch, strict=True)):
            ref_top, ref_scores, _ = reference(start + j)
            got = [h.id for h in hits]
            batch_rows.append(
                {
                    "query": start + j,
                    "identical_top10": got == ref_top,
                    "max_abs_svm_diff": max(abs(h.svm_score - ref_scores[int(h.id)]) for h in hits),
                    "batch_s_per_query": per_query,
                    "m_history": solved.m_history,
                    "certified": solved.exact,
                }
            )
        print(
            f"batch {start:4d}-{start + len(chunk) - 1}: {per_query * 1e3:7.0f} ms/query "
            f"(Milvus kNN batched {knn_times[-1] * 1e3:.0f} ms/query), identical "
            f"{sum(r['identical_top10'] for r in batch_rows[-len(chunk) :])}/{len(chunk)}",
            flush=True,
        )

    med = statistics.median
    summary: dict[str, Any] = {"n": args.n, "dim": args.dim, "load_s": load_s}
    if batch_rows:
        summary["batch"] = {
            "batch_size": args.batch_size,
            "queries": len(batch_rows),
            "identical_top10": f"{sum(r['identical_top10'] for r in batch_rows)}/{len(batch_rows)}",
            "certified": f"{sum(r['certified'] for r in batch_rows)}/{len(batch_rows)}",
            "max_abs_svm_diff": max(r["max_abs_svm_diff"] for r in batch_rows),
            "median_svm_ms_per_query": med(r["batch_s_per_query"] for r in batch_rows) * 1e3,
            "median_milvus_knn_batched_ms_per_query": med(knn_times) * 1e3,
        }
    if not rows:
        _write(args, summary, rows, batch_rows)
        return
    summary |= {
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "identical_top10_fraction": sum(r["identical_top10"] for r in rows) / len(rows),
        "mean_overlap": statistics.mean(r["overlap"] for r in rows),
        "certified_fraction": sum(r["certified"] for r in rows) / len(rows),
        "median_milvus_knn_ms": med(r["milvus_knn_s"] for r in rows) * 1e3,
        "median_svm_ms": med(r["svm_s"] for r in rows) * 1e3,
        "median_ratio_svm_to_knn": med(r["svm_s"] / r["milvus_knn_s"] for r in rows),
        "median_in_memory_newton_ms": med(r["in_memory_newton_s"] for r in rows) * 1e3,
        "median_final_m": med(r["m_history"][-1] for r in rows),
        "max_final_m": max(r["m_history"][-1] for r in rows),
        "median_rounds": med(r["rounds"] for r in rows),
        "median_n_active": med(r["n_active"] for r in rows),
    }
    lib_rows = [r for r in rows if "identical_to_liblinear" in r]
    if lib_rows:
        same = sum(r["identical_to_liblinear"] for r in lib_rows)
        summary["identical_to_liblinear"] = f"{same}/{len(lib_rows)}"
    _write(args, summary, rows, batch_rows)


def _write(args: argparse.Namespace, summary: dict[str, Any], rows: list, batch_rows: list) -> None:
    print("\n| metric | value |\n|---|---|")
    for key, value in summary.items():
        print(f"| {key} | {value:.3g} |" if isinstance(value, float) else f"| {key} | {value} |")
    import pymilvus

    out = {
        "summary": summary,
        "rows": rows,
        "batch_rows": batch_rows,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "load_average_at_end": __import__("os").getloadavg(),
            "blas": threadpool_info(),
            "pymilvus": pymilvus.__version__,
            "milvus_lite": __import__("importlib.metadata").metadata.version("milvus-lite"),
            "uri": "milvus-lite file" if args.uri is None else "server",
        },
        "command": " ".join(sys.argv),
    }
    path = Path(args.out or Path(__file__).parent / "results" / f"milvus_{args.n}x{args.dim}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
